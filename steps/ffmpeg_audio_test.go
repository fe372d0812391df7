package steps

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/media"
	"meetpipe/steps/media/mediatest"
	"meetpipe/steps/steptest"
)

func newTestAudio(t *testing.T, with string) (*ffmpegAudio, error) {
	t.Helper()
	impl, _, err := steptest.New(t, "ffmpeg_audio", with, steptest.Options{})
	if err != nil {
		return nil, err
	}
	return impl.(*ffmpegAudio), nil
}

func mustTestAudio(t *testing.T, with string) *ffmpegAudio {
	t.Helper()
	s, err := newTestAudio(t, with)
	if err != nil {
		t.Fatalf("build ffmpeg_audio: %v", err)
	}
	return s
}

func mediaItem(t *testing.T, paths ...string) *step.Item {
	t.Helper()
	var files []media.File
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, media.File{FileID: "f" + string(rune('1'+i)), Path: p, Bytes: fi.Size()})
	}
	it, err := step.NewItem("rec-1", step.Fields{"media": files})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func runAudio(t *testing.T, s *ffmpegAudio, in *step.Item) (media.Audio, *step.Item) {
	t.Helper()
	f, err := s.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := step.NewItem(in.ID(), f)
	if err != nil {
		t.Fatal(err)
	}
	var a media.Audio
	if err := out.Get("audio", &a); err != nil {
		t.Fatal(err)
	}
	return a, out
}

// checkChunks asserts the invariants every chunking must keep: chunks tile the recording (meeting at a
// cut, or overlapping by overlap after a hard cut), none is longer than maxSec, and each file holds the
// audio its record says.
func checkChunks(t *testing.T, a media.Audio, maxSec, overlap float64, codec string) {
	t.Helper()
	if len(a.Chunks) == 0 {
		t.Fatal("no chunks")
	}
	ff, err := media.NewFFmpeg()
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	t.Logf("%.3f s in %d chunks: %+v", a.DurationS, len(a.Chunks), a.Chunks)
	for i, c := range a.Chunks {
		if c.DurationS > maxSec+1e-6 {
			t.Errorf("chunk %d lasts %.3f s, over the maximum %.3f", i, c.DurationS, maxSec)
		}
		if i == 0 && c.OffsetS != 0 {
			t.Errorf("first chunk starts at %.3f", c.OffsetS)
		}
		if i > 0 {
			prev := a.Chunks[i-1]
			gap := prev.OffsetS + prev.DurationS - c.OffsetS
			if math.Abs(gap) > 1e-6 && math.Abs(gap-overlap) > 1e-6 {
				t.Errorf("chunk %d starts at %.3f, chunk %d ends at %.3f: want them to meet or overlap by %.1f s",
					i, c.OffsetS, i-1, prev.OffsetS+prev.DurationS, overlap)
			}
		}
		p, err := ff.Probe(context.Background(), c.Path)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		st, _ := p.Audio()
		wantCodec := map[string]string{"flac": "flac", "opus": "opus", "mp3": "mp3"}[codec]
		wantRate := 16000
		if codec == "opus" {
			wantRate = 48000 // Opus always decodes at 48 kHz; the 16 kHz input rate is a header note
		}
		if st.Codec != wantCodec || st.SampleRate != wantRate || st.Channels != 1 {
			t.Errorf("chunk %d is %s %d Hz %d channels, want %s %d Hz mono", i, st.Codec, st.SampleRate, st.Channels, wantCodec, wantRate)
		}
		// FLAC is sample exact; Opus and MP3 add encoder delay and pad their last frame, and ffprobe
		// estimates an MP3's length from its bitrate.
		tol := map[string]float64{"flac": 0.002, "opus": 0.03, "mp3": 0.15}[codec]
		if math.Abs(p.Duration-c.DurationS) > tol {
			t.Errorf("chunk %d file lasts %.3f s, its record says %.3f", i, p.Duration, c.DurationS)
		}
		fi, err := os.Stat(c.Path)
		if err != nil || fi.Size() != c.Bytes {
			t.Errorf("chunk %d: size on disk %v, record says %d (%v)", i, fi.Size(), c.Bytes, err)
		}
		sum += c.Bytes
	}
	last := a.Chunks[len(a.Chunks)-1]
	if math.Abs(last.OffsetS+last.DurationS-a.DurationS) > 1e-6 {
		t.Errorf("last chunk ends at %.3f, the recording at %.3f", last.OffsetS+last.DurationS, a.DurationS)
	}
	if sum != a.Bytes {
		t.Errorf("audio.bytes %d, chunks sum to %d", a.Bytes, sum)
	}
}

// cutsInSilences asserts that every cut that is not a hard cut lies inside one of the known silences.
func cutsInSilences(t *testing.T, a media.Audio, silences []mediatest.Interval) {
	t.Helper()
	for i := 0; i+1 < len(a.Chunks); i++ {
		cut := a.Chunks[i].OffsetS + a.Chunks[i].DurationS
		if math.Abs(a.Chunks[i+1].OffsetS-cut) > 1e-6 {
			t.Errorf("chunk %d ends with a hard cut at %.3f though the test meeting has silences", i, cut)
			continue
		}
		in := false
		for _, s := range silences {
			in = in || s.Contains(cut)
		}
		if !in {
			t.Errorf("cut %d at %.3f s is not inside a known silence %v", i, cut, silences)
		}
	}
}

