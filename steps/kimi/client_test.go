package kimi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/kimi"
	"meetpipe/steps/kimi/emulator"
)

func wav(t *testing.T, seconds float64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "chunk-001.wav")
	if err := emulator.WriteWAV(p, seconds, 16000); err != nil {
		t.Fatal(err)
	}
	return p
}

func asr(t *testing.T, o emulator.ASROptions) *emulator.ASRServer {
	t.Helper()
	s := emulator.NewASR(o)
	t.Cleanup(s.Close)
	return s
}

var fixture = &emulator.ASRFixture{Entries: []emulator.ASREntry{{Duration: 12, Segments: []emulator.FixtureSegment{
	{Start: 0, End: 5, Text: "我们先看一下简历。"}, {Start: 5, End: 11.5, Text: "实习经历要写清楚。"}}}}}

func TestTranscriberModes(t *testing.T) {
	want := []kimi.TranscriptionSegment{{Start: 0, End: 5, Text: "我们先看一下简历。"}, {Start: 5, End: 11.5, Text: "实习经历要写清楚。"}}
	tests := []struct {
		mode     emulator.ASRMode
		segments bool
		format   string
	}{
		{emulator.ModeOpenAI, true, "verbose_json"},
		{emulator.ModeWhisperCPP, true, "verbose_json"},
		{emulator.ModeLocalAI, true, "verbose_json"},
		{emulator.ModeSiliconFlow, false, "verbose_json"},
		{emulator.ModeKimiAudio, false, "json"},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			s := asr(t, emulator.ASROptions{Mode: tt.mode, Fixture: fixture, APIKey: "k"})
			c := &kimi.Transcriber{BaseURL: s.URL(), APIKey: "k", Model: "m"}
			got, err := c.Transcribe(context.Background(), kimi.TranscribeRequest{Path: wav(t, 12), Language: "zh", Prompt: "以下是普通话的句子。", Duration: 12})
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != "我们先看一下简历。实习经历要写清楚。" {
				t.Errorf("text %q", got.Text)
			}
			if got.Format != tt.format {
				t.Errorf("format %q, want %q", got.Format, tt.format)
			}
			if !tt.segments {
				if got.Segments != nil {
					t.Errorf("segments from a server without timestamps: %+v", got.Segments)
				}
				return
			}
			if len(got.Segments) != 2 {
				t.Fatalf("segments %+v", got.Segments)
			}
			for i, s := range got.Segments {
				if s.Start != want[i].Start || s.End != want[i].End || s.Text != want[i].Text {
					t.Errorf("segment %d = %+v, want %+v", i, s, want[i])
				}
			}
			r := s.Requests()[0]
			if r.Model != "m" || r.Language != "zh" || r.Prompt != "以下是普通话的句子。" || r.Filename != "chunk-001.wav" || r.Duration != 12 {
				t.Errorf("request %+v", r)
			}
		})
	}
}

func TestTranscriberRemembersJSONOnly(t *testing.T) {
	s := asr(t, emulator.ASROptions{Mode: emulator.ModeKimiAudio})
	c := &kimi.Transcriber{BaseURL: s.URL(), Model: "moonshotai/Kimi-Audio-7B-Instruct"}
	for range 3 {
		if _, err := c.Transcribe(context.Background(), kimi.TranscribeRequest{Path: wav(t, 3)}); err != nil {
			t.Fatal(err)
		}
	}
	c2 := s.Counters()
	if c2.BadRequests != 1 || c2.Transcribed != 3 || c2.ByFormat["json"] != 3 {
		t.Errorf("verbose_json asked more than once: %+v", c2)
	}
}

