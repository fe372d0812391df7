package kimi_test

import (
	"context"
	"testing"

	"meetpipe/steps/kimi"
	"meetpipe/steps/kimi/emulator"
)

func diarizedFixture() *emulator.ASRFixture {
	return &emulator.ASRFixture{Entries: []emulator.ASREntry{{Duration: 40, Segments: []emulator.FixtureSegment{
		{Start: 0.5, End: 9.25, Text: "你先介绍一下自己？", Speaker: "A"},
		{Start: 11.5, End: 30.125, Text: "我叫李明。", Speaker: "B"},
	}}}}
}

// diarized_json goes with chunking_strategy=auto and without the prompt, and the labels come back on the
// segments; a server without the format is asked for verbose_json, where funasr-api gives the labels.
func TestTranscriberDiarizes(t *testing.T) {
	for _, tc := range []struct {
		mode      emulator.ASRMode
		answered  string
		speaker   string
		attempted int
	}{
		{emulator.ModeOpenAI, kimi.DiarizedJSON, "A", 1},
		{emulator.ModeFunASR, "verbose_json", "A", 2},
		{emulator.ModeVLLM, "verbose_json", "", 2},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			s := asr(t, emulator.ASROptions{Mode: tc.mode, Fixture: diarizedFixture()})
			c := &kimi.Transcriber{BaseURL: s.URL(), Model: "gpt-4o-transcribe-diarize"}
			got, err := c.Transcribe(context.Background(), kimi.TranscribeRequest{Path: wav(t, 40), Language: "zh",
				Prompt: "以下是普通话的句子。", ResponseFormat: kimi.DiarizedJSON, Duration: 40})
			if err != nil {
				t.Fatal(err)
			}
			if got.Format != tc.answered || len(got.Segments) != 2 || got.Segments[0].Speaker != tc.speaker ||
				got.Segments[1].Start != 11.5 || got.Segments[1].End != 30.125 {
				t.Fatalf("answer %s %+v", got.Format, got.Segments)
			}
			reqs := s.Requests()
			if len(reqs) != tc.attempted {
				t.Fatalf("%d requests, want %d", len(reqs), tc.attempted)
			}
			if r := reqs[0]; r.ResponseFormat != kimi.DiarizedJSON || r.ChunkingStrategy != "auto" || r.Prompt != "" {
				t.Errorf("first request %+v", r)
			}
			// The learned fallback: the next file goes straight to verbose_json.
			if tc.attempted == 2 {
				if _, err := c.Transcribe(context.Background(), kimi.TranscribeRequest{Path: wav(t, 40), ResponseFormat: kimi.DiarizedJSON}); err != nil {
					t.Fatal(err)
				}
				if n := len(s.Requests()); n != 3 {
					t.Errorf("%d requests after the second file, want 3", n)
				}
			}
		})
	}
}