func speechSpec(n int) mediatest.MeetingSpec {
	gaps := []time.Duration{1500 * time.Millisecond, 2 * time.Second, 2500 * time.Millisecond, 3 * time.Second}
	spec := mediatest.MeetingSpec{Lead: 300 * time.Millisecond, Tail: 300 * time.Millisecond}
	for i := range n {
		spec.Silences = append(spec.Silences, gaps[i%len(gaps)])
	}
	return spec
}

func TestFFmpegAudioCutsAtSilences(t *testing.T) {
	t.Parallel() // its own media, servers and state
	m := mediatest.MustGenerate(t, speechSpec(8))
	for _, codec := range media.Codecs {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			s := mustTestAudio(t, "{codec: "+codec+", chunk_minutes: 0.3, silence_window: 8s, overlap: 1s}")
			a, out := runAudio(t, s, mediaItem(t, m.Path))
			if math.Abs(a.DurationS-m.Duration) > 0.05 {
				t.Errorf("audio lasts %.3f s, the meeting %.3f", a.DurationS, m.Duration)
			}
			if len(a.Chunks) < 3 {
				t.Fatalf("%d chunks of a %.0f s meeting with 18 s chunks", len(a.Chunks), m.Duration)
			}
			checkChunks(t, a, 18, 1, codec)
			cutsInSilences(t, a, m.Silences)
			if a.Codec != codec || !a.Keep {
				t.Errorf("audio codec %q keep %v, want %q true", a.Codec, a.Keep, codec)
			}
			if err := s.Verify(context.Background(), out); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if err := os.Remove(a.Chunks[1].Path); err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(context.Background(), out); err == nil {
				t.Error("Verify passed with a chunk deleted")
			}
		})
	}
}

func TestFFmpegAudioHardCutsWithoutSilence(t *testing.T) {
	t.Parallel() // its own media, servers and state
	// Pauses of 0.2 s are shorter than silence_min: nothing to cut at.
	spec := mediatest.MeetingSpec{}
	for range 6 {
		spec.Silences = append(spec.Silences, 200*time.Millisecond)
	}
	m := mediatest.MustGenerate(t, spec)
	s := mustTestAudio(t, "{chunk_minutes: 0.2, silence_window: 4s, overlap: 2s}")
	a, _ := runAudio(t, s, mediaItem(t, m.Path))
	checkChunks(t, a, 12, 2, "flac")
	hard := 0
	for i := 0; i+1 < len(a.Chunks); i++ {
		if math.Abs(a.Chunks[i].DurationS-12) < 1e-6 && math.Abs(a.Chunks[i+1].OffsetS-a.Chunks[i].OffsetS-10) < 1e-6 {
			hard++
		}
	}
	if hard != len(a.Chunks)-1 || hard == 0 {
		t.Errorf("%d hard cuts among %d chunks, want every cut hard: %+v", hard, len(a.Chunks), a.Chunks)
	}
}

func TestFFmpegAudioJoinsFilesInOrder(t *testing.T) {
	t.Parallel() // its own media, servers and state
	first := mediatest.MustGenerate(t, speechSpec(3))
	specB := speechSpec(4)
	specB.Phrases = []string{"第二个文件开始了", "我们继续讨论项目"}
	second := mediatest.MustGenerate(t, specB)
	s := mustTestAudio(t, "{chunk_minutes: 0.3, silence_window: 8s, overlap: 1s}")
	a, _ := runAudio(t, s, mediaItem(t, first.Path, second.Path))
	if want := first.Duration + second.Duration; math.Abs(a.DurationS-want) > 0.1 {
		t.Errorf("joined audio lasts %.3f s, the files %.3f", a.DurationS, want)
	}
	silences := append([]mediatest.Interval{}, first.Silences...)
	// The tail of the first file and the lead of the second make one silence at the joint.
	silences = append(silences, mediatest.Interval{Start: first.Speech[len(first.Speech)-1].End, End: first.Duration + second.Speech[0].Start})
	for _, iv := range second.Silences {
		silences = append(silences, mediatest.Interval{Start: iv.Start + first.Duration, End: iv.End + first.Duration})
	}
	checkChunks(t, a, 18, 1, "flac")
	cutsInSilences(t, a, silences)
}

func TestFFmpegAudioByteLimitShortensChunks(t *testing.T) {
	t.Parallel() // its own media, servers and state
	m := mediatest.MustGenerate(t, speechSpec(4))
	const limit = 60000
	s := mustTestAudio(t, "{codec: mp3, bitrate: 32k, max_chunk_bytes: 60000, silence_window: 3s}")
	a, _ := runAudio(t, s, mediaItem(t, m.Path))
	maxSec := s.plan.Max
	if maxSec > 10 || maxSec < 8 {
		t.Errorf("chunk limit %.1f s from 60000 bytes of 32 kbit/s mp3, want about 9.9 s", maxSec)
	}
	checkChunks(t, a, maxSec, 2, "mp3")
	for i, c := range a.Chunks {
		if c.Bytes > limit {
			t.Errorf("chunk %d has %d bytes, over the limit %d", i, c.Bytes, limit)
		}
	}
}

