package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MoonshotOptions configure a MoonshotServer. The zero value is a server with the default fixture, no
// key check, no limits and no faults.
type MoonshotOptions struct {
	Addr    string
	Fixture *ChatFixture // nil: DefaultChatFixture
	APIKey  string       // "" accepts any request
	// Concurrency and RPM are the account's limits on chat completions (entry tier: 1 and 3); 0 is none.
	Concurrency int
	RPM         int
	// RetryAfter is the wait the rate-limit message announces ("please try again after N seconds");
	// 0 is 1 s.
	RetryAfter time.Duration
	// FaultRate is the chance of a random fault per chat completion, drawn from Faults (default
	// server_error, reset, rate_limit, overloaded, invalid_json).
	FaultRate float64
	Faults    []Fault
	Latency   time.Duration // added to every chat completion
	Models    []string      // served model ids; nil is the usual roster
	Seed      uint64
	// EmptyBalance reports a balance of 0 at GET /v1/users/me/balance (chat completions still answer).
	EmptyBalance bool
}

// MoonshotCounters count what the server saw.
type MoonshotCounters struct {
	Chat            int // POST /v1/chat/completions received
	Completions     int // answered 200
	RateLimited     int // 429 rate_limit_reached_error (limits or injected)
	Overloaded      int // 429 engine_overloaded_error
	QuotaExceeded   int // 429 exceeded_current_quota_error
	ServerErrors    int // 500
	Resets          int // connections dropped
	ContentFiltered int // 400 content_filter
	BadRequests     int // other 400 and 404
	Unauthorized    int // 401 on any path
	InvalidJSON     int // 200 answers that were not JSON (injected)
	Truncated       int // 200 answers with finish_reason length
	Estimates       int // POST /v1/tokenizers/estimate-token-count answered
	Models          int // GET /v1/models answered
	Balance         int // GET /v1/users/me/balance answered
}

// MoonshotServer is a local Moonshot chat API.
type MoonshotServer struct {
	o      MoonshotOptions
	l      *listener
	faults *faults

	mu       sync.Mutex
	c        MoonshotCounters
	inflight int
	starts   []time.Time // accepted chat completions within the last minute
	served   map[int]int // faults served per fixture rule
	bodies   []json.RawMessage
	seq      int
}

// DefaultModels are the model ids the emulator serves when none are configured.
var DefaultModels = []string{"moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k", "moonshot-v1-auto",
	"kimi-k2-0905-preview", "kimi-k2-turbo-preview", "kimi-k2.5", "kimi-k2.6"}

// NewMoonshot starts a Moonshot emulator and panics if it cannot listen.
func NewMoonshot(o MoonshotOptions) *MoonshotServer {
	s, err := StartMoonshot(o)
	if err != nil {
		panic(err)
	}
	return s
}

// StartMoonshot starts a Moonshot emulator.
func StartMoonshot(o MoonshotOptions) (*MoonshotServer, error) {
	if o.Fixture == nil {
		o.Fixture = DefaultChatFixture()
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.Models == nil {
		o.Models = DefaultModels
	}
	kinds := o.Faults
	if kinds == nil {
		kinds = []Fault{FaultServerError, FaultReset, FaultRateLimit, FaultOverloaded, FaultInvalidJSON}
	}
	s := &MoonshotServer{o: o, faults: newFaults(o.FaultRate, kinds, o.Seed), served: map[int]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/tokenizers/estimate-token-count", s.estimate)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("GET /v1/users/me/balance", s.balance)
	l, err := listen(o.Addr, mux)
	if err != nil {
		return nil, err
	}
	s.l = l
	return s, nil
}

// URL is the server's root (the client adds /v1).
func (s *MoonshotServer) URL() string { return s.l.url }

// Close stops the server.
func (s *MoonshotServer) Close() { s.l.close() }

// Inject queues faults for the next chat completions, one per call, before any random ones.
func (s *MoonshotServer) Inject(f ...Fault) { s.faults.inject(f...) }

// Counters returns a snapshot of the counters.
func (s *MoonshotServer) Counters() MoonshotCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// InFlight is the number of chat completions being answered now.
func (s *MoonshotServer) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight
}

// Requests returns the bodies of the chat completions that passed the key and limit checks, in order.
func (s *MoonshotServer) Requests() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}

