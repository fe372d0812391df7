// Package mediatest makes test media: Mandarin speech from espeak-ng separated by silences of known
// position, muxed into MP4 like a meeting recording, and an HTTP server that serves such files with the
// faults of a real object store.
package mediatest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultPhrases are short Mandarin sentences without internal pauses long enough to count as silence.
var DefaultPhrases = []string{
	"大家好 今天我们来做一次模拟面试",
	"请先简单介绍一下你自己",
	"你在上一个项目里负责哪一部分",
	"这个系统每天处理多少请求",
	"我们再看一下你的简历",
	"好的 今天就到这里 谢谢",
}

// MeetingSpec describes a meeting to generate. Speech i is Phrases[i%len(Phrases)]; Silences[i] is the
// silence after speech i, so there are len(Silences)+1 utterances.
type MeetingSpec struct {
	Phrases  []string        // default DefaultPhrases
	Silences []time.Duration // silence after each utterance but the last
	Lead     time.Duration   // silence before the first utterance (not listed in Meeting.Silences)
	Tail     time.Duration   // silence after the last utterance (not listed)
	Name     string          // file name inside dir; default meeting.mp4
	NoAudio  bool            // video track only
	// Repeat > 1 plays the whole sequence (lead and tail included) that many times: a long meeting from
	// few espeak-ng calls. Silences and speech of every pass are listed, exactly.
	Repeat int
	// Video size and frame rate; defaults 64x48 at 2 fps, which keeps generation fast.
	Width, Height, FPS int
}

// Interval is a span of the recording in seconds from its start.
type Interval struct{ Start, End float64 }

// Mid is the middle of the interval.
func (iv Interval) Mid() float64 { return (iv.Start + iv.End) / 2 }

// Contains reports whether t lies in the interval.
func (iv Interval) Contains(t float64) bool { return t >= iv.Start && t <= iv.End }

// Meeting is a generated recording.
type Meeting struct {
	Path     string
	Duration float64    // seconds of audio (of video when NoAudio)
	Silences []Interval // the inserted silences, in order; speech is trimmed so they are exactly silent
	Speech   []Interval // the utterances
}

const speechRate = 22050 // espeak-ng's native rate; kept so no resampling blurs the silence edges

// Generate writes the meeting described by spec into dir. The same spec gives the same bytes, so they
// are made once and kept in a cache shared by every test package (cache.go); a cache miss needs
// espeak-ng and ffmpeg on PATH.
func Generate(dir string, spec MeetingSpec) (Meeting, error) {
	return cached(cacheDir(), dir, defaults(spec), generate)
}

// defaults fills in what spec leaves zero.
func defaults(spec MeetingSpec) MeetingSpec {
	if spec.Name == "" {
		spec.Name = "meeting.mp4"
	}
	if len(spec.Phrases) == 0 {
		spec.Phrases = DefaultPhrases
	}
	if spec.Width == 0 {
		spec.Width, spec.Height = 64, 48
	}
	if spec.FPS == 0 {
		spec.FPS = 2
	}
	return spec
}

// generate makes the meeting with espeak-ng and ffmpeg, bypassing the cache; spec has its defaults.
func generate(dir string, spec MeetingSpec) (Meeting, error) {
	ctx := context.Background()
	if err := needTools(); err != nil {
		return Meeting{}, err
	}
	work, err := os.MkdirTemp(dir, ".meeting-*")
	if err != nil {
		return Meeting{}, err
	}
	defer os.RemoveAll(work)

	m := Meeting{Path: filepath.Join(dir, spec.Name)}
	var pcm []int16
	pcm = append(pcm, make([]int16, samples(spec.Lead))...)
	clips := map[string][]int16{}
	for i := 0; i <= len(spec.Silences); i++ {
		text := spec.Phrases[i%len(spec.Phrases)]
		clip, ok := clips[text]
		if !ok {
			if clip, err = speak(ctx, work, text); err != nil {
				return Meeting{}, err
			}
			clips[text] = clip
		}
		start := float64(len(pcm)) / speechRate
		pcm = append(pcm, clip...)
		m.Speech = append(m.Speech, Interval{start, float64(len(pcm)) / speechRate})
		if i < len(spec.Silences) {
			start := float64(len(pcm)) / speechRate
			pcm = append(pcm, make([]int16, samples(spec.Silences[i]))...)
			m.Silences = append(m.Silences, Interval{start, float64(len(pcm)) / speechRate})
		}
	}
	pcm = append(pcm, make([]int16, samples(spec.Tail))...)
	m.Duration = float64(len(pcm)) / speechRate

	wav := filepath.Join(work, "speech.wav")
	if err := writeWAV(wav, pcm); err != nil {
		return Meeting{}, err
	}
	if spec.Repeat > 1 {
		// Loop the PCM, not the MP4: AAC frames would shift every pass by their padding.
		base := m
		m.Silences, m.Speech = nil, nil
		for k := range spec.Repeat {
			off := float64(k*len(pcm)) / speechRate
			for _, s := range base.Silences {
				m.Silences = append(m.Silences, Interval{s.Start + off, s.End + off})
			}
			for _, s := range base.Speech {
				m.Speech = append(m.Speech, Interval{s.Start + off, s.End + off})
			}
		}
		m.Duration = float64(spec.Repeat*len(pcm)) / speechRate
	}
	if spec.NoAudio {
		wav = ""
	}
	if err := writeMP4(ctx, m.Path, wav, max(spec.Repeat, 1), m.Duration, spec.Width, spec.Height, spec.FPS); err != nil {
		return Meeting{}, err
	}
	return m, nil
}

