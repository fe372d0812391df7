package media

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FFmpeg runs ffprobe and ffmpeg.
type FFmpeg struct {
	FFmpeg, FFprobe string // paths of the binaries
}

// NewFFmpeg finds ffmpeg and ffprobe on PATH.
func NewFFmpeg() (*FFmpeg, error) {
	ff, err := LookTool("ffmpeg")
	if err != nil {
		return nil, err
	}
	fp, err := LookTool("ffprobe")
	if err != nil {
		return nil, err
	}
	return &FFmpeg{FFmpeg: ff, FFprobe: fp}, nil
}

// ToolError is a failed ffmpeg or ffprobe run with the end of what it printed, which says why.
type ToolError struct {
	Tool   string
	Err    error  // usually *exec.ExitError
	Stderr string // last lines of standard error
}

func (e *ToolError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", e.Tool, e.Err)
	}
	return fmt.Sprintf("%s: %v: %q", e.Tool, e.Err, e.Stderr)
}

func (e *ToolError) Unwrap() error { return e.Err }

// NoSpace reports whether the tool failed because the disk is full, which is worth a retry later rather
// than a verdict on the input.
func (e *ToolError) NoSpace() bool { return strings.Contains(e.Stderr, "No space left on device") }

// Stream is one stream of a media file.
type Stream struct {
	Type       string // audio, video, …
	Codec      string
	SampleRate int
	Channels   int
	Duration   float64 // seconds; 0 when ffprobe does not say
}

// Probe is what ffprobe says of a file.
type Probe struct {
	Duration float64 // seconds: of the first audio stream, or of the container when the stream does not say
	Streams  []Stream
}

// Audio returns the first audio stream.
func (p Probe) Audio() (Stream, bool) {
	for _, s := range p.Streams {
		if s.Type == "audio" {
			return s, true
		}
	}
	return Stream{}, false
}

// Describe lists the streams as "video/h264, audio/aac".
func (p Probe) Describe() string {
	if len(p.Streams) == 0 {
		return "no streams"
	}
	var parts []string
	for _, s := range p.Streams {
		parts = append(parts, s.Type+"/"+s.Codec)
	}
	return strings.Join(parts, ", ")
}

