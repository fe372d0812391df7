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
	Models    []string      // served model ids; nil is the usual roster (DefaultModels)
	// ModelSpecs add or override models (served besides Models), for ids the client has never seen.
	ModelSpecs []ModelSpec
	Seed       uint64
	// EmptyBalance reports a balance of 0 at GET /v1/users/me/balance (chat completions still answer).
	EmptyBalance bool
	// InventItem adds an action item whose quote is in no transcript to every extraction (extract.go), as
	// models sometimes invent one; the real service has no such switch, so it is off by default.
	InventItem bool
	// ScoresOutOfRange answers this many extraction requests with one score above the rubric's maximum.
	ScoresOutOfRange int
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
	Refused         int // 400 for a parameter the model refuses (temperature, thinking, max_tokens, json_schema)
	Schema          int // 200 answers to a json_schema request (constrained: always the schema's shape)
	Reasoning       int // reasoning tokens spent
	Cached          int // prompt tokens served from the prompt cache
	Huge            int // 2 MB answers (injected)
	Estimates       int // POST /v1/tokenizers/estimate-token-count answered
	Models          int // GET /v1/models answered
	Balance         int // GET /v1/users/me/balance answered
}

// MoonshotServer is a local Moonshot chat API.
type MoonshotServer struct {
	o      MoonshotOptions
	l      *listener
	faults *faults

	mu         sync.Mutex
	c          MoonshotCounters
	inflight   int
	starts     []time.Time // accepted chat completions within the last minute
	served     map[int]int // faults served per fixture rule
	bodies     []json.RawMessage
	seq        int
	prefixes   map[string]bool // prompt_cache_key + system prompt seen
	outOfRange int             // out-of-range scores served (ScoresOutOfRange)
}

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

// RefuseAll answers every chat completion with fault f (a retired model, an exhausted balance) until
// RefuseAll(""); GET /v1/models still lists the model, as the real service does for a key moved elsewhere.
func (s *MoonshotServer) RefuseAll(f Fault) { s.faults.refuseAll(f) }

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
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string         `json:"name"`
			Strict bool           `json:"strict"`
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
	PromptCacheKey string   `json:"prompt_cache_key"`
	Temperature    *float64 `json:"temperature"`
	TopP           *float64 `json:"top_p"`
	N              *int     `json:"n"`
	MaxTokens      *int     `json:"max_tokens"`
	MaxComp        *int     `json:"max_completion_tokens"`
	Thinking       *struct {
		Type string `json:"type"`
	} `json:"thinking"`
	Stream bool `json:"stream"`
}

