package tencent

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// MaxWindow is the longest span a records or participants query may cover.
const MaxWindow = 31 * 24 * time.Hour

// MaxPageSize is the largest page the records listings return.
const MaxPageSize = 20

// RecordsQuery selects one page of recordings.
type RecordsQuery struct {
	Operator   string    // operator_id (a userid; operator_id_type 1)
	Start, End time.Time // at most MaxWindow apart; sent as Unix seconds
	Page       int       // from 1
	PageSize   int       // at most MaxPageSize
	// RecordType is query_record_type: 0 all, 1 cloud recordings, 2 uploaded. It is always sent.
	RecordType int
	// MeetingID narrows /v1/records to one meeting (not supported by /v1/corp/records).
	MeetingID string
}

func (q RecordsQuery) values() (url.Values, error) {
	if q.Operator == "" {
		return nil, fmt.Errorf("no operator_id")
	}
	if q.End.Before(q.Start) || q.End.Sub(q.Start) > MaxWindow {
		return nil, fmt.Errorf("window %s..%s is not within 31 days", q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339))
	}
	v := url.Values{}
	v.Set("operator_id", q.Operator)
	v.Set("operator_id_type", "1")
	v.Set("start_time", strconv.FormatInt(q.Start.Unix(), 10))
	v.Set("end_time", strconv.FormatInt(q.End.Unix(), 10))
	v.Set("page", strconv.Itoa(max(q.Page, 1)))
	size := q.PageSize
	if size <= 0 || size > MaxPageSize {
		size = MaxPageSize
	}
	v.Set("page_size", strconv.Itoa(size))
	v.Set("query_record_type", strconv.Itoa(q.RecordType))
	if q.MeetingID != "" {
		v.Set("meeting_id", q.MeetingID)
	}
	return v, nil
}

// Records lists one page of the recordings the operator may see (GET /v1/records).
func (c *Client) Records(ctx context.Context, q RecordsQuery) (*RecordsPage, error) {
	return c.records(ctx, "/v1/records", q)
}

// CorpRecords lists one page of the enterprise's recordings (GET /v1/corp/records; the operator must be
// an admin; limited to 10 calls a minute).
func (c *Client) CorpRecords(ctx context.Context, q RecordsQuery) (*RecordsPage, error) {
	q.MeetingID = ""
	return c.records(ctx, "/v1/corp/records", q)
}

