package tencent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The wire types below accept what the service and its proxies have been seen to send: numbers as JSON
// numbers or as strings, ids as strings or as bare (possibly 19-digit) numbers, null anywhere. They are
// converted to the exported plain types right after decoding.

// flexInt is an integer sent as a number, a numeric string, "" or null.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
		if len(b) == 0 {
			*n = 0
			return nil
		}
	}
	if b[0] == 't' || b[0] == 'f' { // a bool where a 0/1 was expected
		if string(b) == "true" {
			*n = 1
		} else if string(b) == "false" {
			*n = 0
		} else {
			return fmt.Errorf("not a number: %.20q", b)
		}
		return nil
	}
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*n = flexInt(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return fmt.Errorf("not a number: %.20q", b)
	}
	*n = flexInt(f)
	return nil
}

// flexString is a string sent as a string, a bare number (kept digit for digit), a bool, or null.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var num json.Number
		if err := json.Unmarshal(b, &num); err != nil {
			return err
		}
		*s = flexString(num.String())
	case string(b) == "true" || string(b) == "false":
		*s = flexString(b)
	default:
		return fmt.Errorf("not a string: %.20q", b)
	}
	return nil
}

// flexBool is a bool sent as true/false, 0/1 or their string forms.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(string(s))) {
	case "true", "1":
		*v = true
	case "", "false", "0":
		*v = false
	default:
		return fmt.Errorf("not a bool: %.20q", b)
	}
	return nil
}

// flexList is an array that may also arrive as null or "" (empty).
type flexList[T any] []T

func (l *flexList[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" || string(b) == `""` {
		*l = nil
		return nil
	}
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = v
	return nil
}

// msTime converts Unix milliseconds to a UTC time; 0 stays the zero time.
func msTime(ms flexInt) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms)).UTC()
}

// secTime converts Unix seconds to a UTC time; 0 stays the zero time. Some proxies send milliseconds
// where seconds are documented; a value too large to be seconds before year 5000 is taken as ms.
func secTime(s flexInt) time.Time {
	switch {
	case s == 0:
		return time.Time{}
	case s > 95_000_000_000 || s < -95_000_000_000:
		return msTime(s)
	}
	return time.Unix(int64(s), 0).UTC()
}

type wireErrorInfo struct {
	ErrorCode    flexInt    `json:"error_code"`
	NewErrorCode flexInt    `json:"new_error_code"`
	Message      flexString `json:"message"`
}

type wireError struct {
	ErrorInfo *wireErrorInfo `json:"error_info"`
}

type wireRecordFile struct {
	RecordFileID    flexString `json:"record_file_id"`
	RecordStartTime flexInt    `json:"record_start_time"`
	RecordEndTime   flexInt    `json:"record_end_time"`
	RecordSize      flexInt    `json:"record_size"`
	SharingState    flexInt    `json:"sharing_state"`
	ViewAddress     flexString `json:"view_address"`
	DownloadAddress flexString `json:"download_address"`
}

type wireRecordMeeting struct {
	MeetingRecordID flexString `json:"meeting_record_id"`
	MeetingID       flexString `json:"meeting_id"`
	MeetingCode     flexString `json:"meeting_code"`
	// host_user_id is the HOST on /v1/records (GO records/model.go, PY records/model.py: 主持人用户 ID);
	// userid on /v1/corp/records is the CREATOR (1095/53224; tencent-meeting-api.md corrections 3 and 8).
	HostUserID     flexString               `json:"host_user_id"`
	UserID         flexString               `json:"userid"`
	MediaStartTime flexInt                  `json:"media_start_time"`
	Subject        flexString               `json:"subject"`
	State          flexInt                  `json:"state"`
	RecordType     flexInt                  `json:"record_type"`
	SubMeetingID   flexString               `json:"sub_meeting_id"`
	MeetingType    *flexInt                 `json:"meeting_type"`
	RecordFiles    flexList[wireRecordFile] `json:"record_files"`
}

type wireRecords struct {
	TotalCount     flexInt                     `json:"total_count"`
	CurrentSize    flexInt                     `json:"current_size"`
	CurrentPage    flexInt                     `json:"current_page"`
	TotalPage      flexInt                     `json:"total_page"`
	RecordMeetings flexList[wireRecordMeeting] `json:"record_meetings"`
}

type wireAddressFile struct {
	RecordFileID            flexString `json:"record_file_id"`
	ViewAddress             flexString `json:"view_address"`
	DownloadAddress         flexString `json:"download_address"`
	DownloadAddressFileType flexString `json:"download_address_file_type"`
	AudioAddress            flexString `json:"audio_address"`
	AudioAddressFileType    flexString `json:"audio_address_file_type"`
}