func (s *MoonshotServer) count(f func(c *MoonshotCounters)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.c)
}

func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}

func (s *MoonshotServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	ok, present := bearer(r, s.o.APIKey)
	if ok {
		return true
	}
	s.count(func(c *MoonshotCounters) { c.Unauthorized++ })
	if present {
		apiError(w, http.StatusUnauthorized, "incorrect_api_key_error", "Incorrect API key provided")
	} else {
		apiError(w, http.StatusUnauthorized, "invalid_authentication_error", "Invalid Authentication")
	}
	return false
}

// admit applies the account's concurrency and per-minute limits. It returns a release func, or nil after
// answering 429.
func (s *MoonshotServer) admit(w http.ResponseWriter) func() {
	s.mu.Lock()
	now := time.Now()
	keep := s.starts[:0]
	for _, t := range s.starts {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	s.starts = keep
	var msg string
	switch {
	case s.o.Concurrency > 0 && s.inflight >= s.o.Concurrency:
		msg = fmt.Sprintf("Your account org-test<ak-test> request reached max concurrency: %d, please try again after %d seconds",
			s.o.Concurrency, seconds(s.o.RetryAfter))
	case s.o.RPM > 0 && len(s.starts) >= s.o.RPM:
		msg = fmt.Sprintf("Your account org-test<ak-test> request reached max request: %d, please try again after %d seconds",
			s.o.RPM, seconds(s.o.RetryAfter))
	}
	if msg != "" {
		s.c.RateLimited++
		s.mu.Unlock()
		apiError(w, http.StatusTooManyRequests, "rate_limit_reached_error", msg)
		return nil
	}
	s.inflight++
	s.starts = append(s.starts, now)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}
}

type chatBody struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Temperature *float64 `json:"temperature"`
	TopP        *float64 `json:"top_p"`
	N           *int     `json:"n"`
	MaxTokens   *int     `json:"max_tokens"`
	MaxComp     *int     `json:"max_completion_tokens"`
	Thinking    *struct {
		Type string `json:"type"`
	} `json:"thinking"`
	Stream bool `json:"stream"`
}

// tokens is the emulator's tokenizer: one token per 1.6 runes, rounded up.
func tokens(s string) int {
	n := utf8.RuneCountInString(s)
	return (n*10 + 15) / 16
}

func contextOf(model string) int {
	switch {
	case strings.Contains(model, "-8k"):
		return 8192
	case strings.Contains(model, "-32k"):
		return 32768
	case strings.HasPrefix(model, "kimi-k2"):
		return 262144
	}
	return 131072
}

