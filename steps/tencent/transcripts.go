package tencent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Tencent's own transcripts and speakers of a recording file. Wire facts: 1095/65111 (transcripts/details),
// 1095/105659 (smart/speakers); official Go SDK TencentCloud/wemeet-openapi-sdk-go
// wemeet_openapi/service/records/model.go (V1RecordsTranscriptsDetailsGet200Response…) and
// wemeet_openapi/service/record_intelligence/model.go (V1SmartSpeakersGet200Response…); shared doc
// tencent-meeting-api.md §10 part 2.

// STSHeader carries the STS token on data-sensitive calls (apps created from 2026-01-16; 1095/65111,
// 1095/127651). It is not signed.
const STSHeader = "STS-Token"

// ErrNoTranscript says that a file has no smart transcript, or that it is still being made: "当该录制文件
// 未开启相关智能化功能或内容处于生成中状态时，不支持调用" (1095/65111). Not a failure: the ASR path, or a
// later run, takes over.
var ErrNoTranscript = errors.New("tencent has no smart transcript for this file (yet)")

// TranscriptQuery names one recording file's transcript.
type TranscriptQuery struct {
	RecordFileID string
	MeetingID    string // "may be omitted for uploaded files" (1095/65111); sent when known
	Operator     string // userid of the creator or an admin (correction 8)
	STSToken     string // "" sends no STS-Token header
}

// SpeakerInfo is a paragraph's speaker_info: userid only for same-enterprise users (SDK comment
// "同企业返回企业用户 userid"); ms_open_id is in doc 65111 and the Python SDK v1.0.10, not in Go v1.0.8.
type SpeakerInfo struct {
	UserID   string `json:"userid,omitempty"`
	Name     string `json:"name,omitempty"`
	MsOpenID string `json:"ms_open_id,omitempty"`
}

// TranscriptSentence is a sentence: its words' texts joined, offsets in ms from the file's start.
type TranscriptSentence struct {
	SID        string
	Start, End int64
	Text       string
}

// TranscriptParagraph is one speaker's paragraph.
type TranscriptParagraph struct {
	PID        string
	Start, End int64
	Speaker    SpeakerInfo
	Sentences  []TranscriptSentence
}

// FileTranscript is a file's transcript. AudioDetect 0 means the voiceprint split is not done and speaker
// labels may still change (SDK comment on audio_detect).
type FileTranscript struct {
	AudioDetect int
	Paragraphs  []TranscriptParagraph
}

type wireWord struct {
	Wid   flexString `json:"wid"`
	Start flexInt    `json:"start_time"`
	End   flexInt    `json:"end_time"`
	Text  flexString `json:"text"`
}

type wireSentence struct {
	Sid   flexString `json:"sid"`
	Start flexInt    `json:"start_time"`
	End   flexInt    `json:"end_time"`
	Words []wireWord `json:"words"`
}

type wireParagraph struct {
	Pid         flexString `json:"pid"`
	Start       flexInt    `json:"start_time"`
	End         flexInt    `json:"end_time"`
	SpeakerInfo *struct {
		UserID   flexString `json:"userid"`
		Username flexString `json:"username"`
		MsOpenID flexString `json:"ms_open_id"`
	} `json:"speaker_info"`
	Sentences []wireSentence `json:"sentences"`
}

type wireTranscript struct {
	More    flexBool `json:"more"`
	Minutes *struct {
		AudioDetect flexInt         `json:"audio_detect"`
		Paragraphs  []wireParagraph `json:"paragraphs"`
	} `json:"minutes"`
}

// transcriptPageSize is the paragraphs asked per page (limit; the default, all, could be one huge answer).
const transcriptPageSize = 200

// maxParagraphs bounds one file's transcript (a 3-hour session has a few thousand).
const maxParagraphs = 50000

// TranscriptDetails reads a file's whole transcript (GET /v1/records/transcripts/details), following
// pid/limit/more. A file without one answers ErrNoTranscript.
func (c *Client) TranscriptDetails(ctx context.Context, q TranscriptQuery) (*FileTranscript, error) {
	out := &FileTranscript{AudioDetect: 1}
	pid := int64(0)
	for {
		v := url.Values{}
		v.Set("record_file_id", q.RecordFileID)
		if q.MeetingID != "" {
			v.Set("meeting_id", q.MeetingID)
		}
		v.Set("operator_id", q.Operator)
		v.Set("operator_id_type", "1")
		v.Set("pid", strconv.FormatInt(pid, 10))
		v.Set("limit", strconv.Itoa(transcriptPageSize))
		var w wireTranscript
		err := c.get(ctx, "/v1/records/transcripts/details", v, stsHeader(q.STSToken), func(b []byte) error {
			return json.Unmarshal(b, &w)
		})
		if err != nil {
			return nil, fmt.Errorf("transcript of file %s: %w", q.RecordFileID, noTranscript(err))
		}
		if w.Minutes == nil {
			break
		}
		if int(w.Minutes.AudioDetect) == 0 {
			out.AudioDetect = 0
		}
		for _, p := range w.Minutes.Paragraphs {
			out.Paragraphs = append(out.Paragraphs, p.plain())
		}
		if !bool(w.More) || len(w.Minutes.Paragraphs) == 0 {
			break
		}
		if len(out.Paragraphs) > maxParagraphs {
			return nil, permanentf("transcript of file %s: more than %d paragraphs", q.RecordFileID, maxParagraphs)
		}
		last, err := strconv.ParseInt(string(w.Minutes.Paragraphs[len(w.Minutes.Paragraphs)-1].Pid), 10, 64)
		if err != nil || last < pid {
			// pid is a string (SDK); numeric and increasing is a guess (doc §10 2.1): stop rather than loop.
			return nil, permanentf("transcript of file %s: cannot page after pid %q", q.RecordFileID,
				w.Minutes.Paragraphs[len(w.Minutes.Paragraphs)-1].Pid)
		}
		pid = last + 1
	}
	if len(out.Paragraphs) == 0 {
		return nil, fmt.Errorf("transcript of file %s: %w", q.RecordFileID, ErrNoTranscript)
	}
	return out, nil
}

