package tencent

import (
	"encoding/base64"

	"meetpipe/steps/roster"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Record is one entry of record_meetings: one recording of one meeting. Files are present only when
// State is StateDone.
type Record struct {
	MeetingRecordID string
	MeetingID       string
	MeetingCode     string
	Subject         string
	// HostUserID is host_user_id: the meeting's host (GO records/model.go, PY records/model.py: 主持人用户
	// ID; tencent-meeting-api.md correction 8). /v1/corp/records does not send it.
	HostUserID string
	// CreatorUserID is userid on /v1/corp/records: who created the meeting (1095/53224, correction 3).
	// /v1/records does not name the creator: it lists only the operator's own meetings (1095/51189).
	CreatorUserID string
	MediaStart    time.Time
	State         int
	RecordType    int
	// SubMeetingID and MeetingType are not documented on record listings; they are kept when a server
	// sends them. MeetingType is -1 when absent.
	SubMeetingID string
	MeetingType  int
	Files        []RecordFile
}

// Recording states.
const (
	StateRecording   = 1
	StateTranscoding = 2
	StateDone        = 3
)

// RecordFile is one file of a recording, in the order the service lists them.
type RecordFile struct {
	ID         string
	Start, End time.Time
	Size       int64
	// DownloadAddress is set only by /v1/corp/records (valid 6 h); /v1/addresses is the primary source.
	DownloadAddress string
}

// RecordsPage is one page of a records listing.
type RecordsPage struct {
	TotalCount, TotalPage, CurrentPage, CurrentSize int
	Records                                         []Record
}

// FileAddress is one file's addresses from /v1/addresses. DownloadAddress is a signed URL valid for 6
// hours: a credential, never to be logged whole.
type FileAddress struct {
	FileID          string
	DownloadAddress string
	FileType        string
	AudioAddress    string
	ViewAddress     string
}

// AddressesPage is one page of /v1/addresses.
type AddressesPage struct {
	TotalCount, TotalPage, CurrentPage int
	Files                              []FileAddress
}

// Attendance is one row of a participants listing: one join session of one person. A person who
// rejoined has several rows.
// The JSON names are those of the participants cache (cache.go).
type Attendance struct {
	UserID     string    `json:"userid,omitempty"` // enterprise userid; empty for people outside the enterprise
	UUID       string    `json:"uuid,omitempty"`   // per-meeting identity
	MsOpenID   string    `json:"ms_open_id,omitempty"`
	Name       string    `json:"name,omitempty"` // user_name, base64-decoded
	Role       int       `json:"role"`           // user_role: 0 member, 1 creator, 2 host, 3 creator+host, 4 guest, 5 guest+host, 6 co-host, 7 creator+co-host
	InstanceID int       `json:"instance_id,omitempty"`
	Join       time.Time `json:"join"`
	Left       time.Time `json:"left"`
}

// ParticipantsPage is one page of a participants listing.
type ParticipantsPage struct {
	TotalCount   int
	HasRemaining bool
	NextPos      int64
	Rows         []Attendance
}

// MeetingInfo is the part of /v1/meetings/{id} the listing needs: whether the meeting is recurring and
// its sub-meetings. The JSON names are those of the meeting cache (cache.go).
type MeetingInfo struct {
	MeetingID           string       `json:"meeting_id"`
	MeetingCode         string       `json:"meeting_code,omitempty"`
	Subject             string       `json:"subject,omitempty"`
	MeetingType         int          `json:"meeting_type"` // 1 = recurring
	Start               time.Time    `json:"start"`
	End                 time.Time    `json:"end"`
	Hosts               []string     `json:"hosts,omitempty"`
	CurrentSubMeetingID string       `json:"current_sub_meeting_id,omitempty"`
	SubMeetings         []SubMeeting `json:"sub_meetings,omitempty"`
}

// SubMeeting is one occurrence of a recurring meeting.
type SubMeeting struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// File is an item's files[] element.
type File struct {
	FileID string    `json:"file_id" expr:"file_id"`
	Start  time.Time `json:"start" expr:"start"`
	End    time.Time `json:"end" expr:"end"`
	Size   int64     `json:"size" expr:"size"`
	// No address here: download addresses are the lazy field download_urls, fetched only for a recording
	// about to be downloaded.
}

// Participant is an item's participants[] element: one person, with their join sessions merged.
type Participant struct {
	UserID  string    `json:"userid" expr:"userid"`
	UUID    string    `json:"uuid" expr:"uuid"`
	Name    string    `json:"name" expr:"name"`
	Role    int       `json:"role" expr:"role"`
	Join    time.Time `json:"join" expr:"join"`
	Left    time.Time `json:"left" expr:"left"`
	Seconds int64     `json:"seconds" expr:"seconds"` // attended seconds summed over sessions
}

// StudentID is the id a participant is known by in student_ids: the enterprise userid when there is one,
// else, for a guest, "name:" + the normalised display name (roster.GuestID): a guest's uuid is valid for
// one meeting only (tencent-meeting-api.md correction 2), so it would make a returning student new in
// every session. A guest with no name falls back to "ext:" + uuid.
func (p Participant) StudentID() string {
	switch {
	case p.UserID != "":
		return p.UserID
	}
	if id := roster.GuestID(p.Name); id != "" {
		return id
	}
	return "ext:" + p.UUID
}

// Recording is the document tencent_list emits for one recording; its JSON names are the item's fields.
type Recording struct {
	ID          string `json:"id" expr:"id"` // meeting_record_id, also the item id
	MeetingID   string `json:"meeting_id" expr:"meeting_id"`
	MeetingCode string `json:"meeting_code" expr:"meeting_code"`
	Subject     string `json:"subject" expr:"subject"`
	// HostUserID is the host: host_user_id of /v1/records, else the participant whose user_role is 3, 2
	// or 5 (with a userid), else "" (never the creator). CreatorUserID is who created the meeting: the
	// operator of a /v1/records listing, the userid of a /v1/corp/records one (e.g. an assistant).
	HostUserID    string        `json:"host_userid" expr:"host_userid"`
	CreatorUserID string        `json:"creator_userid" expr:"creator_userid"`
	Start         time.Time     `json:"start" expr:"start"`
	End           time.Time     `json:"end" expr:"end"`
	DurationMin   int           `json:"duration_min" expr:"duration_min"`
	State         int           `json:"state" expr:"state"`
	Files         []File        `json:"files" expr:"files"`
	Participants  []Participant `json:"participants" expr:"participants"`
	TeacherID     string        `json:"teacher_id" expr:"teacher_id"`
	StudentIDs    []string      `json:"student_ids" expr:"student_ids"`
	// NeedsReview and ReviewReason flag a recording whose teacher is not known for sure: nothing says
	// who hosted and its creator is not a whitelisted teacher.
	NeedsReview  bool   `json:"needs_review" expr:"needs_review"`
	ReviewReason string `json:"review_reason" expr:"review_reason"`
}

// decodeName decodes a base64 user_name. Text that is not base64 of printable UTF-8 is kept as sent.
func decodeName(s string) string {
	t := strings.TrimSpace(s)
	if t == "" {
		return ""
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(t)
		if err != nil || len(b) == 0 || !utf8.Valid(b) {
			continue
		}
		if strings.IndexFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) && !unicode.IsSpace(r) }) >= 0 {
			continue
		}
		return string(b)
	}
	return s
}
