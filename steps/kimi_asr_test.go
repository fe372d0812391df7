package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/kimi"
	"meetpipe/steps/kimi/emulator"
	"meetpipe/steps/media"
	"meetpipe/steps/media/mediatest"
	"meetpipe/steps/steptest"
)

// kimiChunks writes silent WAV chunks of the given durations, each starting at its offset.
func kimiChunks(t *testing.T, spans ...[2]float64) media.Audio {
	t.Helper()
	dir := t.TempDir()
	a := media.Audio{Path: filepath.Join(dir, "audio.wav"), Keep: true}
	end := 0.0
	for i, sp := range spans {
		p := filepath.Join(dir, fmt.Sprintf("chunk-%03d.wav", i+1))
		if err := emulator.WriteWAV(p, sp[1], 16000); err != nil {
			t.Fatal(err)
		}
		a.Chunks = append(a.Chunks, media.Chunk{Path: p, OffsetS: sp[0], DurationS: sp[1]})
		end = max(end, sp[0]+sp[1])
	}
	a.DurationS = end
	if err := emulator.WriteWAV(a.Path, end, 16000); err != nil {
		t.Fatal(err)
	}
	return a
}

func kimiAudioItem(t *testing.T, a media.Audio) *step.Item {
	t.Helper()
	it, err := step.NewItem("rec1", step.Fields{"audio": a})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func asrServer(t *testing.T, o emulator.ASROptions) *emulator.ASRServer {
	t.Helper()
	s := emulator.NewASR(o)
	t.Cleanup(s.Close)
	return s
}

func newTestASR(t *testing.T, s *emulator.ASRServer, extra string) *kimiASR {
	t.Helper()
	return steptest.As[*kimiASR](t, "kimi_asr", fmt.Sprintf("base_url: %s\napi_key: sk-asr\n%s", s.URL(), extra))
}

// Two chunks overlapping by 2 s (10–12 s), cut at 11 s: "下一段。" is heard by both.
var asrOverlapFixture = &emulator.ASRFixture{Tolerance: 0.2, Entries: []emulator.ASREntry{
	{Duration: 12, Segments: []emulator.FixtureSegment{
		{Start: 0, End: 5, Text: "我们先看一下简历。"}, {Start: 5, End: 10.5, Text: "实习经历要写清楚。"},
		{Start: 10.6, End: 11.8, Text: "下一段。"}}},
	{Duration: 8, Segments: []emulator.FixtureSegment{
		{Start: 0.6, End: 1.8, Text: "下一段。"}, {Start: 2, End: 7.5, Text: "项目难点讲一讲。"}}},
}}

func TestKimiASRMergesChunks(t *testing.T) {
	t.Parallel() // its own servers and files
	timed := []kimi.Segment{{Start: 0, End: 5, Text: "我们先看一下简历。"}, {Start: 5, End: 10.5, Text: "实习经历要写清楚。"},
		{Start: 10.6, End: 11.8, Text: "下一段。"}, {Start: 12, End: 17.5, Text: "项目难点讲一讲。"}}
	pseudo := []kimi.Segment{{Start: 0, End: 11, Text: "我们先看一下简历。实习经历要写清楚。下一段。"},
		{Start: 11, End: 18, Text: "项目难点讲一讲。"}}
	for _, tt := range []struct {
		mode emulator.ASRMode
		want []kimi.Segment
	}{
		{emulator.ModeOpenAI, timed},
		{emulator.ModeWhisperCPP, timed},
		{emulator.ModeLocalAI, timed}, // nanosecond times
		{emulator.ModeSiliconFlow, pseudo},
		{emulator.ModeKimiAudio, pseudo}, // verbose_json refused, json fallback
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			s := asrServer(t, emulator.ASROptions{Mode: tt.mode, Fixture: asrOverlapFixture, APIKey: "sk-asr"})
			stp := newTestASR(t, s, "")
			out, err := stp.Process(context.Background(), kimiAudioItem(t, kimiChunks(t, [2]float64{0, 12}, [2]float64{10, 8})))
			if err != nil {
				t.Fatal(err)
			}
			tr := out["transcript"].(kimi.Transcript)
			if !reflect.DeepEqual(tr.Segments, tt.want) {
				t.Errorf("segments\n got %+v\nwant %+v", tr.Segments, tt.want)
			}
			if tr.Text != "我们先看一下简历。实习经历要写清楚。下一段。项目难点讲一讲。" {
				t.Errorf("text %q", tr.Text)
			}
			reqs := s.Requests()
			if tt.mode == emulator.ModeKimiAudio {
				if len(reqs) != 3 || reqs[0].ResponseFormat != "verbose_json" || reqs[1].ResponseFormat != "json" || reqs[2].ResponseFormat != "json" {
					t.Errorf("fallback requests %+v", reqs)
				}
			} else if len(reqs) != 2 {
				t.Errorf("%d requests for 2 chunks", len(reqs))
			}
		})
	}
}

