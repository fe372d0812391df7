package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event names this receiver acts on (1095/84344 is the index).
const (
	RecordingCompleted = "recording.completed" // 1095/53230
	RecordingDeleted   = "recording.deleted"   // 1093/53232
	SmartTranscripts   = "smart.transcripts"   // 1095/121282
	STSTokenEvent      = "common.sts-token"    // 1095/127651
)

// Event is one push, parsed defensively: numbers or numeric strings, ms or s, and the legacy layout of
// the 1095/51612 example (unique_sequence instead of trace_id, "2006-01-02 15:04:05" times).
type Event struct {
	Name    string
	TraceID string // trace_id, or the legacy unique_sequence
	Payload []Payload
}

// Payload is one element of payload[] (normally one; iterate anyway, 1095/53230).
type Payload struct {
	OperateTime time.Time
	Meeting     Meeting
	// RecordFileIDs are recording_files[].record_file_id, without repeats (the 53230 example repeats one).
	RecordFileIDs []string
	Token         *TokenInfo // common.sts-token only
}

// Meeting is payload[].meeting_info.
type Meeting struct {
	MeetingID, MeetingCode, SubMeetingID, Subject string
	CreatorUserID                                 string
	MeetingType                                   int
	Start, End                                    time.Time // meeting times (seconds on the wire)
}

// TokenInfo is payload[].token_info of common.sts-token. String hides the token.
type TokenInfo struct {
	ReqID    string
	Token    string
	ExpireAt time.Time
}

func (t TokenInfo) String() string {
	return fmt.Sprintf("sts-token(req %s, expires %s)", t.ReqID, t.ExpireAt.UTC().Format(time.RFC3339))
}

// RecordFileIDs are the event's record_file_ids over every payload, without repeats.
func (e *Event) RecordFileIDs() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range e.Payload {
		for _, id := range p.RecordFileIDs {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// wire layouts: every scalar is read as json.RawMessage and converted by flex.
type wireEvent struct {
	Event          string        `json:"event"`
	TraceID        flex          `json:"trace_id"`
	UniqueSequence flex          `json:"unique_sequence"`
	Payload        []wirePayload `json:"payload"`
}

type wirePayload struct {
	OperateTime flex `json:"operate_time"`
	MeetingInfo *struct {
		MeetingID    flex `json:"meeting_id"`
		MeetingCode  flex `json:"meeting_code"`
		SubMeetingID flex `json:"sub_meeting_id"`
		Subject      flex `json:"subject"`
		MeetingType  flex `json:"meeting_type"`
		StartTime    flex `json:"start_time"`
		EndTime      flex `json:"end_time"`
		CreatorID    flex `json:"creator_id"` // legacy layout
		Creator      *struct {
			UserID flex `json:"userid"`
		} `json:"creator"`
	} `json:"meeting_info"`
	RecordingFiles []struct {
		RecordFileID flex `json:"record_file_id"`
	} `json:"recording_files"`
	TokenInfo *struct {
		ReqID    flex `json:"req_id"`
		STSToken flex `json:"sts_token"`
		ExpireTS flex `json:"expire_ts"`
	} `json:"token_info"`
}

// flex is a JSON scalar that may come as a string or a number.
type flex string

func (f *flex) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex(strings.TrimSpace(s))
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*f = flex(b) // a number kept as its digits: ids of 19-20 digits must not pass through float64
	default:
		return fmt.Errorf("want a string or a number, got %.20s", b)
	}
	return nil
}

// shanghai is where the legacy layout's "2006-01-02 15:04:05" times are (Tencent Meeting's own zone) [GUESS].
var shanghai = time.FixedZone("CST", 8*3600)

// Time reads a Unix time in seconds or milliseconds (13 digits or more: ms; community code uses 1e10 as
// the line), a numeric string of either, or the legacy "2006-01-02 15:04:05". Empty or 0 is the zero time.
func (f flex) Time() (time.Time, error) {
	s := string(f)
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n >= 1e10 {
			return time.UnixMilli(int64(n)).UTC(), nil
		}
		return time.Unix(int64(n), 0).UTC(), nil
	}
	if t, err := time.ParseInLocation(time.DateTime, s, shanghai); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time", s)
}

// Int reads an integer from a number or a numeric string; empty is 0.
func (f flex) Int() (int, error) {
	if f == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(string(f), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", string(f))
	}
	return int(n), nil
}

// MaxEventBytes bounds one decrypted event: a recording.completed is about 1 KiB.
const MaxEventBytes = 1 << 20

// Parse reads an event's JSON (EventJSON's output). Errors name the field.
func Parse(b []byte) (*Event, error) {
	if len(b) > MaxEventBytes {
		return nil, fmt.Errorf("webhook: event of %d bytes is over %d", len(b), MaxEventBytes)
	}
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("webhook: event: %w", err)
	}
	if w.Event == "" {
		return nil, errors.New("webhook: event: no event name")
	}
	e := &Event{Name: w.Event, TraceID: string(w.TraceID)}
	if e.TraceID == "" {
		e.TraceID = string(w.UniqueSequence)
	}
	for i, wp := range w.Payload {
		var p Payload
		var err error
		if p.OperateTime, err = wp.OperateTime.Time(); err != nil {
			return nil, fmt.Errorf("webhook: %s payload[%d].operate_time: %w", e.Name, i, err)
		}
		if mi := wp.MeetingInfo; mi != nil {
			m := Meeting{MeetingID: string(mi.MeetingID), MeetingCode: string(mi.MeetingCode),
				SubMeetingID: string(mi.SubMeetingID), Subject: string(mi.Subject), CreatorUserID: string(mi.CreatorID)}
			if mi.Creator != nil && mi.Creator.UserID != "" {
				m.CreatorUserID = string(mi.Creator.UserID)
			}
			if m.MeetingType, err = mi.MeetingType.Int(); err != nil {
				return nil, fmt.Errorf("webhook: %s payload[%d].meeting_info.meeting_type: %w", e.Name, i, err)
			}
			if m.Start, err = mi.StartTime.Time(); err != nil {
				return nil, fmt.Errorf("webhook: %s payload[%d].meeting_info.start_time: %w", e.Name, i, err)
			}
			if m.End, err = mi.EndTime.Time(); err != nil {
				return nil, fmt.Errorf("webhook: %s payload[%d].meeting_info.end_time: %w", e.Name, i, err)
			}
			p.Meeting = m
		}
		seen := map[string]bool{}
		for _, f := range wp.RecordingFiles {
			if id := string(f.RecordFileID); id != "" && !seen[id] {
				seen[id] = true
				p.RecordFileIDs = append(p.RecordFileIDs, id)
			}
		}
		if ti := wp.TokenInfo; ti != nil {
			t := &TokenInfo{ReqID: string(ti.ReqID), Token: string(ti.STSToken)}
			// The unit of expire_ts is not documented (1095/127651); Time reads 13 digits as ms.
			if t.ExpireAt, err = ti.ExpireTS.Time(); err != nil {
				return nil, fmt.Errorf("webhook: %s payload[%d].token_info.expire_ts: %w", e.Name, i, err)
			}
			p.Token = t
		}
		e.Payload = append(e.Payload, p)
	}
	return e, nil
}
