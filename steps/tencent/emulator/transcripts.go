package emulator

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Tencent's smart transcripts and speakers, answered in the shapes of 1095/65111 and 1095/105659 and the
// official Go SDK (TencentCloud/wemeet-openapi-sdk-go wemeet_openapi/service/records/model.go,
// wemeet_openapi/service/record_intelligence/model.go): ms offsets as int64 in transcripts, as strings in
// speaker_time; speaker_name and ms_open_id base64 in smart/speakers.

// Utterance is one stretch of one speaker, in ms from the file's start. UserID is empty for a speaker
// outside the enterprise, who then gets speaker_id_type 6 (temp id) in smart/speakers.
type Utterance struct {
	UserID   string
	Name     string
	MsOpenID string
	Start    int64
	End      int64
	Text     string
}

// SmartTranscript is what Tencent made of one recording file; each utterance is a paragraph of one
// sentence. AudioDetect 0 says the voiceprint split is not done yet (labels may change).
type SmartTranscript struct {
	Utterances  []Utterance
	AudioDetect int
}

// SetTranscript gives a file Tencent's transcript; files without one are answered "not supported".
func (s *Server) SetTranscript(recordFileID string, t SmartTranscript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.smart == nil {
		s.smart = map[string]SmartTranscript{}
	}
	s.smart[recordFileID] = t
}

// codeNoSmart is the answer for a file without smart features or with them still being made: the doc says
// "不支持调用" (1095/65111, 1095/105659) without naming a code; 400 with this code is a [GUESS].
const codeNoSmart = 500000

func (s *Server) smartOf(w *statusWriter, r *http.Request, needsSTS bool) (SmartTranscript, *apiError) {
	q := r.URL.Query()
	if needsSTS && s.opts.RequireSTS != "" && r.Header.Get("STS-Token") != s.opts.RequireSTS {
		// The code for a missing or stale token is not documented ([GUESS]; doc §10 part 4).
		return SmartTranscript{}, badRequest(codeNoSmart+1, "STS-Token missing or invalid")
	}
	id := q.Get("record_file_id")
	if id == "" || q.Get("operator_id") == "" || q.Get("operator_id_type") == "" {
		return SmartTranscript{}, badRequest(190004, "record_file_id, operator_id and operator_id_type are required")
	}
	s.mu.Lock()
	_, known := s.files[id]
	t, ok := s.smart[id]
	s.mu.Unlock()
	if !known {
		return SmartTranscript{}, badRequest(4051, "record file not found")
	}
	if !ok {
		return SmartTranscript{}, badRequest(codeNoSmart, "当该录制文件未开启相关智能化功能或内容处于生成中状态时，不支持调用")
	}
	return t, nil
}

// transcriptDetails serves GET /v1/records/transcripts/details with pid (inclusive) / limit / more.
func (s *Server) transcriptDetails(w *statusWriter, r *http.Request) *apiError {
	// transcripts/details is 1095/127651's own example of a data-sensitive call that needs the token.
	t, err := s.smartOf(w, r, true)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	pid, _ := strconv.Atoi(q.Get("pid"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if pid < 0 {
		pid = 0
	}
	end := len(t.Utterances)
	if limit > 0 && pid+limit < end {
		end = pid + limit
	}
	paras := []map[string]any{}
	for i := pid; i < end; i++ {
		u := t.Utterances[i]
		id := strconv.Itoa(i)
		paras = append(paras, map[string]any{
			"pid": id, "start_time": u.Start, "end_time": u.End,
			"speaker_info": map[string]any{"userid": u.UserID, "username": u.Name, "ms_open_id": u.MsOpenID},
			"sentences": []map[string]any{{"sid": id, "start_time": u.Start, "end_time": u.End,
				"words": words(u, id)}},
		})
	}
	detect := t.AudioDetect
	if detect == 0 && len(t.Utterances) > 0 {
		detect = 1
	}
	s.writeJSON(w, map[string]any{"more": limit > 0 && end < len(t.Utterances),
		"minutes": map[string]any{"audio_detect": detect, "paragraphs": paras}})
	return nil
}

// words splits an utterance's text in two words at its middle rune, timed in proportion.
func words(u Utterance, id string) []map[string]any {
	n := utf8.RuneCountInString(u.Text)
	if n < 2 {
		return []map[string]any{{"wid": id + "-0", "start_time": u.Start, "end_time": u.End, "text": u.Text}}
	}
	r := []rune(u.Text)
	mid := u.Start + (u.End-u.Start)*int64(n/2)/int64(n)
	return []map[string]any{
		{"wid": id + "-0", "start_time": u.Start, "end_time": mid, "text": string(r[:n/2])},
		{"wid": id + "-1", "start_time": mid, "end_time": u.End, "text": string(r[n/2:])},
	}
}

// smartSpeakers serves GET /v1/smart/speakers: one entry per speaker (userid, else name), page_size ≤ 50.
func (s *Server) smartSpeakers(w *statusWriter, r *http.Request) *apiError {
	// 1095/105659 (smart/speakers) names no STS-Token; only transcripts/details (1095/65111) and
	// /v1/addresses/{id} (1095/51180) do, so the emulator does not demand it here.
	t, err := s.smartOf(w, r, false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("page_size"))
	if page < 1 || size < 1 || size > 50 {
		return badRequest(190004, "page from 1 and page_size 1..50 are required")
	}
	type entry struct {
		m     map[string]any
		total int64
		spans []map[string]any
	}
	var order []string
	by := map[string]*entry{}
	for i, u := range t.Utterances {
		key := "u:" + u.UserID
		if u.UserID == "" {
			key = "n:" + u.Name
		}
		e := by[key]
		if e == nil {
			id, typ := u.UserID, 1
			if id == "" {
				id, typ = "tmp_"+strconv.Itoa(len(order)+1), 6
			}
			e = &entry{m: map[string]any{"speaker_id": id, "speaker_id_type": typ,
				"speaker_name": base64.StdEncoding.EncodeToString([]byte(u.Name)),
				"ms_open_id":   base64.StdEncoding.EncodeToString([]byte(u.MsOpenID))}}
			by[key] = e
			order = append(order, key)
		}
		e.total += u.End - u.Start
		e.spans = append(e.spans, map[string]any{"sid": strconv.Itoa(i),
			"start_time": strconv.FormatInt(u.Start, 10), "end_time": strconv.FormatInt(u.End, 10)})
	}
	list := []map[string]any{}
	for i := (page - 1) * size; i < len(order) && i < page*size; i++ {
		e := by[order[i]]
		e.m["total_time"] = e.total
		e.m["speaker_time"] = e.spans
		list = append(list, e.m)
	}
	s.writeJSON(w, map[string]any{"total_count": len(order), "speaker_list": list})
	return nil
}
