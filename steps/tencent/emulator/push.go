package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"meetpipe/steps/tencent/webhook"
)

// PushOptions say where and how the emulator pushes webhook events, as Tencent does for an app's event
// subscription (1095/51605): signed with Token (1095/51612) and, with an EncodingAESKey, AES-encrypted
// (1095/54658).
type PushOptions struct {
	URL            string // the receiver (e.g. http://127.0.0.1:8787/webhook/tencent); empty: no pushes
	Token          string
	EncodingAESKey string // empty: data is plain base64, as in the 1095/51612 example
	// Client defaults to one with a 10 s timeout.
	Client *http.Client
	// MillisTimestamps sends the timestamp header in ms, as the official 51612 example does; false: seconds,
	// as community test code does. Receivers must take both.
	MillisTimestamps bool
}

// pushAck is the body a receiver answers a POST with [COMMUNITY: several receivers; 1095/51608's POST
// half is not readable]; anything else is a failed push.
const pushAck = "successfully received callback"

// stsState is what the STS endpoint issued.
type stsState struct {
	issued map[string]time.Time // token → expiry
	reqs   int
}

// Push signs, seals and POSTs one event ({"data": …}) to the receiver, and checks its answer.
func (s *Server) Push(ctx context.Context, event any) error {
	po := s.opts.Push
	if po.URL == "" {
		return fmt.Errorf("emulator: no push URL configured")
	}
	js, err := json.Marshal(event)
	if err != nil {
		return err
	}
	c, err := webhook.NewCipher(po.EncodingAESKey)
	if err != nil {
		return err
	}
	data := c.Seal(js)
	body, _ := json.Marshal(map[string]string{"data": data})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, po.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	s.signPush(req.Header, data)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.pushClient().Do(req)
	if err != nil {
		return fmt.Errorf("emulator: push: %w", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(got) != pushAck {
		return fmt.Errorf("emulator: push answered HTTP %d %q", resp.StatusCode, got)
	}
	return nil
}

// VerifyURL makes the URL check the admin console makes on save and as a heartbeat (1095/51608): a GET
// with a sealed check_str; the receiver must answer its plaintext alone.
func (s *Server) VerifyURL(ctx context.Context) error {
	po := s.opts.Push
	c, err := webhook.NewCipher(po.EncodingAESKey)
	if err != nil {
		return err
	}
	plain, sealed := webhook.NewSealedCheck(c)
	u := po.URL + "?check_str=" + url.QueryEscape(sealed)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	s.signPush(req.Header, sealed)
	resp, err := s.pushClient().Do(req)
	if err != nil {
		return fmt.Errorf("emulator: verify URL: %w", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(got) != plain {
		return fmt.Errorf("emulator: verify URL answered HTTP %d %q, want the check string", resp.StatusCode, got)
	}
	return nil
}

func (s *Server) signPush(h http.Header, data string) {
	po := s.opts.Push
	now := s.now()
	ts := strconv.FormatInt(now.Unix(), 10)
	if po.MillisTimestamps {
		ts = strconv.FormatInt(now.UnixMilli(), 10)
	}
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	nonce := strconv.FormatUint(uint64(b[0])<<24|uint64(b[1])<<16|uint64(b[2])<<8|uint64(b[3])+1, 10)
	h.Set("timestamp", ts)
	h.Set("nonce", nonce)
	h.Set("signature", webhook.Signature(po.Token, ts, nonce, data))
}

func (s *Server) pushClient() *http.Client {
	if s.opts.Push.Client != nil {
		return s.opts.Push.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// RecordingEvent builds the event of a record in the shape of the 1095/53230 example (recording.completed)
// or 1095/121282 (smart.transcripts): meeting_info with times in seconds, recording_files, a new trace_id.
func (s *Server) RecordingEvent(name, recordID string) (map[string]any, error) {
	s.mu.Lock()
	ref := s.records[recordID]
	s.mu.Unlock()
	if ref == nil {
		return nil, fmt.Errorf("no record %s", recordID)
	}
	m := ref.m
	var files []map[string]any
	for _, f := range ref.r.Files {
		files = append(files, map[string]any{"record_file_id": f.ID})
	}
	mt := 0
	if m.Recurring {
		mt = 1
	}
	return map[string]any{
		"event": name, "trace_id": newTraceID(),
		"payload": []any{map[string]any{
			"operate_time":    s.now().UnixMilli(),
			"operator":        map[string]any{"userid": m.creator()},
			"recording_files": files,
			"meeting_info": map[string]any{
				"meeting_id": m.MeetingID, "meeting_code": m.MeetingCode, "subject": m.Subject,
				"media_set_type": "2", "meeting_type": mt,
				"creator":    map[string]any{"userid": m.creator(), "user_name": m.creator() + "_name"},
				"start_time": m.Start.Unix(), "end_time": m.End.Unix(),
			},
		}},
	}, nil
}

// PushRecording pushes recording.completed (or another recording event name) for a record.
func (s *Server) PushRecording(ctx context.Context, name, recordID string) error {
	ev, err := s.RecordingEvent(name, recordID)
	if err != nil {
		return err
	}
	return s.Push(ctx, ev)
}

func newTraceID() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// stsToken answers POST /v1/app/sts-token [COMMUNITY: {operator_id, operator_id_type: 1, valid_time: 6|12|24};
// the answer {req_id} is a GUESS: the community code does not read it], then pushes the token as
// common.sts-token (1095/127651's shape) to the receiver, as Tencent delivers it asynchronously. expire_ts is
// sent in seconds (its unit is undocumented).
func (s *Server) stsToken(w *statusWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		s.writeError(w, badRequest(190004, "method %s not supported", r.Method))
		return
	}
	if e := s.limits(EndpointSTS); e != nil {
		s.writeError(w, e)
		return
	}
	var in struct {
		OperatorID     string `json:"operator_id"`
		OperatorIDType int    `json:"operator_id_type"`
		ValidTime      int    `json:"valid_time"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		s.writeError(w, badRequest(190004, "body is not JSON"))
		return
	}
	switch {
	case in.OperatorID == "" || in.OperatorIDType != 1:
		s.writeError(w, badRequest(190004, "operator_id and operator_id_type 1 are required"))
		return
	case !s.isAdmin(in.OperatorID):
		s.writeError(w, noPermission(in.OperatorID))
		return
	case !slices.Contains([]int{6, 12, 24}, in.ValidTime):
		s.writeError(w, badRequest(190004, "valid_time must be 6, 12 or 24"))
		return
	}
	reqID := strconv.FormatInt(time.Now().UnixNano(), 10)
	b := make([]byte, 24)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	token := "sts_" + hex.EncodeToString(b)
	exp := s.now().Add(time.Duration(in.ValidTime) * time.Hour)
	s.mu.Lock()
	if s.sts.issued == nil {
		s.sts.issued = map[string]time.Time{}
	}
	s.sts.issued[token] = exp
	s.sts.reqs++
	s.mu.Unlock()
	s.writeJSON(w, map[string]any{"req_id": reqID})
	if s.opts.Push.URL == "" {
		return
	}
	ev := map[string]any{"event": "common.sts-token", "trace_id": newTraceID(),
		"payload": []any{map[string]any{"operate_time": s.now().UnixMilli(),
			"operator":   map[string]any{"userid": in.OperatorID, "user_name": in.OperatorID},
			"token_info": map[string]any{"req_id": reqID, "sts_token": token, "expire_ts": exp.Unix()}}}}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.Push(ctx, ev); err != nil {
			s.log.Warn("emulator: pushing common.sts-token failed", "err", err)
		}
	}()
}

// STSValid reports whether token was issued by this emulator and has not expired (for tests of the
// STS-Token header).
func (s *Server) STSValid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sts.issued[strings.TrimSpace(token)]
	return ok && s.opts.Now().Add(s.offset).Before(exp)
}

// STSRequests is how many STS tokens were issued.
func (s *Server) STSRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sts.reqs
}
