package kimi_test

import (
	"context"
	"encoding/json"
	"errors"
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

func TestChatRequestPerFamily(t *testing.T) {
	msgs := []kimi.Message{{Role: "system", Content: "只输出 JSON。"}, {Role: "user", Content: "<transcript>我们来模拟面试，请先做自我介绍。</transcript>"}}
	for _, model := range []string{"moonshot-v1-8k", "kimi-k2.6", "kimi-k2.5", "kimi-k2-turbo-preview"} {
		t.Run(model, func(t *testing.T) {
			s, c := moonshot(t, emulator.MoonshotOptions{APIKey: "sk-test"})
			req := kimi.NewChatRequest(model, msgs, kimi.ChatOptions{JSON: true, Temperature: 0.3, MaxTokens: 512})
			resp, err := c.Complete(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			content, finish := resp.Content()
			var ans map[string]any
			if err := json.Unmarshal([]byte(content), &ans); err != nil || finish != "stop" {
				t.Fatalf("content %q finish %q: %v", content, finish, err)
			}
			if ans["phase"] != "面试模拟" {
				t.Errorf("answer %v", ans)
			}
			var sent map[string]any
			_ = json.Unmarshal(s.Requests()[0], &sent)
			fixed := strings.HasPrefix(model, "kimi-k2.5") || strings.HasPrefix(model, "kimi-k2.6")
			if _, has := sent["temperature"]; has == fixed {
				t.Errorf("temperature sent=%v for %s", has, model)
			}
			if th, _ := sent["thinking"].(map[string]any); fixed != (th != nil && th["type"] == "disabled") {
				t.Errorf("thinking %v for %s", sent["thinking"], model)
			}
			if _, has := sent["n"]; has {
				t.Error("n sent")
			}
			if resp.Choices[0].Message.ReasoningContent != "" {
				t.Error("reasoning_content with thinking disabled")
			}
			if u := resp.TokenUsage(); u.TotalTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Errorf("usage %+v", u)
			}
		})
	}
	t.Run("emulator rejects a temperature on k2.6", func(t *testing.T) {
		_, c := moonshot(t, emulator.MoonshotOptions{})
		temp := 0.3
		_, err := c.Complete(context.Background(), kimi.ChatRequest{Model: "kimi-k2.6", Messages: msgs, Temperature: &temp})
		var ae *kimi.APIError
		if !errors.As(err, &ae) || ae.Kind() != kimi.ErrBadRequest {
			t.Fatalf("got %v", err)
		}
	})
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
			_, err := c.Complete(context.Background(), kimi.NewChatRequest("moonshot-v1-8k", msgs, kimi.ChatOptions{}))
			var ae *kimi.APIError
			if !errors.As(err, &ae) || ae.Kind() != tt.kind {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
			if _, err := c.Complete(context.Background(), kimi.NewChatRequest("moonshot-v1-8k", msgs, kimi.ChatOptions{})); err != nil {
				t.Errorf("injected fault outlived its call: %v", err)
			}
		})
	}
}

func TestChatEntryTier(t *testing.T) {
	s, c := moonshot(t, emulator.MoonshotOptions{RPM: 3, Concurrency: 1})
	msgs := []kimi.Message{{Role: "user", Content: "你好"}}
	for i := range 4 {
		_, err := c.Complete(context.Background(), kimi.NewChatRequest("moonshot-v1-8k", msgs, kimi.ChatOptions{}))
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
		_, err := c.Complete(ctx, kimi.NewChatRequest("moonshot-v1-8k", msgs, kimi.ChatOptions{}))
		done <- err
	}()
	for s.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := c.Complete(context.Background(), kimi.NewChatRequest("moonshot-v1-8k", msgs, kimi.ChatOptions{}))
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
	ids, err := c.Models(ctx)
	if err != nil || len(ids) == 0 || ids[0] != "moonshot-v1-8k" {
		t.Errorf("models = %v, %v", ids, err)
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
