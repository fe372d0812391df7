package kimi_test

import (
	"context"
	"strings"
	"testing"

	"meetpipe/runner/finding"
	"meetpipe/steps/kimi"
	"meetpipe/steps/kimi/emulator"
)

func subjects(fs []finding.Finding) map[string]finding.Finding {
	m := map[string]finding.Finding{}
	for _, f := range fs {
		m[strings.Fields(f.Subject)[0]+" "+strings.Fields(f.Subject)[1]] = f
	}
	return m
}

func noSecret(t *testing.T, fs []finding.Finding, secret string) {
	t.Helper()
	for _, f := range fs {
		if strings.Contains(f.Subject+f.Detail+f.Remedy, secret) {
			t.Errorf("finding shows the key: %+v", f)
		}
	}
}

func TestCheckTranscriber(t *testing.T) {
	const model, key = "moonshotai/Kimi-Audio-7B-Instruct", "sk-asr-check-secret"
	ctx := context.Background()
	t.Run("models not served", func(t *testing.T) {
		s := emulator.NewASR(emulator.ASROptions{APIKey: key})
		defer s.Close()
		fs := kimi.CheckTranscriber(ctx, &kimi.Transcriber{BaseURL: s.URL(), APIKey: key, Model: model}, false)
		if len(fs) != 1 || fs[0].Status != "ok" || !strings.Contains(fs[0].Detail, "not checked") {
			t.Errorf("%+v", fs)
		}
		if c := s.Counters(); c.Requests != 0 {
			t.Errorf("a free check transcribed: %+v", c)
		}
	})
	t.Run("model listed, spend", func(t *testing.T) {
		s := emulator.NewASR(emulator.ASROptions{APIKey: key, Mode: emulator.ModeVLLM, Models: []string{model}})
		defer s.Close()
		fs := kimi.CheckTranscriber(ctx, &kimi.Transcriber{BaseURL: s.URL(), APIKey: key, Model: model}, true)
		if len(fs) != 2 || fs[0].Status != "ok" || fs[1].Status != "ok" || !strings.Contains(fs[1].Detail, "silence") {
			t.Errorf("%+v", fs)
		}
		if c := s.Counters(); c.Transcribed != 1 {
			t.Errorf("--spend transcribed %d times, want 1", c.Transcribed)
		}
		noSecret(t, fs, key)
	})
	t.Run("unknown model", func(t *testing.T) {
		s := emulator.NewASR(emulator.ASROptions{Mode: emulator.ModeVLLM, Models: []string{"openai/whisper-large-v3"}})
		defer s.Close()
		fs := kimi.CheckTranscriber(ctx, &kimi.Transcriber{BaseURL: s.URL(), Model: model}, true)
		if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Detail, "openai/whisper-large-v3") ||
			!strings.Contains(fs[0].Remedy, "ASR_MODEL") {
			t.Errorf("%+v", fs)
		}
		if c := s.Counters(); c.Requests != 0 {
			t.Errorf("transcribed with a model the server lacks: %+v", c)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		s := emulator.NewASR(emulator.ASROptions{APIKey: key, Models: []string{model}})
		defer s.Close()
		fs := kimi.CheckTranscriber(ctx, &kimi.Transcriber{BaseURL: s.URL(), APIKey: "sk-wrong-key", Model: model}, false)
		if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Remedy, "ASR_API_KEY") {
			t.Errorf("%+v", fs)
		}
		noSecret(t, fs, "sk-wrong-key")
	})
	t.Run("unreachable", func(t *testing.T) {
		s := emulator.NewASR(emulator.ASROptions{})
		url := s.URL()
		s.Close()
		fs := kimi.CheckTranscriber(ctx, &kimi.Transcriber{BaseURL: url, Model: model}, false)
		if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Remedy, "ASR_BASE_URL") {
			t.Errorf("%+v", fs)
		}
	})
}

func TestCheckChat(t *testing.T) {
	const key = "sk-moonshot-check-secret"
	ctx := context.Background()
	t.Run("all good", func(t *testing.T) {
		s := emulator.NewMoonshot(emulator.MoonshotOptions{APIKey: key})
		defer s.Close()
		fs := kimi.CheckChat(ctx, &kimi.Chat{BaseURL: s.URL(), APIKey: key}, "moonshot-v1-128k")
		if len(fs) != 3 {
			t.Fatalf("%+v", fs)
		}
		for _, f := range fs {
			if f.Status != "ok" {
				t.Errorf("%+v", f)
			}
		}
		if c := s.Counters(); c.Chat != 0 || c.Models != 1 || c.Balance != 1 {
			t.Errorf("counters %+v: want one model list, one balance and no chat", c)
		}
		noSecret(t, fs, key)
	})
	t.Run("key for the other region", func(t *testing.T) {
		s := emulator.NewMoonshot(emulator.MoonshotOptions{APIKey: key})
		defer s.Close()
		fs := kimi.CheckChat(ctx, &kimi.Chat{BaseURL: s.URL(), APIKey: "sk-other-region"}, "moonshot-v1-128k")
		if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Remedy, "other region") {
			t.Errorf("%+v", fs)
		}
		noSecret(t, fs, "sk-other-region")
	})
	t.Run("unknown model", func(t *testing.T) {
		s := emulator.NewMoonshot(emulator.MoonshotOptions{Models: []string{"kimi-k2.5"}})
		defer s.Close()
		fs := subjects(kimi.CheckChat(ctx, &kimi.Chat{BaseURL: s.URL()}, "moonshot-v1-128k"))
		if f := fs["Moonshot model"]; f.Status != "fail" || !strings.Contains(f.Remedy, "KIMI_MODEL to one of kimi-k2.5") {
			t.Errorf("%+v", f)
		}
	})
	t.Run("empty balance", func(t *testing.T) {
		s := emulator.NewMoonshot(emulator.MoonshotOptions{EmptyBalance: true})
		defer s.Close()
		fs := subjects(kimi.CheckChat(ctx, &kimi.Chat{BaseURL: s.URL()}, "moonshot-v1-128k"))
		if f := fs["Moonshot balance"]; f.Status != "fail" || !strings.Contains(f.Remedy, "top up") {
			t.Errorf("%+v", f)
		}
	})
}