func TestFFmpegAudioRejectsBadMedia(t *testing.T) {
	t.Parallel() // its own media, servers and state
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a video ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mp4")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := mediatest.MustGenerate(t, speechSpec(1))
	broken := filepath.Join(dir, "broken.mp4")
	data, err := os.ReadFile(good.Path)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[:64], make([]byte, 64)) // wipe the ftyp box and the start of moov
	if err := os.WriteFile(broken, data, 0o644); err != nil {
		t.Fatal(err)
	}
	silent := mediatest.MustGenerate(t, mediatest.MeetingSpec{NoAudio: true, Silences: []time.Duration{time.Second}})

	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"garbage", []string{garbage}, []string{"file 1 of 1", "unreadable", "Invalid data found"}},
		{"empty file", []string{empty}, []string{"unreadable", "Invalid data found"}},
		{"corrupt mp4 header", []string{broken}, []string{"unreadable", "ffprobe"}},
		{"second file corrupt", []string{good.Path, garbage}, []string{"file 2 of 2", "Invalid data found"}},
		{"no audio stream", []string{silent.Path}, []string{"no audio stream", "video/h264"}},
	}
	s := mustTestAudio(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Process(context.Background(), mediaItem(t, tt.paths...))
			if err == nil {
				t.Fatal("Process succeeded")
			}
			if k, _ := step.Classify(err); k != step.KindPermanent {
				t.Errorf("error kind %v, want permanent: %v", k, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestFFmpegAudioKeepMedia(t *testing.T) {
	t.Parallel() // its own media, servers and state
	for _, keep := range []bool{true, false} {
		t.Run("keep_media="+map[bool]string{true: "true", false: "false"}[keep], func(t *testing.T) {
			m := mediatest.MustGenerate(t, speechSpec(2))
			s := mustTestAudio(t, "{keep_media: "+map[bool]string{true: "true", false: "false"}[keep]+"}")
			a, _ := runAudio(t, s, mediaItem(t, m.Path))
			_, err := os.Stat(m.Path)
			if kept := err == nil; kept != keep {
				t.Errorf("video still there: %v, want %v", kept, keep)
			}
			if a.Keep != keep {
				t.Errorf("audio.keep %v, want %v", a.Keep, keep)
			}
			// What the ASR step does with audio it has transcribed when keep is false.
			if err := media.RemoveAudio(a); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Dir(a.Path)); err == nil {
				t.Error("RemoveAudio left the audio directory")
			}
		})
	}
}

// The check finds ffmpeg, ffprobe and the encoder of the configured codec in `ffmpeg -encoders`.
func TestFFmpegAudioCheck(t *testing.T) {
	t.Parallel() // its own servers and files
	for _, codec := range []string{"flac", "opus", "mp3"} {
		s, err := newTestAudio(t, "{codec: "+codec+"}")
		if err != nil {
			t.Fatal(err)
		}
		fs := s.Check(context.Background(), step.CheckOptions{})
		want := map[string]bool{"ffmpeg": true, "ffprobe": true, "ffmpeg encoder flac": true, "ffmpeg encoder " + media.Encoders[codec]: true}
		for _, f := range fs {
			if f.Status != step.StatusOK {
				t.Errorf("%s: %+v", codec, f)
			}
			delete(want, f.Subject)
		}
		if len(want) > 0 {
			t.Errorf("%s: no finding for %v in %+v", codec, want, fs)
		}
	}
}

func TestFFmpegAudioConfig(t *testing.T) {
	tests := []struct {
		name, with, want string
	}{
		{"byte limit too small", "{codec: flac, max_chunk_bytes: 50000}", "max_chunk_bytes"},
		{"opus sample rate", "{codec: opus, sample_rate: 44100}", "sample_rate 44100"},
		{"bad bitrate", "{codec: mp3, bitrate: fast}", "bitrate"},
		{"unknown codec", "{codec: wav}", ""}, // the enum check reports through the engine's diagnostics
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestAudio(t, tt.with)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("build error %v, want one saying %q", err, tt.want)
			}
		})
	}
	t.Run("missing ffmpeg", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		s, err := newTestAudio(t, "{codec: opus}")
		if err != nil {
			t.Fatalf("build without ffmpeg on PATH: %v (validate needs nothing installed)", err)
		}
		fs := s.Check(context.Background(), step.CheckOptions{})
		if len(fs) != 2 || fs[0].Status != step.StatusFail || !strings.Contains(fs[0].Remedy, "apt-get install ffmpeg") {
			t.Errorf("check: %+v", fs)
		}
		item, _ := step.NewItem("r1", step.Fields{"media": []media.File{{Path: "/nonexistent"}}})
		_, err = s.Process(context.Background(), item)
		if k, _ := step.Classify(err); k != step.KindDeferred || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
			t.Errorf("process: kind %v, error %v; want deferred naming the package", k, err)
		}
	})
}