type wireAddresses struct {
	MeetingRecordID flexString                `json:"meeting_record_id"`
	MeetingID       flexString                `json:"meeting_id"`
	TotalCount      flexInt                   `json:"total_count"`
	TotalPage       flexInt                   `json:"total_page"`
	CurrentPage     flexInt                   `json:"current_page"`
	RecordFiles     flexList[wireAddressFile] `json:"record_files"`
}

type wireParticipant struct {
	UserID     flexString `json:"userid"`
	UUID       flexString `json:"uuid"`
	MsOpenID   flexString `json:"ms_open_id"`
	OpenID     flexString `json:"open_id"`
	UserName   flexString `json:"user_name"`
	JoinTime   flexInt    `json:"join_time"`
	LeftTime   flexInt    `json:"left_time"`
	InstanceID flexInt    `json:"instanceid"`
	UserRole   flexInt    `json:"user_role"`
}

type wireParticipants struct {
	MeetingID    flexString                `json:"meeting_id"`
	TotalCount   flexInt                   `json:"total_count"`
	HasRemaining flexBool                  `json:"has_remaining"`
	NextPos      flexInt                   `json:"next_pos"`
	Participants flexList[wireParticipant] `json:"participants"`
}

type wireUser struct {
	UserID flexString `json:"userid"`
}

type wireSubMeeting struct {
	SubMeetingID flexString `json:"sub_meeting_id"`
	Status       flexInt    `json:"status"`
	StartTime    flexInt    `json:"start_time"`
	EndTime      flexInt    `json:"end_time"`
}

type wireMeetingInfo struct {
	MeetingID           flexString               `json:"meeting_id"`
	MeetingCode         flexString               `json:"meeting_code"`
	Subject             flexString               `json:"subject"`
	MeetingType         flexInt                  `json:"meeting_type"`
	StartTime           flexInt                  `json:"start_time"`
	EndTime             flexInt                  `json:"end_time"`
	Hosts               flexList[wireUser]       `json:"hosts"`
	CurrentSubMeetingID flexString               `json:"current_sub_meeting_id"`
	SubMeetings         flexList[wireSubMeeting] `json:"sub_meetings"`
}

type wireMeetings struct {
	MeetingNumber   flexInt                   `json:"meeting_number"`
	MeetingInfoList flexList[wireMeetingInfo] `json:"meeting_info_list"`
}

// decodeRecords decodes a /v1/records or /v1/corp/records page.
func decodeRecords(b []byte) (*RecordsPage, error) {
	var w wireRecords
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode records: %w", err)
	}
	p := &RecordsPage{
		TotalCount: int(w.TotalCount), TotalPage: int(w.TotalPage),
		CurrentPage: int(w.CurrentPage), CurrentSize: int(w.CurrentSize),
		Records: make([]Record, 0, len(w.RecordMeetings)),
	}
	for _, m := range w.RecordMeetings {
		r := Record{
			MeetingRecordID: string(m.MeetingRecordID),
			MeetingID:       string(m.MeetingID),
			MeetingCode:     string(m.MeetingCode),
			Subject:         string(m.Subject),
			HostUserID:      string(m.HostUserID),
			CreatorUserID:   string(m.UserID),
			MediaStart:      msTime(m.MediaStartTime),
			State:           int(m.State),
			RecordType:      int(m.RecordType),
			SubMeetingID:    string(m.SubMeetingID),
			MeetingType:     -1,
		}
		if m.MeetingType != nil {
			r.MeetingType = int(*m.MeetingType)
		}
		for _, f := range m.RecordFiles {
			r.Files = append(r.Files, RecordFile{
				ID:              string(f.RecordFileID),
				Start:           msTime(f.RecordStartTime),
				End:             msTime(f.RecordEndTime),
				Size:            int64(f.RecordSize),
				DownloadAddress: string(f.DownloadAddress),
			})
		}
		p.Records = append(p.Records, r)
	}
	return p, nil
}

// decodeAddresses decodes a /v1/addresses page.
func decodeAddresses(b []byte) (*AddressesPage, error) {
	var w wireAddresses
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode addresses: %w", err)
	}
	p := &AddressesPage{TotalPage: int(w.TotalPage), CurrentPage: int(w.CurrentPage), TotalCount: int(w.TotalCount)}
	for _, f := range w.RecordFiles {
		p.Files = append(p.Files, FileAddress{
			FileID:          string(f.RecordFileID),
			DownloadAddress: string(f.DownloadAddress),
			FileType:        string(f.DownloadAddressFileType),
			AudioAddress:    string(f.AudioAddress),
			ViewAddress:     string(f.ViewAddress),
		})
	}
	return p, nil
}