// Probe runs ffprobe on path. An unreadable file gives a *ToolError quoting ffprobe.
func (f *FFmpeg) Probe(ctx context.Context, path string) (Probe, error) {
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, f.FFprobe, "-v", "error", "-of", "json",
		"-show_entries", "format=duration:stream=codec_type,codec_name,sample_rate,channels,duration", path)
	cmd.SysProcAttr = childAttr()
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Probe{}, context.Cause(ctx)
		}
		return Probe{}, &ToolError{Tool: "ffprobe", Err: err, Stderr: tail(stderr.String(), 5, 600)}
	}
	var v struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
		Streams []json.RawMessage `json:"streams"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		return Probe{}, fmt.Errorf("ffprobe output: %w", err)
	}
	var p Probe
	for _, raw := range v.Streams {
		var s Stream
		// ffprobe leaves out or writes "N/A" for what a stream does not know; decode what is there.
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		s.Type, _ = m["codec_type"].(string)
		s.Codec, _ = m["codec_name"].(string)
		if c, ok := m["channels"].(float64); ok {
			s.Channels = int(c)
		}
		if r, ok := m["sample_rate"].(string); ok {
			s.SampleRate, _ = strconv.Atoi(r)
		}
		if d, ok := m["duration"].(string); ok {
			s.Duration, _ = strconv.ParseFloat(d, 64)
		}
		p.Streams = append(p.Streams, s)
	}
	if a, ok := p.Audio(); ok && a.Duration > 0 {
		p.Duration = a.Duration
	} else {
		p.Duration, _ = strconv.ParseFloat(v.Format.Duration, 64)
	}
	return p, nil
}

// Silence is a span of silence in seconds.
type Silence struct{ Start, End float64 }

// SilenceDetect configures ffmpeg's silencedetect filter.
type SilenceDetect struct {
	Noise string        // level under which audio is silence: "-35dB" or an amplitude ratio
	Min   time.Duration // shortest silence reported
}

// Normalize decodes the first audio stream of each input, in order, into one mono FLAC file of rate Hz at
// out, and returns the silences found on the way (one pass). out appears only when complete.
func (f *FFmpeg) Normalize(ctx context.Context, inputs []string, out string, rate int, sd SilenceDetect) ([]Silence, error) {
	if len(inputs) == 0 {
		return nil, errors.New("normalize: no input")
	}
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-y"}
	var graph strings.Builder
	for i, in := range inputs {
		args = append(args, "-i", in)
		fmt.Fprintf(&graph, "[%d:a:0]aresample=%d,aformat=sample_fmts=s16:channel_layouts=mono[a%d];", i, rate, i)
	}
	for i := range inputs {
		fmt.Fprintf(&graph, "[a%d]", i)
	}
	fmt.Fprintf(&graph, "concat=n=%d:v=0:a=1,silencedetect=noise=%s:d=%s[out]", len(inputs), sd.Noise,
		strconv.FormatFloat(sd.Min.Seconds(), 'f', -1, 64))
	tmp := out + ".part"
	args = append(args, "-filter_complex", graph.String(), "-map", "[out]", "-c:a", "flac",
		"-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-f", "flac", tmp)

	cmd := exec.CommandContext(ctx, f.FFmpeg, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Env = childEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	var silences []Silence
	var lines []string
	open := -1.0
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := silenceStartRE.FindStringSubmatch(line); m != nil {
			open, _ = strconv.ParseFloat(m[1], 64)
			open = max(open, 0)
			continue
		}
		if m := silenceEndRE.FindStringSubmatch(line); m != nil {
			end, _ := strconv.ParseFloat(m[1], 64)
			if open >= 0 {
				silences = append(silences, Silence{open, end})
			}
			open = -1
			continue
		}
		lines = append(lines, line)
		if len(lines) > 40 {
			lines = lines[len(lines)-20:]
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, &ToolError{Tool: "ffmpeg", Err: err, Stderr: tail(strings.Join(lines, "\n"), 5, 600)}
	}
	if open >= 0 { // silence up to the end: ffmpeg reports no end
		silences = append(silences, Silence{open, -1})
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return silences, nil
}

var (
	silenceStartRE = regexp.MustCompile(`silence_start: (-?[0-9.e+-]+)`)
	silenceEndRE   = regexp.MustCompile(`silence_end: (-?[0-9.e+-]+)`)
)

// Encoding is how chunks are encoded.
type Encoding struct {
	Codec      string // flac, opus or mp3
	Bitrate    int    // bits per second, for opus and mp3
	SampleRate int    // Hz
}

// Codecs lists the codecs Encoding supports.
var Codecs = []string{"flac", "opus", "mp3"}

// Ext is the file extension of a chunk.
func (e Encoding) Ext() string {
	switch e.Codec {
	case "opus":
		return ".ogg"
	case "mp3":
		return ".mp3"
	}
	return ".flac"
}

// MaxBytesPerSecond bounds the size of a second of encoded audio: FLAC cannot exceed raw 16-bit PCM by
// more than its frame headers, Opus and MP3 stay near their bitrate (Ogg pages and VBR peaks allowed).
func (e Encoding) MaxBytesPerSecond() float64 {
	switch e.Codec {
	case "opus":
		return float64(e.Bitrate) / 8 * 1.25
	case "mp3":
		return float64(e.Bitrate) / 8 * 1.1
	}
	return float64(e.SampleRate) * 2 * 1.03
}

// MaxSeconds is the longest chunk that certainly fits in maxBytes.
func (e Encoding) MaxSeconds(maxBytes int64) float64 {
	const headers = 16 << 10 // container headers and the FLAC seek table
	return max(float64(maxBytes-headers), 0) / e.MaxBytesPerSecond()
}

func (e Encoding) args() []string {
	switch e.Codec {
	case "opus":
		return []string{"-c:a", "libopus", "-b:a", strconv.Itoa(e.Bitrate), "-application", "voip", "-f", "ogg"}
	case "mp3":
		return []string{"-c:a", "libmp3lame", "-b:a", strconv.Itoa(e.Bitrate), "-f", "mp3"}
	}
	return []string{"-c:a", "flac", "-sample_fmt", "s16", "-f", "flac"}
}

// Cut encodes dur seconds of src from start into dst (mono, e.SampleRate). src should be PCM or FLAC so
// that seeking is exact. dst appears only when complete.
func (f *FFmpeg) Cut(ctx context.Context, src, dst string, start, dur float64, e Encoding) error {
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".part")
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-v", "error", "-y",
		"-ss", strconv.FormatFloat(start, 'f', 6, 64), "-t", strconv.FormatFloat(dur, 'f', 6, 64), "-i", src,
		"-map", "0:a:0", "-ac", "1", "-ar", strconv.Itoa(e.SampleRate),
		"-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"}
	args = append(args, e.args()...)
	args = append(args, tmp)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, f.FFmpeg, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Env = childEnv()
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return &ToolError{Tool: "ffmpeg", Err: err, Stderr: tail(stderr.String(), 5, 600)}
	}
	return os.Rename(tmp, dst)
}

// tail keeps the last n non-empty lines of s, at most max bytes.
func tail(s string, n, maxBytes int) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	out := strings.Join(keep, "\n")
	if len(out) > maxBytes {
		out = "…" + out[len(out)-maxBytes:]
	}
	return out
}