func TestKimiASRPromptCarryOver(t *testing.T) {
	fx := &emulator.ASRFixture{Entries: []emulator.ASREntry{
		{Duration: 5, Text: "第一块说完了。"}, {Duration: 6, Text: "第二块也说完了。"}, {Duration: 7, Text: "第三块。"}}}
	const prefix = "以下是普通话的句子。"
	spans := [][2]float64{{0, 5}, {5, 6}, {11, 7}}
	t.Run("sequential", func(t *testing.T) {
		s := asrServer(t, emulator.ASROptions{Fixture: fx})
		stp := newTestASR(t, s, "carry_over: 5")
		if _, err := stp.Process(context.Background(), kimiAudioItem(t, kimiChunks(t, spans...))); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range s.Requests() {
			got = append(got, r.Prompt)
		}
		want := []string{prefix, prefix + "块说完了。", prefix + "也说完了。"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("prompts %q, want %q", got, want)
		}
	})
	t.Run("parallel has no carry-over", func(t *testing.T) {
		s := asrServer(t, emulator.ASROptions{Fixture: fx})
		stp := newTestASR(t, s, "chunk_concurrency: 3")
		out, err := stp.Process(context.Background(), kimiAudioItem(t, kimiChunks(t, spans...)))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Requests() {
			if r.Prompt != prefix {
				t.Errorf("prompt %q with parallel chunks", r.Prompt)
			}
		}
		if tr := out["transcript"].(kimi.Transcript); tr.Text != "第一块说完了。第二块也说完了。第三块。" {
			t.Errorf("parallel chunks merged out of order: %q", tr.Text)
		}
	})
}

func TestKimiASRFiltersHallucinations(t *testing.T) {
	noSpeech, low := 0.9, -1.5
	fx := &emulator.ASRFixture{Entries: []emulator.ASREntry{{Duration: 10, Segments: []emulator.FixtureSegment{
		{Start: 0, End: 3, Text: "我们开始。"},
		{Start: 3, End: 5, Text: "字幕由Amara.org社群提供"},
		{Start: 5, End: 7, Text: "嗯嗯", NoSpeechProb: &noSpeech, AvgLogprob: &low},
		{Start: 7, End: 9, Text: "谢谢观看"},
		{Start: 9, End: 10, Text: "结束。"},
	}}}}
	for _, tt := range []struct {
		name, with string
		want       string
	}{
		{"defaults", "", "我们开始。谢谢观看结束。"},
		{"list from YAML", "hallucinations: [谢谢观看]\nno_speech_threshold: 1", "我们开始。字幕由Amara.org社群提供嗯嗯结束。"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := asrServer(t, emulator.ASROptions{Fixture: fx})
			out, err := newTestASR(t, s, tt.with).Process(context.Background(), kimiAudioItem(t, kimiChunks(t, [2]float64{0, 10})))
			if err != nil {
				t.Fatal(err)
			}
			if got := out["transcript"].(kimi.Transcript).Text; got != tt.want {
				t.Errorf("text %q, want %q", got, tt.want)
			}
		})
	}
}

// kimiEnv checks that err blames the environment: the item stays pending and the run stops.
func kimiEnv(t *testing.T, err error) {
	t.Helper()
	if k, _ := step.Classify(err); err == nil || k != step.KindDeferred || !step.IsEnvironmental(err) {
		t.Fatalf("error %v is not environmental", err)
	}
}

func kimiKind(t *testing.T, err error, want step.Kind) time.Duration {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	k, after := step.Classify(err)
	if k != want {
		t.Fatalf("error %q is %v, want %v", err, k, want)
	}
	return after
}