func TestTranscriberErrors(t *testing.T) {
	tests := []struct {
		name string
		o    emulator.ASROptions
		key  string
		kind kimi.ErrorKind
	}{
		{"413", emulator.ASROptions{MaxBytes: 1000}, "", kimi.ErrTooLarge},
		{"401", emulator.ASROptions{APIKey: "right"}, "wrong", kimi.ErrAuth},
		{"whisper.cpp 401 string error", emulator.ASROptions{APIKey: "right", Mode: emulator.ModeWhisperCPP}, "", kimi.ErrAuth},
		{"503", emulator.ASROptions{FaultRate: 1, Faults: []emulator.Fault{emulator.FaultServerError}}, "", kimi.ErrServer},
		{"429", emulator.ASROptions{FaultRate: 1, Faults: []emulator.Fault{emulator.FaultRateLimit}}, "", kimi.ErrRateLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := asr(t, tt.o)
			c := &kimi.Transcriber{BaseURL: s.URL(), APIKey: tt.key, Model: "m"}
			_, err := c.Transcribe(context.Background(), kimi.TranscribeRequest{Path: wav(t, 2)})
			var ae *kimi.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an APIError", err)
			}
			if ae.Kind() != tt.kind {
				t.Errorf("kind %v, want %v (%v)", ae.Kind(), tt.kind, err)
			}
			if tt.kind == kimi.ErrRateLimit && ae.Wait.Seconds() != 1 {
				t.Errorf("wait %v, want 1s", ae.Wait)
			}
			if ae.Message == "" {
				t.Errorf("no message in %v", err)
			}
		})
	}
	t.Run("reset", func(t *testing.T) {
		s := asr(t, emulator.ASROptions{FaultRate: 1, Faults: []emulator.Fault{emulator.FaultReset}})
		c := &kimi.Transcriber{BaseURL: s.URL(), Model: "m"}
		_, err := c.Transcribe(context.Background(), kimi.TranscribeRequest{Path: wav(t, 2)})
		var ae *kimi.APIError
		if err == nil || errors.As(err, &ae) {
			t.Fatalf("want a connection error, got %v", err)
		}
	})
}

func moonshot(t *testing.T, o emulator.MoonshotOptions) (*emulator.MoonshotServer, *kimi.Chat) {
	t.Helper()
	s := emulator.NewMoonshot(o)
	t.Cleanup(s.Close)
	return s, &kimi.Chat{BaseURL: s.URL(), APIKey: "sk-test"}
}