func (s *MoonshotServer) chat(w http.ResponseWriter, r *http.Request) {
	s.count(func(c *MoonshotCounters) { c.Chat++ })
	if !s.authorized(w, r) {
		return
	}
	// Read the body first: only then does the server notice a client that hangs up during the latency.
	raw, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		return
	}
	release := s.admit(w)
	if release == nil {
		return
	}
	defer release()
	if !sleep(r.Context(), s.o.Latency) {
		return
	}
	var body chatBody
	if err := json.Unmarshal(raw, &body); err != nil {
		s.badRequest(w, "Invalid request: "+err.Error())
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, json.RawMessage(raw))
	s.mu.Unlock()

	fault := s.faults.next()
	switch fault {
	case FaultReset:
		s.count(func(c *MoonshotCounters) { c.Resets++ })
		resetConn(w)
		return
	case FaultServerError:
		s.count(func(c *MoonshotCounters) { c.ServerErrors++ })
		apiError(w, http.StatusInternalServerError, "unexpected_output", "invalid state transition")
		return
	case FaultRateLimit:
		s.count(func(c *MoonshotCounters) { c.RateLimited++ })
		apiError(w, http.StatusTooManyRequests, "rate_limit_reached_error",
			fmt.Sprintf("Your account org-test<ak-test> request reached max request: 3, please try again after %d seconds",
				seconds(s.o.RetryAfter)))
		return
	case FaultOverloaded:
		s.count(func(c *MoonshotCounters) { c.Overloaded++ })
		apiError(w, http.StatusTooManyRequests, "engine_overloaded_error",
			"The engine is currently overloaded, please try again later")
		return
	case FaultQuota:
		s.count(func(c *MoonshotCounters) { c.QuotaExceeded++ })
		apiError(w, http.StatusTooManyRequests, "exceeded_current_quota_error",
			"You exceeded your current token quota: 0, please check your account balance")
		return
	case FaultContentFilter:
		s.count(func(c *MoonshotCounters) { c.ContentFiltered++ })
		apiError(w, http.StatusBadRequest, "content_filter",
			"The request was rejected because it was considered high risk")
		return
	}

	if !slices.Contains(s.o.Models, body.Model) {
		s.count(func(c *MoonshotCounters) { c.BadRequests++ })
		apiError(w, http.StatusNotFound, "resource_not_found_error", "Not found the model or Permission denied")
		return
	}
	if body.Stream {
		s.badRequest(w, "Invalid request: stream is not supported by this emulator")
		return
	}
	if msg := checkParams(&body); msg != "" {
		s.badRequest(w, msg)
		return
	}
	prompt, firstUser := 0, ""
	for _, m := range body.Messages {
		prompt += tokens(m.Content)
		if m.Role == "user" && firstUser == "" {
			firstUser = m.Content
		}
	}
	maxTokens := 1024
	if body.MaxTokens != nil {
		maxTokens = *body.MaxTokens
	} else if body.MaxComp != nil {
		maxTokens = *body.MaxComp
	}
	ctxLen := contextOf(body.Model)
	if prompt > ctxLen {
		s.badRequest(w, "Input token length too long")
		return
	}
	if prompt+maxTokens > ctxLen {
		s.badRequest(w, fmt.Sprintf("Your request exceeded model token limit : %d", ctxLen))
		return
	}

	ans, ruleFault := s.answer(firstUser)
	if fault == "" {
		fault = ruleFault
	}
	content := ans
	jsonMode := body.ResponseFormat != nil && body.ResponseFormat.Type == "json_object"
	if !jsonMode {
		content = "好的，以下是分析结果：\n```json\n" + ans + "\n```"
	}
	finish := "stop"
	switch fault {
	case FaultInvalidJSON:
		s.count(func(c *MoonshotCounters) { c.InvalidJSON++ })
		content = "好的，我来总结一下这次会谈。这次会谈主要讨论了学员的求职准备情况。"
	case FaultLength:
		r := []rune(content)
		content, finish = string(r[:len(r)/2]), "length"
	case FaultBadPhase:
		var m map[string]any
		_ = json.Unmarshal([]byte(ans), &m)
		m["phase"] = "职业规划"
		b, _ := json.Marshal(m)
		content = string(b)
	}
	if finish == "stop" && tokens(content) > maxTokens {
		r := []rune(content)
		content, finish = string(r[:min(len(r), maxTokens*16/10)]), "length"
	}
	if finish == "length" {
		s.count(func(c *MoonshotCounters) { c.Truncated++ })
	}
	msg := map[string]any{"role": "assistant", "content": content}
	if strings.HasPrefix(body.Model, "kimi-k2.5") || strings.HasPrefix(body.Model, "kimi-k2.6") {
		if body.Thinking == nil || body.Thinking.Type != "disabled" {
			msg["reasoning_content"] = "用户希望我判断会谈阶段并写摘要，我先通读转写……"
		}
	}
	completion := tokens(content)
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("chatcmpl-%024x", s.seq)
	s.c.Completions++
	s.mu.Unlock()
	writeJSON(w, map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": body.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

func (s *MoonshotServer) badRequest(w http.ResponseWriter, msg string) {
	s.count(func(c *MoonshotCounters) { c.BadRequests++ })
	apiError(w, http.StatusBadRequest, "invalid_request_error", msg)
}

// checkParams enforces what the real API rejects: sampling parameters on kimi-k2.5/k2.6 other than their
// fixed values, n > 1 with temperature near 0, empty messages.
func checkParams(b *chatBody) string {
	if len(b.Messages) == 0 {
		return "Invalid request: messages must not be empty"
	}
	for i, m := range b.Messages {
		if strings.TrimSpace(m.Content) == "" {
			return fmt.Sprintf("Invalid request: the message at position %d with role '%s' must not be empty", i, m.Role)
		}
	}
	fixed := strings.HasPrefix(b.Model, "kimi-k2.5") || strings.HasPrefix(b.Model, "kimi-k2.6")
	if fixed {
		want := 1.0
		if b.Thinking != nil && b.Thinking.Type == "disabled" {
			want = 0.6
		}
		if b.Temperature != nil && *b.Temperature != want {
			return fmt.Sprintf("invalid temperature: only %g is allowed for this model", want)
		}
		if b.TopP != nil && *b.TopP != 0.95 {
			return "invalid top_p: only 0.95 is allowed for this model"
		}
		if b.N != nil && *b.N != 1 {
			return "invalid n: only 1 is allowed for this model"
		}
		return ""
	}
	if b.Temperature != nil && (*b.Temperature < 0 || *b.Temperature > 1) {
		return "Invalid request: temperature must be in [0, 1]"
	}
	if b.N != nil && *b.N > 1 && (b.Temperature == nil || *b.Temperature < 0.01) {
		return "Invalid request: n must be 1 when temperature is close to 0"
	}
	return ""
}

// answer picks the fixture answer for the first user message and any fault its rule still has to serve.
func (s *MoonshotServer) answer(text string) (string, Fault) {
	low := strings.ToLower(text)
	a, fault := s.o.Fixture.Default, Fault("")
	for i, r := range s.o.Fixture.Rules {
		if !slices.ContainsFunc(r.Keywords, func(k string) bool { return k != "" && strings.Contains(low, strings.ToLower(k)) }) {
			continue
		}
		a = r.ChatAnswer
		s.mu.Lock()
		if n := s.served[i]; n < len(r.Faults) {
			fault = r.Faults[n]
			s.served[i] = n + 1
		}
		s.mu.Unlock()
		break
	}
	if a.Phase == "" {
		a.Phase = "其他"
	}
	summary := a.Summary
	if summary == "" {
		summary = "本次会谈围绕" + a.Phase + "展开：" + gist(text, 60)
	}
	m := map[string]any{}
	for k, v := range a.Extra {
		m[k] = v
	}
	m["phase"], m["summary"], m["confidence"] = a.Phase, summary, a.Confidence
	b, _ := json.Marshal(m)
	return string(b), fault
}

// gist is the start of the transcript inside a prompt, without markup and timestamps.
func gist(text string, n int) string {
	if i := strings.Index(text, "<transcript>"); i >= 0 {
		text = text[i+len("<transcript>"):]
	}
	var b strings.Builder
	inTag := false
	count := 0
	for _, r := range text {
		switch {
		case r == '[' || r == '<':
			inTag = true
		case r == ']' || r == '>':
			inTag = false
		case inTag || r == '\n' || r == ' ' || r == '\t':
		default:
			b.WriteRune(r)
			count++
		}
		if count >= n {
			break
		}
	}
	return b.String()
}

func (s *MoonshotServer) estimate(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var body chatBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 32<<20)).Decode(&body); err != nil {
		s.badRequest(w, "Invalid request: "+err.Error())
		return
	}
	total := 0
	for _, m := range body.Messages {
		total += tokens(m.Content)
	}
	s.count(func(c *MoonshotCounters) { c.Estimates++ })
	writeJSON(w, map[string]any{"data": map[string]any{"total_tokens": total}})
}

func (s *MoonshotServer) models(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	data := make([]any, 0, len(s.o.Models))
	for _, m := range s.o.Models {
		data = append(data, map[string]any{"id": m, "object": "model", "created": 1741252964, "owned_by": "moonshot"})
	}
	s.count(func(c *MoonshotCounters) { c.Models++ })
	writeJSON(w, map[string]any{"object": "list", "data": data})
}

func (s *MoonshotServer) balance(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.count(func(c *MoonshotCounters) { c.Balance++ })
	writeJSON(w, map[string]any{"code": 0, "data": s.balanceOf(), "scode": "0x0", "status": true})
}