func TestKimiASRErrors(t *testing.T) {
	ctx := step.WithRunScope(context.Background()) // one run: a stop holds for its later items
	t.Run("413 names the limit", func(t *testing.T) {
		s := asrServer(t, emulator.ASROptions{MaxBytes: 100 << 10})
		_, err := newTestASR(t, s, "").Process(ctx, kimiAudioItem(t, kimiChunks(t, [2]float64{0, 5})))
		kimiKind(t, err, step.KindPermanent)
		if !strings.Contains(err.Error(), "413") || !strings.Contains(err.Error(), "max_upload_mb is 25 MB") {
			t.Errorf("message: %v", err)
		}
		if s.Counters().TooLarge != 1 {
			t.Errorf("counters %+v", s.Counters())
		}
	})
	t.Run("vLLM's 400 Maximum file size exceeded is too large, with the hint", func(t *testing.T) {
		s := asrServer(t, emulator.ASROptions{Mode: emulator.ModeVLLM, MaxBytes: 100 << 10})
		_, err := newTestASR(t, s, "").Process(ctx, kimiAudioItem(t, kimiChunks(t, [2]float64{0, 5})))
		kimiKind(t, err, step.KindPermanent)
		if !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "refused the chunk as too large") ||
			!strings.Contains(err.Error(), "VLLM_MAX_AUDIO_CLIP_FILESIZE_MB") {
			t.Errorf("message: %v", err)
		}
	})
	t.Run("over max_upload_mb fails without an upload", func(t *testing.T) {
		s := asrServer(t, emulator.ASROptions{})
		_, err := newTestASR(t, s, "max_upload_mb: 0.1").Process(ctx, kimiAudioItem(t, kimiChunks(t, [2]float64{0, 1}, [2]float64{1, 5})))
		kimiKind(t, err, step.KindPermanent)
		if !strings.Contains(err.Error(), "chunk 2 of 2") || !strings.Contains(err.Error(), "max_upload_mb 0.1") {
			t.Errorf("message: %v", err)
		}
		if n := s.Counters().Requests; n != 0 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("401 names ASR_API_KEY and stops the run", func(t *testing.T) {
		s := asrServer(t, emulator.ASROptions{APIKey: "other"})
		stp := newTestASR(t, s, "")
		_, err := stp.Process(ctx, kimiAudioItem(t, kimiChunks(t, [2]float64{0, 2})))
		kimiEnv(t, err)
		if !strings.Contains(err.Error(), "ASR_API_KEY") || strings.Contains(err.Error(), "sk-asr") {
			t.Errorf("message: %v", err)
		}
		_, err = stp.Process(ctx, kimiAudioItem(t, kimiChunks(t, [2]float64{0, 3})))
		kimiEnv(t, err)
		if n := s.Counters().Requests; n != 1 {
			t.Errorf("%d requests after a rejected key, want 1", n)
		}
	})
	for _, tt := range []struct {
		fault emulator.Fault
		kind  step.Kind
		after time.Duration
	}{
		{emulator.FaultRateLimit, step.KindTransient, time.Second},
		{emulator.FaultServerError, step.KindTransient, 0},
		{emulator.FaultReset, step.KindTransient, 0},
		{emulator.FaultQuota, step.KindDeferred, 0},
		// A 200 with a proxy's HTML page is no transcript: transient, not kept, and the retry transcribes.
		{emulator.FaultHTML, step.KindTransient, 0},
	} {
		t.Run(string(tt.fault), func(t *testing.T) {
			s := asrServer(t, emulator.ASROptions{})
			s.Inject(tt.fault)
			stp := newTestASR(t, s, "")
			_, err := stp.Process(ctx, kimiAudioItem(t, kimiChunks(t, [2]float64{0, 2})))
			if after := kimiKind(t, err, tt.kind); after != tt.after {
				t.Errorf("after %v, want %v", after, tt.after)
			}
			if tt.fault == emulator.FaultRateLimit {
				return // the limiter now holds every call for a second
			}
			out, err := stp.Process(ctx, kimiAudioItem(t, kimiChunks(t, [2]float64{0, 2})))
			if tr, ok := out["transcript"].(kimi.Transcript); ok && strings.Contains(tr.Text, "html") {
				t.Errorf("an HTML page became the transcript: %q", tr.Text)
			}
			if tt.kind == step.KindDeferred {
				kimiKind(t, err, step.KindDeferred)
				if n := s.Counters().Requests; n != 1 {
					t.Errorf("%d requests after the quota ran out, want 1", n)
				}
			} else if err != nil {
				t.Errorf("retry: %v", err)
			}
		})
	}
}

func TestKimiASRRetryKeepsFinishedChunks(t *testing.T) {
	s := asrServer(t, emulator.ASROptions{Fixture: asrOverlapFixture})
	s.Inject("", emulator.FaultServerError) // the first chunk goes through, the second fails
	stp := newTestASR(t, s, "")
	it := kimiAudioItem(t, kimiChunks(t, [2]float64{0, 12}, [2]float64{10, 8}))
	ctx := step.WithRunScope(context.Background()) // the engine's retry is within one run
	_, err := stp.Process(ctx, it)
	kimiKind(t, err, step.KindTransient)
	out, err := stp.Process(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Counters().Requests; n != 3 {
		t.Errorf("%d requests, want 3: the retry sent the finished chunk again", n)
	}
	if tr := out["transcript"].(kimi.Transcript); len(tr.Segments) != 4 {
		t.Errorf("segments %+v", tr.Segments)
	}
}

func TestKimiASRDeletesAudioWhenNotKept(t *testing.T) {
	s := asrServer(t, emulator.ASROptions{})
	a := kimiChunks(t, [2]float64{0, 3}, [2]float64{3, 3})
	if _, err := newTestASR(t, s, "").Process(context.Background(), kimiAudioItem(t, a)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.Chunks[0].Path); err != nil {
		t.Fatalf("kept audio deleted: %v", err)
	}
	a.Keep = false
	if _, err := newTestASR(t, s, "").Process(context.Background(), kimiAudioItem(t, a)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a.Path, a.Chunks[0].Path, a.Chunks[1].Path} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (%v)", filepath.Base(p), err)
		}
	}
}