// tokens is the emulator's tokenizer: one token per 1.6 runes, rounded up.
func tokens(s string) int {
	n := utf8.RuneCountInString(s)
	return (n*10 + 15) / 16
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
	case FaultModelGone:
		s.count(func(c *MoonshotCounters) { c.BadRequests++ })
		apiError(w, http.StatusNotFound, "resource_not_found_error", "Not found the model or Permission denied")
		return
	case FaultOtherOrg:
		s.count(func(c *MoonshotCounters) { c.BadRequests++ })
		apiError(w, http.StatusBadRequest, "invalid_request_error",
			fmt.Sprintf("Invalid request: the model %s is not available for your organization", body.Model))
		return
	case FaultBalance:
		s.count(func(c *MoonshotCounters) { c.QuotaExceeded++ })
		apiError(w, http.StatusForbidden, "permission_denied_error", "Insufficient balance, please top up your account")
		return
	case FaultContentFilter:
		s.count(func(c *MoonshotCounters) { c.ContentFiltered++ })
		apiError(w, http.StatusBadRequest, "content_filter",
			"The request was rejected because it was considered high risk")
		return
	}

	if !slices.Contains(s.roster(), body.Model) {
		s.count(func(c *MoonshotCounters) { c.BadRequests++ })
		apiError(w, http.StatusNotFound, "resource_not_found_error", "Not found the model or Permission denied")
		return
	}
	if body.Stream {
		s.badRequest(w, "Invalid request: stream is not supported by this emulator")
		return
	}
	spec := s.specOf(body.Model)
	if msg := checkParams(&body); msg != "" {
		s.badRequest(w, msg)
		return
	}
	if msg := spec.checkModelParams(&body); msg != "" {
		s.count(func(c *MoonshotCounters) { c.Refused++ })
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
	if body.MaxComp != nil && !spec.OnlyMaxTokens {
		maxTokens = *body.MaxComp
	} else if body.MaxTokens != nil {
		maxTokens = *body.MaxTokens
	}
	ctxLen := spec.Context
	if prompt > ctxLen {
		s.badRequest(w, "Input token length too long")
		return
	}
	if prompt+maxTokens > ctxLen {
		s.badRequest(w, fmt.Sprintf("Your request exceeded model token limit : %d", ctxLen))
		return
	}

	enum, maxLen := schemaLimits(&body)
	ans, ruleFault := s.answer(firstUser)
	ans = s.extract(ans, &body, firstUser)
	if fault == "" {
		fault = ruleFault
	}
	schema := body.ResponseFormat != nil && body.ResponseFormat.Type == "json_schema"
	if schema {
		// Structured output decodes under the schema: no prose, no phase outside the enum, no summary over
		// maxLength (OpenAI structured-outputs semantics, which the json_schema response_format copies).
		s.count(func(c *MoonshotCounters) { c.Schema++ })
		if fault == FaultInvalidJSON || fault == FaultBadPhase || fault == FaultHuge {
			fault = ""
		}
		ans = constrain(ans, enum, maxLen)
	}
	content := ans
	jsonMode := body.ResponseFormat != nil && (body.ResponseFormat.Type == "json_object" || schema)
	if !jsonMode {
		content = "好的，以下是分析结果：\n```json\n" + ans + "\n```"
	}
	finish := "stop"
	switch fault {
	case FaultInvalidJSON:
		s.count(func(c *MoonshotCounters) { c.InvalidJSON++ })
		content = "好的，我来总结一下这次会谈。这次会谈主要讨论了学员的求职准备情况。"
	case FaultHuge:
		s.count(func(c *MoonshotCounters) { c.Huge++ })
		content = strings.Repeat("这次会谈讨论了很多内容，", 2<<20/36)
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
	// A reasoning model thinks first, out of the same budget (max_completion_tokens counts both); when
	// the thinking uses it up, the answer is empty and cut off (corrections item 1, K3).
	reasoning := 0
	if spec.reasons(&body) {
		reasoning = min(spec.Reasoning, maxTokens)
	}
	left := maxTokens - reasoning
	if finish == "stop" && fault != FaultHuge && tokens(content) > left {
		r := []rune(content)
		content, finish = string(r[:min(len(r), max(left, 0)*16/10)]), "length"
	}
	if finish == "length" {
		s.count(func(c *MoonshotCounters) { c.Truncated++ })
	}
	msg := map[string]any{"role": "assistant", "content": content}
	if reasoning > 0 {
		msg["reasoning_content"] = reasoningText(reasoning)
	}
	cached := 0
	if body.PromptCacheKey != "" && len(body.Messages) > 0 && body.Messages[0].Role == "system" {
		k := body.Model + "\x00" + body.PromptCacheKey + "\x00" + body.Messages[0].Content
		s.mu.Lock()
		if s.prefixes == nil {
			s.prefixes = map[string]bool{}
		}
		if s.prefixes[k] {
			cached = tokens(body.Messages[0].Content)
		}
		s.prefixes[k] = true
		s.mu.Unlock()
	}
	completion := tokens(content) + reasoning
	if finish == "length" {
		// finish_reason "length" means the cap was reached (platform.kimi.ai/docs/api/chat).
		completion = max(completion, maxTokens)
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("chatcmpl-%024x", s.seq)
	s.c.Completions++
	s.c.Reasoning += reasoning
	s.c.Cached += cached
	s.mu.Unlock()
	usage := map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
	if cached > 0 {
		usage["cached_tokens"] = cached
	}
	if reasoning > 0 {
		usage["completion_tokens_details"] = map[string]any{"reasoning_tokens": reasoning}
	}
	writeJSON(w, map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": body.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   usage,
	})
}

func (s *MoonshotServer) badRequest(w http.ResponseWriter, msg string) {
	s.count(func(c *MoonshotCounters) { c.BadRequests++ })
	apiError(w, http.StatusBadRequest, "invalid_request_error", msg)
}

// checkParams enforces what every model rejects: empty messages. What a model refuses besides is its
// ModelSpec's business (checkModelParams).
func checkParams(b *chatBody) string {
	if len(b.Messages) == 0 {
		return "Invalid request: messages must not be empty"
	}
	for i, m := range b.Messages {
		if strings.TrimSpace(m.Content) == "" {
			return fmt.Sprintf("Invalid request: the message at position %d with role '%s' must not be empty", i, m.Role)
		}
	}
	return ""
}

// constrain makes a JSON answer obey a schema's phase enum and summary length.
func constrain(ans string, enum []string, maxLen int) string {
	var m map[string]any
	if json.Unmarshal([]byte(ans), &m) != nil {
		return ans
	}
	if p, _ := m["phase"].(string); len(enum) > 0 && !slices.Contains(enum, p) {
		m["phase"] = enum[len(enum)-1]
	}
	if sm, _ := m["summary"].(string); maxLen > 0 && utf8.RuneCountInString(sm) > maxLen {
		m["summary"] = string([]rune(sm)[:maxLen])
	}
	b, _ := json.Marshal(m)
	return string(b)
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
	ids := s.roster()
	data := make([]any, 0, len(ids))
	for _, m := range ids {
		data = append(data, map[string]any{"id": m, "object": "model", "created": 1741252964, "owned_by": "moonshot",
			"context_length": s.specOf(m).Context})
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
