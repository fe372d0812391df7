package media

import (
	"math"
	"testing"
)

func TestPlan(t *testing.T) {
	opts := PlanOptions{Max: 600, Window: 60, Overlap: 2}
	tests := []struct {
		name     string
		total    float64
		silences []Silence
		opts     PlanOptions
		want     []Span
	}{
		{name: "short recording is one chunk", total: 300, opts: opts, want: []Span{{0, 300, false}}},
		{name: "exactly the maximum", total: 600, opts: opts, want: []Span{{0, 600, false}}},
		{name: "no silence: hard cuts with overlap", total: 1500, opts: opts,
			want: []Span{{0, 600, true}, {598, 1198, true}, {1196, 1500, false}}},
		{name: "longest silence in the window wins", total: 1000, opts: opts,
			silences: []Silence{{500, 530}, {560, 561}, {570, 574}, {590, 591}, {610, 640}},
			want:     []Span{{0, 572, false}, {572, 1000, false}}},
		{name: "silence whose middle is past the limit is ignored", total: 1000, opts: opts,
			silences: []Silence{{595, 615}}, want: []Span{{0, 600, true}, {598, 1000, false}}},
		{name: "silence to the end of the recording", total: 700, opts: PlanOptions{Max: 400, Window: 100},
			silences: []Silence{{350, -1}}, want: []Span{{0, 400, true}, {400, 700, false}}},
		{name: "window never exceeds half a chunk", total: 50, opts: PlanOptions{Max: 20, Window: 60, Overlap: 1},
			silences: []Silence{{2, 4}, {14, 16}, {33, 35}},
			want:     []Span{{0, 15, false}, {15, 34, false}, {34, 50, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(tt.total, tt.silences, tt.opts)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i].Start-tt.want[i].Start) > 1e-9 || math.Abs(got[i].End-tt.want[i].End) > 1e-9 || got[i].Hard != tt.want[i].Hard {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			for i, s := range got {
				if s.End-s.Start > tt.opts.Max+1e-9 {
					t.Errorf("span %d is %.1f s, over the maximum %.1f", i, s.End-s.Start, tt.opts.Max)
				}
			}
		})
	}
}

func TestEncodingMaxSeconds(t *testing.T) {
	tests := []struct {
		enc      Encoding
		maxBytes int64
		lo, hi   float64
	}{
		{Encoding{Codec: "flac", SampleRate: 16000}, 25_000_000, 700, 800},
		{Encoding{Codec: "mp3", Bitrate: 32000, SampleRate: 16000}, 25_000_000, 5000, 6000},
		{Encoding{Codec: "opus", Bitrate: 24000, SampleRate: 16000}, 1_000_000, 200, 300},
	}
	for _, tt := range tests {
		t.Run(tt.enc.Codec, func(t *testing.T) {
			if got := tt.enc.MaxSeconds(tt.maxBytes); got < tt.lo || got > tt.hi {
				t.Errorf("MaxSeconds(%d) = %.0f, want %.0f..%.0f", tt.maxBytes, got, tt.lo, tt.hi)
			}
		})
	}
}