// heal sends req's params until the model takes them, as kimi_classify does, and returns the answer and
// the notes of the adjustments.
func heal(t *testing.T, c *kimi.Chat, model string, msgs []kimi.Message, p kimi.Params, schema *kimi.JSONSchema) (*kimi.ChatResponse, []string) {
	t.Helper()
	var notes []string
	for range 5 {
		resp, err := c.Complete(context.Background(), p.Request(model, msgs, 8000, schema, "k1"))
		var ae *kimi.APIError
		if errors.As(err, &ae) {
			np, note, ok := kimi.Heal(p, ae)
			if !ok {
				t.Fatalf("%s: not healable: %v", model, err)
			}
			p, notes = np, append(notes, note)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp, notes
	}
	t.Fatalf("%s: still refused after 5 heals: %v", model, notes)
	return nil, nil
}

func TestChatHealsPerModel(t *testing.T) {
	msgs := []kimi.Message{{Role: "system", Content: "只输出 JSON。"}, {Role: "user", Content: "<transcript>我们来模拟面试，请先做自我介绍。</transcript>"}}
	temp := 0.3
	want := kimi.Params{Temperature: &temp, Thinking: "disabled", MaxField: "max_completion_tokens", Format: "json_object"}
	for _, tt := range []struct {
		model     string
		heals     int
		reasoning bool
	}{
		{"moonshot-v1-8k", 0, false},
		{"moonshot-v1-128k", 0, false},
		{"kimi-k2.6", 1, false},     // only 0.6 with thinking off: temperature left out
		{"kimi-k2.7-code", 2, true}, // thinking only enabled, then temperature only 1
		{"kimi-k3", 1, true},        // temperature only 1; reasons whatever it is told
	} {
		t.Run(tt.model, func(t *testing.T) {
			s, c := moonshot(t, emulator.MoonshotOptions{APIKey: "sk-test"})
			resp, notes := heal(t, c, tt.model, msgs, want, nil)
			if len(notes) != tt.heals {
				t.Errorf("heals %v, want %d", notes, tt.heals)
			}
			content, finish := resp.Content()
			var ans map[string]any
			if err := json.Unmarshal([]byte(content), &ans); err != nil || finish != "stop" || ans["phase"] != "面试模拟" {
				t.Fatalf("content %q finish %q: %v", content, finish, err)
			}
			u := resp.TokenUsage()
			if (u.Reasoning() > 0) != tt.reasoning || (resp.Choices[0].Message.ReasoningContent != "") != tt.reasoning {
				t.Errorf("reasoning tokens %d, content %q", u.Reasoning(), resp.Choices[0].Message.ReasoningContent)
			}
			if u.TotalTokens != u.PromptTokens+u.CompletionTokens || u.CompletionTokens < u.Reasoning() {
				t.Errorf("usage %+v", u)
			}
			var sent map[string]any
			reqs := s.Requests()
			_ = json.Unmarshal(reqs[len(reqs)-1], &sent)
			if _, has := sent["max_tokens"]; has || sent["max_completion_tokens"] != 8000.0 || sent["prompt_cache_key"] != "k1" {
				t.Errorf("sent %v", sent)
			}
		})
	}
	t.Run("unsupported max_tokens and json_schema", func(t *testing.T) {
		_, c := moonshot(t, emulator.MoonshotOptions{ModelSpecs: []emulator.ModelSpec{{ID: "kimi-k9", Context: 65536, NoMaxTokens: true, NoJSONSchema: true}}})
		p := want
		p.MaxField, p.Format = "max_tokens", "json_schema"
		schema := &kimi.JSONSchema{Name: "x", Strict: true, Schema: map[string]any{"type": "object"}}
		_, notes := heal(t, c, "kimi-k9", msgs, p, schema)
		if fmt.Sprint(notes) != "[output cap sent as max_completion_tokens json_schema refused, asking for json_object]" {
			t.Errorf("notes %q", notes)
		}
	})
	t.Run("other 400s are not healed", func(t *testing.T) {
		for _, msg := range []string{"Input token length too long", "Invalid request: messages must not be empty", "The request was rejected because it was considered high risk"} {
			if _, _, ok := kimi.Heal(want, &kimi.APIError{Status: 400, Type: "invalid_request_error", Message: msg}); ok {
				t.Errorf("healed %q", msg)
			}
		}
	})
}

func TestCachedPrefix(t *testing.T) {
	s, c := moonshot(t, emulator.MoonshotOptions{})
	msgs := []kimi.Message{{Role: "system", Content: strings.Repeat("固定的系统提示", 50)}, {Role: "user", Content: "你好"}}
	p := kimi.Params{MaxField: "max_completion_tokens"}
	var cached []int
	for range 2 {
		resp, err := c.Complete(context.Background(), p.Request("moonshot-v1-8k", msgs, 100, nil, "prefix-1"))
		if err != nil {
			t.Fatal(err)
		}
		cached = append(cached, resp.TokenUsage().Cached())
	}
	if cached[0] != 0 || cached[1] == 0 || s.Counters().Cached != cached[1] {
		t.Errorf("cached tokens %v", cached)
	}
}

func TestChat429Kinds(t *testing.T) {
	msgs := []kimi.Message{{Role: "user", Content: "你好"}}
	for _, tt := range []struct {
		fault emulator.Fault
		kind  kimi.ErrorKind
	}{
		{emulator.FaultRateLimit, kimi.ErrRateLimit},
		{emulator.FaultOverloaded, kimi.ErrOverloaded},
		{emulator.FaultQuota, kimi.ErrQuota},
		{emulator.FaultServerError, kimi.ErrServer},
		{emulator.FaultContentFilter, kimi.ErrContentFilter},
	} {
		t.Run(string(tt.fault), func(t *testing.T) {
			s, c := moonshot(t, emulator.MoonshotOptions{})
			s.Inject(tt.fault)
			_, err := c.Complete(context.Background(), kimi.ChatRequest{Model: "moonshot-v1-8k", Messages: msgs})
			var ae *kimi.APIError
			if !errors.As(err, &ae) || ae.Kind() != tt.kind {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
			if _, err := c.Complete(context.Background(), kimi.ChatRequest{Model: "moonshot-v1-8k", Messages: msgs}); err != nil {
				t.Errorf("injected fault outlived its call: %v", err)
			}
		})
	}
}

func TestChatEntryTier(t *testing.T) {
	s, c := moonshot(t, emulator.MoonshotOptions{RPM: 3, Concurrency: 1})
	msgs := []kimi.Message{{Role: "user", Content: "你好"}}
	for i := range 4 {
		_, err := c.Complete(context.Background(), kimi.ChatRequest{Model: "moonshot-v1-8k", Messages: msgs})
		if i < 3 && err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if i == 3 {
			var ae *kimi.APIError
			if !errors.As(err, &ae) || ae.Kind() != kimi.ErrRateLimit || ae.Wait.Seconds() != 1 ||
				!strings.Contains(ae.Message, "max request: 3") {
				t.Fatalf("4th call in a minute: %v", err)
			}
		}
	}
	if got := s.Counters(); got.Completions != 3 || got.RateLimited != 1 {
		t.Errorf("counters %+v", got)
	}
}

func TestChatEntryTierConcurrency(t *testing.T) {
	s, c := moonshot(t, emulator.MoonshotOptions{Concurrency: 1, Latency: time.Minute})
	msgs := []kimi.Message{{Role: "user", Content: "你好"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Complete(ctx, kimi.ChatRequest{Model: "moonshot-v1-8k", Messages: msgs})
		done <- err
	}()
	for s.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := c.Complete(context.Background(), kimi.ChatRequest{Model: "moonshot-v1-8k", Messages: msgs})
	var ae *kimi.APIError
	if !errors.As(err, &ae) || ae.Kind() != kimi.ErrRateLimit || !strings.Contains(ae.Message, "max concurrency: 1") {
		t.Errorf("second call in flight: %v", err)
	}
	cancel()
	<-done
}

func TestChatOtherEndpoints(t *testing.T) {
	s, c := moonshot(t, emulator.MoonshotOptions{APIKey: "sk-test"})
	ctx := context.Background()
	n, err := c.EstimateTokens(ctx, "moonshot-v1-8k", []kimi.Message{{Role: "user", Content: strings.Repeat("字", 160)}})
	if err != nil || n != 100 {
		t.Errorf("estimate = %d, %v; want 100", n, err)
	}
	ms, err := c.Models(ctx)
	if err != nil || len(ms) == 0 || ms[0].ID != "moonshot-v1-8k" || ms[0].ContextLength != 8192 {
		t.Errorf("models = %v, %v", ms, err)
	}
	b, err := c.Balance(ctx)
	if err != nil || b.Available != 49.58894 {
		t.Errorf("balance = %+v, %v", b, err)
	}
	bad := &kimi.Chat{BaseURL: s.URL(), APIKey: "sk-wrong"}
	_, err = bad.Models(ctx)
	var ae *kimi.APIError
	if !errors.As(err, &ae) || ae.Kind() != kimi.ErrAuth || ae.Type != "incorrect_api_key_error" {
		t.Errorf("wrong key: %v", err)
	}
	none := &kimi.Chat{BaseURL: s.URL()}
	if _, err = none.Balance(ctx); !errors.As(err, &ae) || ae.Type != "invalid_authentication_error" {
		t.Errorf("no key: %v", err)
	}
	if got := s.Counters(); got.Estimates != 1 || got.Models != 1 || got.Balance != 1 || got.Unauthorized != 2 {
		t.Errorf("counters %+v", got)
	}
}