// TestKimiASROnFFmpegChunks transcribes the FLAC chunks ffmpeg_audio cuts from a generated meeting: the
// emulator reads each chunk's length from its header, so a fixture keyed by duration reaches each chunk,
// and the offsets place every segment inside its chunk.
func TestKimiASROnFFmpegChunks(t *testing.T) {
	t.Parallel() // its own media, servers and state
	m := mediatest.MustGenerate(t, mediatest.MeetingSpec{Silences: []time.Duration{2 * time.Second, 2 * time.Second,
		2 * time.Second, 2 * time.Second, 2 * time.Second}, Lead: time.Second, Tail: time.Second})
	impl, _ := steptest.Build(t, "ffmpeg_audio", "chunk_minutes: 0.25\nsilence_window: 8s")
	fi, err := os.Stat(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	it, err := step.NewItem("rec1", step.Fields{"media": []media.File{{FileID: "f1", Path: m.Path, Bytes: fi.Size()}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := impl.(step.Step).Process(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	audio := out["audio"].(media.Audio)
	if len(audio.Chunks) < 2 {
		t.Fatalf("want several chunks, got %+v", audio.Chunks)
	}
	fx := &emulator.ASRFixture{Tolerance: 0.05}
	for i, c := range audio.Chunks {
		fx.Entries = append(fx.Entries, emulator.ASREntry{Duration: c.DurationS, Text: fmt.Sprintf("第%d块第一句。第%d块第二句。", i+1, i+1)})
	}
	s := asrServer(t, emulator.ASROptions{Fixture: fx})
	out, err = newTestASR(t, s, "").Process(context.Background(), kimiAudioItem(t, audio))
	if err != nil {
		t.Fatal(err)
	}
	tr := out["transcript"].(kimi.Transcript)
	if len(tr.Segments) != 2*len(audio.Chunks) {
		t.Fatalf("segments %+v", tr.Segments)
	}
	for i, sg := range tr.Segments {
		c := audio.Chunks[i/2]
		if want := fmt.Sprintf("第%d块", i/2+1); !strings.HasPrefix(sg.Text, want) {
			t.Errorf("segment %d %q is not from chunk %d", i, sg.Text, i/2+1)
		}
		if sg.Start < c.OffsetS-0.01 || sg.End > c.OffsetS+c.DurationS+0.01 {
			t.Errorf("segment %d [%v, %v] outside chunk %d [%v, %v]", i, sg.Start, sg.End, i/2+1, c.OffsetS, c.OffsetS+c.DurationS)
		}
	}
	for _, r := range s.Requests() {
		if r.Entry == "generated" || r.Duration == 0 {
			t.Errorf("request %+v did not match the fixture by duration", r)
		}
	}
}

func TestKimiASRConfigKey(t *testing.T) {
	key := func(with string) string {
		t.Helper()
		_, cfg := steptest.Build(t, "kimi_asr", with)
		b, err := step.MemoJSON(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := key("base_url: http://a:1/v1\napi_key: k1")
	if strings.Contains(base, "k1") || strings.Contains(base, "http://a:1") {
		t.Errorf("key carries connection settings: %s", base)
	}
	for _, with := range []string{"base_url: http://b:2/v1\napi_key: k2\ntimeout: 1m\nmax_upload_mb: 50", "base_url: http://a:1/v1\napi_key: k1"} {
		if k := key(with); k != base {
			t.Errorf("key changed with %q:\n%s\n%s", with, k, base)
		}
	}
	for _, with := range []string{"prompt: 以下是中文。", "hallucinations: [x]", "model: whisper-1", "chunk_concurrency: 2"} {
		if k := key("base_url: http://a:1/v1\n" + with); k == base {
			t.Errorf("key unchanged with %q", with)
		}
	}
}
