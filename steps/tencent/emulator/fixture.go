package emulator

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Fixture is the enterprise an emulator serves: its admins and its meetings with their recordings and
// attendance. It is what LoadFixture reads (JSON, times in RFC 3339) and what tests build in code.
type Fixture struct {
	// Admins may list the whole enterprise (/v1/corp/records) and read any meeting.
	Admins []string `json:"admins"`
	// Users are further registered userids; hosts and participants with a userid are registered anyway.
	Users    []string  `json:"users,omitempty"`
	Meetings []Meeting `json:"meetings"`
}

// Meeting is one meeting with its recordings and who attended.
type Meeting struct {
	MeetingID   string `json:"meeting_id"`
	MeetingCode string `json:"meeting_code"`
	Subject     string `json:"subject"`
	// Host is the host's userid: the participant to give user_role 2 or 3.
	Host string `json:"host"`
	// Creator is who scheduled the meeting (an assistant may schedule for a teacher); empty: Host.
	// Record listings name the creator (tencent-meeting-api.md correction 3), and /v1/records lists a
	// meeting for its creator only (1095/51189).
	Creator string `json:"creator,omitempty"`
	// Recurring meetings (meeting_type 1) answer participants only per sub-meeting.
	Recurring    bool         `json:"recurring,omitempty"`
	Start        time.Time    `json:"start"` // scheduled
	End          time.Time    `json:"end"`
	SubMeetings  []SubMeeting `json:"sub_meetings,omitempty"`
	Participants []Person     `json:"participants"`
	Records      []Record     `json:"records"`
}

// SubMeeting is one occurrence of a recurring meeting.
type SubMeeting struct {
	ID    string    `json:"sub_meeting_id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Person is one attendee. Each session becomes one participants row, so several sessions make a rejoin.
type Person struct {
	UserID     string    `json:"userid,omitempty"` // empty for people outside the enterprise
	UUID       string    `json:"uuid"`
	Name       string    `json:"name"` // plain text; sent base64-encoded
	Role       int       `json:"role"` // user_role
	InstanceID int       `json:"instanceid,omitempty"`
	Sessions   []Session `json:"sessions"`
}

// Session is one join..left span.
type Session struct {
	Join time.Time `json:"join"`
	Left time.Time `json:"left"`
	// SubMeetingID says which occurrence of a recurring meeting the session belongs to.
	SubMeetingID string `json:"sub_meeting_id,omitempty"`
}

// Record is one recording of a meeting.
type Record struct {
	ID    string    `json:"meeting_record_id"`
	Start time.Time `json:"start"` // media_start_time
	// State is 1 recording, 2 transcoding, 3 done; files are listed only when 3.
	State      int    `json:"state"`
	RecordType int    `json:"record_type,omitempty"` // 0 cloud, 2 uploaded
	Files      []File `json:"files"`
}

// File is one recording file and the media served behind its download address.
type File struct {
	ID    string    `json:"record_file_id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Path is the media file served (relative paths are relative to the fixture file). Without it the
	// emulator serves Size bytes of deterministic filler.
	Path string `json:"path,omitempty"`
	Size int64  `json:"size,omitempty"`
	// AudioPath is the file's audio-only rendition (m4a), served as /v1/addresses' audio_address
	// (tencent-meeting-api.md correction 6). Without it no audio_address is answered.
	AudioPath string `json:"audio_path,omitempty"`
	audioSize int64
}

// LoadFixture reads a JSON fixture and resolves its media paths against the fixture's directory.
func LoadFixture(path string) (*Fixture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("emulator fixture: %w", err)
	}
	var f Fixture
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("emulator fixture %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range f.Meetings {
		for j := range f.Meetings[i].Records {
			for k := range f.Meetings[i].Records[j].Files {
				file := &f.Meetings[i].Records[j].Files[k]
				if file.Path != "" && !filepath.IsAbs(file.Path) {
					file.Path = filepath.Join(dir, file.Path)
				}
				if file.AudioPath != "" && !filepath.IsAbs(file.AudioPath) {
					file.AudioPath = filepath.Join(dir, file.AudioPath)
				}
			}
		}
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("emulator fixture %s: %w", path, err)
	}
	return &f, nil
}

// check validates ids, states and media, and fills file sizes from disk.
func (f *Fixture) check() error {
	meetings, records, files := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range f.Meetings {
		m := &f.Meetings[i]
		if err := m.check(meetings, records, files); err != nil {
			return err
		}
	}
	return nil
}

func (m *Meeting) check(meetings, records, files map[string]bool) error {
	if m.MeetingID == "" {
		return fmt.Errorf("a meeting has no meeting_id")
	}
	if meetings[m.MeetingID] {
		return fmt.Errorf("meeting %s listed twice", m.MeetingID)
	}
	meetings[m.MeetingID] = true
	subs := map[string]bool{}
	for _, s := range m.SubMeetings {
		subs[s.ID] = true
	}
	if m.Recurring && len(m.SubMeetings) == 0 {
		return fmt.Errorf("meeting %s is recurring but has no sub_meetings", m.MeetingID)
	}
	for _, p := range m.Participants {
		for _, s := range p.Sessions {
			if m.Recurring && !subs[s.SubMeetingID] {
				return fmt.Errorf("meeting %s: a session of %s%s names unknown sub_meeting_id %q", m.MeetingID, p.UserID, p.UUID, s.SubMeetingID)
			}
		}
	}
	for j := range m.Records {
		r := &m.Records[j]
		if r.ID == "" {
			return fmt.Errorf("meeting %s: a record has no meeting_record_id", m.MeetingID)
		}
		if records[r.ID] {
			return fmt.Errorf("record %s listed twice", r.ID)
		}
		records[r.ID] = true
		if r.State < 1 || r.State > 3 {
			return fmt.Errorf("record %s: state %d is not 1, 2 or 3", r.ID, r.State)
		}
		for k := range r.Files {
			file := &r.Files[k]
			if file.ID == "" {
				return fmt.Errorf("record %s: a file has no record_file_id", r.ID)
			}
			if files[file.ID] {
				return fmt.Errorf("record file %s listed twice", file.ID)
			}
			files[file.ID] = true
			if file.Path != "" {
				st, err := os.Stat(file.Path)
				if err != nil {
					return fmt.Errorf("record file %s: %w", file.ID, err)
				}
				file.Size = st.Size()
			}
			if file.AudioPath != "" {
				st, err := os.Stat(file.AudioPath)
				if err != nil {
					return fmt.Errorf("record file %s audio: %w", file.ID, err)
				}
				file.audioSize = st.Size()
			}
		}
	}
	return nil
}

// creator is the meeting's creator: Creator, else Host.
func (m *Meeting) creator() string {
	if m.Creator != "" {
		return m.Creator
	}
	return m.Host
}