func (p wireParagraph) plain() TranscriptParagraph {
	out := TranscriptParagraph{PID: string(p.Pid), Start: int64(p.Start), End: int64(p.End)}
	if p.SpeakerInfo != nil {
		out.Speaker = SpeakerInfo{UserID: strings.TrimSpace(string(p.SpeakerInfo.UserID)),
			// username is plain text as far as known (doc §10 2.1 [GUESS]); decodeName keeps non-base64 text.
			Name:     decodeName(string(p.SpeakerInfo.Username)),
			MsOpenID: string(p.SpeakerInfo.MsOpenID)}
	}
	for _, s := range p.Sentences {
		var b strings.Builder
		for _, w := range s.Words {
			b.WriteString(string(w.Text))
		}
		out.Sentences = append(out.Sentences, TranscriptSentence{SID: string(s.Sid), Start: int64(s.Start),
			End: int64(s.End), Text: b.String()})
	}
	return out
}

// SpeakerSpan is one utterance of a smart speaker, ms from the file's start.
type SpeakerSpan struct {
	SID        string
	Start, End int64
}

// SmartSpeaker is one speaker of /v1/smart/speakers: IDType 1 userid, 2 openid, 6 temp id (uploaded
// files, or a speaker "识别为企业外用户"); Name decoded from base64; TotalMS the documented talk time.
type SmartSpeaker struct {
	ID       string
	IDType   int
	Name     string
	MsOpenID string // as sent: base64 per 1095/105659
	TotalMS  int64
	Spans    []SpeakerSpan
}

// Speaker id types of /v1/smart/speakers (1095/105659).
const (
	SpeakerUserID = 1
	SpeakerOpenID = 2
	SpeakerTempID = 6
)

type wireSpeakers struct {
	TotalCount  flexInt `json:"total_count"`
	SpeakerList []struct {
		SpeakerID     flexString `json:"speaker_id"`
		SpeakerIDType flexInt    `json:"speaker_id_type"`
		SpeakerName   flexString `json:"speaker_name"`
		MsOpenID      flexString `json:"ms_open_id"`
		TotalTime     flexInt    `json:"total_time"`
		SpeakerTime   []struct {
			Sid   flexString `json:"sid"`
			Start flexInt    `json:"start_time"` // ms as a string (SDK: *string)
			End   flexInt    `json:"end_time"`
		} `json:"speaker_time"`
	} `json:"speaker_list"`
}

// speakersPageSize is the documented maximum page_size of /v1/smart/speakers (1095/105659).
const speakersPageSize = 50

// SmartSpeakers lists a file's speakers (GET /v1/smart/speakers). A file without smart features, or
// whose are still being made, answers ErrNoTranscript.
func (c *Client) SmartSpeakers(ctx context.Context, q TranscriptQuery) ([]SmartSpeaker, error) {
	var out []SmartSpeaker
	for page := 1; page <= 100; page++ {
		v := url.Values{}
		v.Set("operator_id", q.Operator)
		v.Set("operator_id_type", "1")
		v.Set("record_file_id", q.RecordFileID)
		v.Set("page", strconv.Itoa(page))
		v.Set("page_size", strconv.Itoa(speakersPageSize))
		var w wireSpeakers
		err := c.get(ctx, "/v1/smart/speakers", v, stsHeader(q.STSToken), func(b []byte) error {
			return json.Unmarshal(b, &w)
		})
		if err != nil {
			return nil, fmt.Errorf("speakers of file %s: %w", q.RecordFileID, noTranscript(err))
		}
		for _, s := range w.SpeakerList {
			sp := SmartSpeaker{ID: string(s.SpeakerID), IDType: int(s.SpeakerIDType),
				Name: decodeName(string(s.SpeakerName)), MsOpenID: string(s.MsOpenID), TotalMS: int64(s.TotalTime)}
			for _, t := range s.SpeakerTime {
				sp.Spans = append(sp.Spans, SpeakerSpan{SID: string(t.Sid), Start: int64(t.Start), End: int64(t.End)})
			}
			out = append(out, sp)
		}
		if len(w.SpeakerList) < speakersPageSize || len(out) >= int(w.TotalCount) {
			return out, nil
		}
	}
	return out, nil
}

// DecodedOpenID is ms_open_id of /v1/smart/speakers decoded from base64 (1095/105659 says it is sent
// encoded), to compare with the raw one of participants and speaker_info; s itself when it is not base64.
func DecodedOpenID(s string) string {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	return s
}

func stsHeader(tok string) http.Header {
	if tok == "" {
		return nil
	}
	return http.Header{STSHeader: {tok}}
}

// noTranscript turns the service's "not supported" answer into ErrNoTranscript. The code of that answer is
// not documented, so any 4xx with a code the client does not know (not a signature, permission, rate or
// quota code) is taken for it [GUESS]; known codes stay what they are.
func noTranscript(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Cause() != "" || ae.Code == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", ErrNoTranscript, ae.Message)
}