func (c *Client) records(ctx context.Context, path string, q RecordsQuery) (*RecordsPage, error) {
	v, err := q.values()
	if err != nil {
		return nil, permanent(fmt.Errorf("tencent %s: %w", path, err))
	}
	var page *RecordsPage
	err = c.Get(ctx, path, v, func(b []byte) (err error) {
		if !isListing(b) { // `{}` from a proxy is no empty night (check.go)
			return fmt.Errorf("not a listing answer (no total_count or record_meetings): %s", snippet(b))
		}
		page, err = decodeRecords(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list records %s..%s page %d: %w", q.Start.UTC().Format(time.RFC3339),
			q.End.UTC().Format(time.RFC3339), max(q.Page, 1), err)
	}
	return page, nil
}

// addressesPageSize is what /v1/addresses pages are asked for (50 is its reported maximum).
const addressesPageSize = 50

// Addresses returns the download addresses of every file of a recording (GET /v1/addresses), following
// its pages. The addresses are signed URLs valid for 6 hours.
func (c *Client) Addresses(ctx context.Context, meetingRecordID, operator string) ([]FileAddress, error) {
	var out []FileAddress
	for page := 1; ; page++ {
		v := url.Values{}
		v.Set("meeting_record_id", meetingRecordID)
		if operator != "" {
			v.Set("operator_id", operator)
			v.Set("operator_id_type", "1")
		}
		v.Set("page", strconv.Itoa(page))
		v.Set("page_size", strconv.Itoa(addressesPageSize))
		var p *AddressesPage
		err := c.Get(ctx, "/v1/addresses", v, func(b []byte) (err error) {
			p, err = decodeAddresses(b)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("addresses of recording %s: %w", meetingRecordID, err)
		}
		out = append(out, p.Files...)
		if page >= p.TotalPage || len(p.Files) == 0 || page >= maxAddressPages {
			return out, nil
		}
	}
}

const maxAddressPages = 100

// ParticipantsQuery selects a meeting's attendance rows.
type ParticipantsQuery struct {
	MeetingID    string
	SubMeetingID string // required for recurring meetings
	Operator     string
	// Since and Until filter on join time (at most MaxWindow apart). Without them the service returns
	// only recent joins, so a listing of older meetings must set them. Ignored for recurring meetings.
	Since, Until time.Time
}

// participantsPageSize is the documented maximum of size.
const participantsPageSize = 100

// maxParticipantRows is the documented cap on what the service returns for one meeting.
const maxParticipantRows = 50000

// Participants returns every attendance row of a meeting (GET /v1/meetings/{id}/participants), following
// pos/next_pos. A person who rejoined appears once per session; see MergeAttendance.
func (c *Client) Participants(ctx context.Context, q ParticipantsQuery) ([]Attendance, error) {
	if q.MeetingID == "" {
		return nil, permanentf("participants: no meeting id")
	}
	path := "/v1/meetings/" + url.PathEscape(q.MeetingID) + "/participants"
	var rows []Attendance
	var pos int64
	seen := map[Attendance]bool{}
	for {
		v := url.Values{}
		if q.Operator != "" {
			v.Set("operator_id", q.Operator)
			v.Set("operator_id_type", "1")
		}
		if q.SubMeetingID != "" {
			v.Set("sub_meeting_id", q.SubMeetingID)
		} else if !q.Since.IsZero() && !q.Until.IsZero() {
			v.Set("start_time", strconv.FormatInt(q.Since.Unix(), 10))
			v.Set("end_time", strconv.FormatInt(q.Until.Unix(), 10))
		}
		v.Set("pos", strconv.FormatInt(pos, 10))
		v.Set("size", strconv.Itoa(participantsPageSize))
		var p *ParticipantsPage
		err := c.Get(ctx, path, v, func(b []byte) (err error) {
			p, err = decodeParticipants(b)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("participants of meeting %s: %w", q.MeetingID, err)
		}
		fresh := 0
		for _, a := range p.Rows {
			if !seen[a] {
				seen[a] = true
				fresh++
			}
		}
		rows = append(rows, p.Rows...)
		if p.HasRemaining && len(p.Rows) > 0 && fresh == 0 {
			// The same rows again: a cursor that does not move. What follows is unknown, so the
			// participants are not complete; never store a recording with students missing.
			return nil, transient(fmt.Errorf("participants of meeting %s: the page at pos %d repeats rows already read (next_pos %d)",
				q.MeetingID, pos, p.NextPos))
		}
		if !p.HasRemaining || len(rows) >= maxParticipantRows {
			return rows, nil
		}
		// The cursor is bounded by the rows seen: pos never moves back nor past what has been read, and a
		// page that brings no row ends the listing as an error (a hostile or broken cursor would otherwise
		// cost a request per position).
		next := p.NextPos
		if len(p.Rows) == 0 {
			return nil, transient(fmt.Errorf("participants of meeting %s: has_remaining with an empty page at pos %d", q.MeetingID, pos))
		}
		if next <= pos || next > pos+int64(len(p.Rows)) {
			next = pos + int64(len(p.Rows))
		}
		pos = next
	}
}

// Meeting returns a meeting's details (GET /v1/meetings/{id}?instanceid=1): whether it is recurring, and
// its sub-meetings. It returns nil and no error when the service no longer answers for the meeting: an
// ended one-off meeting, or a recurring one 30 days after its end, comes back as an empty
// meeting_info_list or as 9003 (1095/42418, tencent-meeting-api.md correction 1).
func (c *Client) Meeting(ctx context.Context, meetingID, operator string) (*MeetingInfo, error) {
	v := url.Values{}
	v.Set("instanceid", "1")
	if operator != "" {
		v.Set("operator_id", operator)
		v.Set("operator_id_type", "1")
	}
	var m *MeetingInfo
	err := c.Get(ctx, "/v1/meetings/"+url.PathEscape(meetingID), v, func(b []byte) (err error) {
		m, err = decodeMeeting(b)
		return err
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.HasCode(CodeMeetingNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("meeting %s: %w", meetingID, err)
	}
	return m, nil
}

// EndedMeeting is one ended meeting, or one ended occurrence of a recurring meeting, as the ended-meeting
// listings give it: what /v1/meetings/{id} no longer answers once a meeting is over (1095/42418).
type EndedMeeting struct {
	MeetingID    string
	MeetingCode  string
	Subject      string
	Creator      string // userid on /v1/corp/meetings: the creator, not the host
	MeetingType  int    // 0 one-off, 1 recurring, 6 webinar, …
	SubMeetingID string // recurring only
	// Start and End are the media room's (corp: ms on the wire; history: seconds).
	Start, End time.Time
}

// EndedMeetingsPage is one page of an ended-meeting listing.
type EndedMeetingsPage struct {
	TotalCount, TotalPage, CurrentPage int
	Meetings                           []EndedMeeting
}

// EndedMeetingsQuery selects one page of ended meetings.
type EndedMeetingsQuery struct {
	Operator   string // the admin (corp) or the user whose meetings are listed (history)
	Start, End time.Time
	Page       int
}

// endedPageSize is the largest page of both ended-meeting listings (1095/53805: 最大20条).
const endedPageSize = 20

// MaxHistorySpan is the longest span /v1/history/meetings accepts (1095/53805: 小于等于90天).
const MaxHistorySpan = 90 * 24 * time.Hour

// CorpMeetings lists one page of the enterprise's ended meetings (GET /v1/corp/meetings?meeting_state=1,
// 1095/52492; the operator must be an admin; 100 calls/min). start_time/end_time are sent in seconds
// like every other listing's; the answer's times are milliseconds (tencent-meeting-api.md, correction 1).
func (c *Client) CorpMeetings(ctx context.Context, q EndedMeetingsQuery) (*EndedMeetingsPage, error) {
	p, err := c.endedMeetings(ctx, "/v1/corp/meetings", q, msTime, "meeting_state", "1")
	if err != nil {
		return nil, fmt.Errorf("ended meetings %s..%s page %d: %w", q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339), max(q.Page, 1), err)
	}
	return p, nil
}

// HistoryMeetings lists one page of the ended meetings a user created or attended (GET
// /v1/history/meetings/{userid}, 1095/53805 and the Go SDK's V1HistoryMeetingsUseridGet; times in
// seconds; span at most 90 days).
func (c *Client) HistoryMeetings(ctx context.Context, q EndedMeetingsQuery) (*EndedMeetingsPage, error) {
	if q.End.Sub(q.Start) > MaxHistorySpan {
		q.Start = q.End.Add(-MaxHistorySpan)
	}
	p, err := c.endedMeetings(ctx, "/v1/history/meetings/"+url.PathEscape(q.Operator), q, secTime)
	if err != nil {
		return nil, fmt.Errorf("ended meetings of %s %s..%s page %d: %w",
			q.Operator, q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339), max(q.Page, 1), err)
	}
	return p, nil
}

// endedMeetings asks one page of an ended-meeting listing at path, whose answer's times are in the unit
// that at reads; extra are further query key/value pairs.
func (c *Client) endedMeetings(ctx context.Context, path string, q EndedMeetingsQuery, at func(flexInt) time.Time,
	extra ...string) (*EndedMeetingsPage, error) {
	v := url.Values{}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	v.Set("operator_id", q.Operator)
	v.Set("operator_id_type", "1")
	v.Set("start_time", strconv.FormatInt(q.Start.Unix(), 10))
	v.Set("end_time", strconv.FormatInt(q.End.Unix(), 10))
	v.Set("page", strconv.Itoa(max(q.Page, 1)))
	v.Set("page_size", strconv.Itoa(endedPageSize))
	var p *EndedMeetingsPage
	err := c.Get(ctx, path, v, func(b []byte) (err error) {
		p, err = decodeEndedMeetings(b, at)
		return err
	})
	return p, err
}