// needTools says which of the generators' tools is missing.
func needTools() error {
	for _, tool := range []string{"espeak-ng", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("mediatest: %s not found on PATH; run `just deps`", tool)
		}
	}
	return nil
}

// writeMP4 muxes a still picture of width×height at fps for seconds with wav looped loops times ("": no
// audio) into an MP4 with an AAC track, bit-exact so that the same input gives the same bytes.
func writeMP4(ctx context.Context, path, wav string, loops int, seconds float64, width, height, fps int) error {
	dur := strconv.FormatFloat(seconds, 'f', 6, 64)
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x336699:s=%dx%d:r=%d:d=%s", width, height, fps, dur)}
	if wav != "" {
		args = append(args, "-stream_loop", strconv.Itoa(loops-1), "-i", wav)
	}
	args = append(args, "-map", "0:v")
	if wav != "" {
		args = append(args, "-map", "1:a", "-c:a", "aac", "-b:a", "48k", "-flags:a", "+bitexact")
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage", "-pix_fmt", "yuv420p",
		"-threads", "1", "-flags:v", "+bitexact", "-fflags", "+bitexact", "-map_metadata", "-1",
		"-movflags", "+faststart", path)
	return run(ctx, "ffmpeg", args...)
}

// MustGenerate is Generate into a test's temporary directory, failing the test on error.
func MustGenerate(t testing.TB, spec MeetingSpec) Meeting {
	t.Helper()
	m, err := Generate(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func samples(d time.Duration) int { return int(math.Round(d.Seconds() * speechRate)) }

// speak renders text with espeak-ng's Mandarin voice and trims the quiet edges, so the silences around it
// are exactly the ones the spec asked for.
func speak(ctx context.Context, dir, text string) ([]int16, error) {
	return speakVoice(ctx, dir, "cmn", text)
}

// speakVoice is speak with an espeak-ng voice such as cmn+m3 or cmn+f3.
func speakVoice(ctx context.Context, dir, voice, text string) ([]int16, error) {
	f, err := os.CreateTemp(dir, "say-*.wav")
	if err != nil {
		return nil, err
	}
	f.Close()
	if err := run(ctx, "espeak-ng", "-v", voice, "-w", f.Name(), text); err != nil {
		return nil, err
	}
	pcm, rate, err := readWAV(f.Name())
	if err != nil {
		return nil, fmt.Errorf("espeak-ng output: %w", err)
	}
	if rate != speechRate {
		return nil, fmt.Errorf("espeak-ng wrote %d Hz, want %d", rate, speechRate)
	}
	const quiet = 328 // about -40 dBFS
	lo, hi := 0, len(pcm)
	for lo < hi && abs16(pcm[lo]) < quiet {
		lo++
	}
	for hi > lo && abs16(pcm[hi-1]) < quiet {
		hi--
	}
	if lo == hi {
		return nil, fmt.Errorf("espeak-ng produced silence for %q", text)
	}
	return pcm[lo:hi], nil
}

func abs16(v int16) int {
	if v < 0 {
		return -int(v)
	}
	return int(v)
}

func run(ctx context.Context, name string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// readWAV reads 16-bit mono PCM WAV.
func readWAV(path string) ([]int16, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a WAV file")
	}
	var rate int
	var channels, bits uint16
	for p := 12; p+8 <= len(b); {
		id, n := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		if n > len(body) || n < 0 {
			n = len(body) // espeak writing to a file leaves sizes right, a pipe leaves them 0x7fffffff
		}
		body = body[:n]
		switch id {
		case "fmt ":
			if n < 16 {
				return nil, 0, errors.New("short fmt chunk")
			}
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = binary.LittleEndian.Uint16(body[14:16])
		case "data":
			if channels != 1 || bits != 16 {
				return nil, 0, fmt.Errorf("want 16-bit mono, got %d-bit %d channels", bits, channels)
			}
			pcm := make([]int16, n/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return pcm, rate, nil
		}
		p += 8 + n + n%2
	}
	return nil, 0, errors.New("no data chunk")
}

func writeWAV(path string, pcm []int16) error {
	var b bytes.Buffer
	data := len(pcm) * 2
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+data))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(speechRate), uint32(speechRate * 2),
		uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data))
	_ = binary.Write(&b, binary.LittleEndian, pcm)
	return os.WriteFile(path, b.Bytes(), 0o644)
}