// decodeParticipants decodes a /v1/meetings/{id}/participants page. user_name is base64 on the wire; a
// value that does not decode is kept as sent rather than lost.
func decodeParticipants(b []byte) (*ParticipantsPage, error) {
	var w wireParticipants
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode participants: %w", err)
	}
	p := &ParticipantsPage{
		TotalCount: int(w.TotalCount), HasRemaining: bool(w.HasRemaining), NextPos: int64(w.NextPos),
		Rows: make([]Attendance, 0, len(w.Participants)),
	}
	for _, r := range w.Participants {
		p.Rows = append(p.Rows, Attendance{
			UserID:     string(r.UserID),
			UUID:       string(r.UUID),
			MsOpenID:   string(r.MsOpenID),
			Name:       decodeName(string(r.UserName)),
			Role:       int(r.UserRole),
			InstanceID: int(r.InstanceID),
			Join:       secTime(r.JoinTime),
			Left:       secTime(r.LeftTime),
		})
	}
	return p, nil
}

// decodeMeeting decodes a /v1/meetings/{id} answer.
func decodeMeeting(b []byte) (*MeetingInfo, error) {
	var w wireMeetings
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode meeting: %w", err)
	}
	if len(w.MeetingInfoList) == 0 {
		return nil, nil // an ended meeting: no longer answered (1095/42418)
	}
	m := w.MeetingInfoList[0]
	out := &MeetingInfo{
		MeetingID: string(m.MeetingID), MeetingCode: string(m.MeetingCode), Subject: string(m.Subject),
		MeetingType: int(m.MeetingType), Start: secTime(m.StartTime), End: secTime(m.EndTime),
		CurrentSubMeetingID: string(m.CurrentSubMeetingID),
	}
	for _, h := range m.Hosts {
		out.Hosts = append(out.Hosts, string(h.UserID))
	}
	for _, s := range m.SubMeetings {
		out.SubMeetings = append(out.SubMeetings, SubMeeting{
			ID: string(s.SubMeetingID), Start: secTime(s.StartTime), End: secTime(s.EndTime),
		})
	}
	return out, nil
}

type wireEndedMeeting struct {
	MeetingID    flexString `json:"meeting_id"`
	MeetingCode  flexString `json:"meeting_code"`
	Subject      flexString `json:"subject"`
	UserID       flexString `json:"userid"`
	MeetingType  flexInt    `json:"meeting_type"`
	SubMeetingID flexString `json:"sub_meeting_id"`
	StartTime    flexInt    `json:"start_time"`
	EndTime      flexInt    `json:"end_time"`
}

type wireEndedMeetings struct {
	TotalCount      flexInt                    `json:"total_count"`
	TotalPage       flexInt                    `json:"total_page"`
	CurrentPage     flexInt                    `json:"current_page"`
	MeetingInfoList flexList[wireEndedMeeting] `json:"meeting_info_list"`
}

// decodeEndedMeetings decodes a /v1/corp/meetings or /v1/history/meetings page; times converts the
// listing's unit (ms for corp, seconds for history).
func decodeEndedMeetings(b []byte, times func(flexInt) time.Time) (*EndedMeetingsPage, error) {
	var w wireEndedMeetings
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode ended meetings: %w", err)
	}
	p := &EndedMeetingsPage{TotalCount: int(w.TotalCount), TotalPage: int(w.TotalPage), CurrentPage: int(w.CurrentPage)}
	for _, m := range w.MeetingInfoList {
		p.Meetings = append(p.Meetings, EndedMeeting{
			MeetingID: string(m.MeetingID), MeetingCode: string(m.MeetingCode), Subject: string(m.Subject),
			Creator: string(m.UserID), MeetingType: int(m.MeetingType), SubMeetingID: string(m.SubMeetingID),
			Start: times(m.StartTime), End: times(m.EndTime),
		})
	}
	return p, nil
}

// decodeErrorInfo returns the error_info of a body, or nil when there is none.
func decodeErrorInfo(b []byte) *wireErrorInfo {
	var w wireError
	if json.Unmarshal(b, &w) != nil || w.ErrorInfo == nil {
		return nil
	}
	if w.ErrorInfo.ErrorCode == 0 && w.ErrorInfo.NewErrorCode == 0 && w.ErrorInfo.Message == "" {
		return nil
	}
	return w.ErrorInfo
}
