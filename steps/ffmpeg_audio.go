package steps

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/media"
)

type audioConfig struct {
	Codec         string        `yaml:"codec" enum:"flac,opus,mp3" doc:"codec of the chunks: flac (lossless, for self-hosted servers), opus or mp3 (small uploads)"`
	Bitrate       string        `yaml:"bitrate" doc:"opus or mp3 bitrate such as 24k; empty: 24k for opus, 32k for mp3; flac ignores it"`
	SampleRate    int           `yaml:"sample_rate" min:"8000" max:"48000" doc:"sample rate in Hz (speech recognisers use 16000); audio is always mono"`
	ChunkMinutes  float64       `yaml:"chunk_minutes" min:"0.1" max:"120" doc:"longest chunk in minutes"`
	MaxChunkBytes int64         `yaml:"max_chunk_bytes" min:"10000" max:"4000000000" doc:"largest chunk file in bytes; chunks are shortened so that the codec's worst case fits (hosted ASR takes 25 MB)"`
	SilenceWindow time.Duration `yaml:"silence_window" min:"0s" max:"30m" doc:"a chunk ends at the middle of the longest silence in this span before its limit"`
	SilenceNoise  string        `yaml:"silence_noise" doc:"level under which audio counts as silence (ffmpeg silencedetect noise), e.g. -35dB"`
	SilenceMin    time.Duration `yaml:"silence_min" min:"0s" max:"1m" doc:"shortest pause that counts as a silence"`
	Overlap       time.Duration `yaml:"overlap" min:"0s" max:"1m" doc:"overlap of two chunks split where no silence was found"`
	KeepMedia     bool          `yaml:"keep_media" doc:"keep the downloaded video once the audio is extracted, and the audio once transcribed; false deletes them"`
}

func init() {
	step.Register(step.Spec{
		Name:    "ffmpeg_audio",
		Summary: "extract a recording's audio (mono, 16 kHz) and cut it at silences into chunks for speech recognition",
		Version: "1",
		Reads:   []string{"media"},
		Writes: []step.Field{{Name: "audio", Sample: media.Audio{},
			Doc: "path (whole recording, FLAC), duration_s, codec, bytes, keep, chunks[] {path, offset_s, duration_s, bytes}"}},
		SideEffects: true,
	}, audioConfig{Codec: "flac", SampleRate: 16000, ChunkMinutes: 10, MaxChunkBytes: 25_000_000,
		SilenceWindow: 60 * time.Second, SilenceNoise: "-35dB", SilenceMin: 500 * time.Millisecond,
		Overlap: 2 * time.Second, KeepMedia: true},
		newFFmpegAudio)
}

type ffmpegAudio struct {
	ffmpeg  *media.Lazy
	ffprobe *media.Lazy
	enc     media.Encoding
	plan    media.PlanOptions
	detect  media.SilenceDetect
	maxSize int64
	keep    bool
	dir     string // state_dir/audio
}

func newFFmpegAudio(cfg audioConfig, b *step.Build) (any, error) {
	var err error
	enc := media.Encoding{Codec: cfg.Codec, SampleRate: cfg.SampleRate}
	if cfg.Codec != "flac" {
		s := cfg.Bitrate
		if s == "" {
			s = map[string]string{"opus": "24k", "mp3": "32k"}[cfg.Codec]
		}
		if enc.Bitrate, err = parseBitrate(s); err != nil {
			return nil, b.ErrorAt("bitrate,codec", "ffmpeg_audio: bitrate: %v", err)
		}
	}
	rates := map[string][]int{
		"flac": {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000},
		"opus": {8000, 12000, 16000, 24000, 48000},
		"mp3":  {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000},
	}
	if !slices.Contains(rates[cfg.Codec], cfg.SampleRate) {
		return nil, b.ErrorAt("sample_rate,codec", "ffmpeg_audio: sample_rate %d is not one %s takes (%v)", cfg.SampleRate, cfg.Codec, rates[cfg.Codec])
	}
	maxSec := min(cfg.ChunkMinutes*60, enc.MaxSeconds(cfg.MaxChunkBytes))
	if maxSec < max(5, 4*cfg.Overlap.Seconds()) {
		return nil, b.ErrorAt("max_chunk_bytes,bitrate,chunk_minutes", "ffmpeg_audio: max_chunk_bytes %d leaves "+
			"chunks of %.1f s with %s; raise it or the bitrate down",
			cfg.MaxChunkBytes, maxSec, cfg.Codec)
	}
	if _, err := strconv.ParseFloat(strings.TrimSuffix(cfg.SilenceNoise, "dB"), 64); err != nil {
		return nil, b.ErrorAt("silence_noise", "ffmpeg_audio: silence_noise %q: want a level such as -35dB", cfg.SilenceNoise)
	}
	dir, err := filepath.Abs(filepath.Join(b.StateDir, "audio"))
	if err != nil {
		return nil, b.ErrorAt("", "ffmpeg_audio: state_dir: %v", err)
	}
	return &ffmpegAudio{
		ffmpeg:  &media.Lazy{Tool: "ffmpeg"},
		ffprobe: &media.Lazy{Tool: "ffprobe"},
		enc:     enc,
		plan:    media.PlanOptions{Max: maxSec, Window: cfg.SilenceWindow.Seconds(), Overlap: cfg.Overlap.Seconds()},
		detect:  media.SilenceDetect{Noise: cfg.SilenceNoise, Min: cfg.SilenceMin},
		maxSize: cfg.MaxChunkBytes,
		keep:    cfg.KeepMedia,
		dir:     dir,
	}, nil
}

// tools acquires ffmpeg and ffprobe; missing ones leave the item for the next run.
func (s *ffmpegAudio) tools() (*media.FFmpeg, error) {
	ff, err := s.ffmpeg.Path()
	if err != nil {
		return nil, step.Deferred(err)
	}
	fp, err := s.ffprobe.Path()
	if err != nil {
		return nil, step.Deferred(err)
	}
	return &media.FFmpeg{FFmpeg: ff, FFprobe: fp}, nil
}

// parseBitrate reads "24k", "32000" or "1.5M" as bits per second.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v*mult < 6000 || v*mult > 512000 {
		return 0, fmt.Errorf("%q: want bits per second between 6k and 512k, such as 24k", s)
	}
	return int(v * mult), nil
}

func (s *ffmpegAudio) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	var files []media.File
	if err := in.Get("media", &files); err != nil {
		return nil, step.Permanent(err)
	}
	if len(files) == 0 {
		return nil, step.Permanentf("recording has no media files")
	}
	ff, err := s.tools()
	if err != nil {
		return nil, err
	}
	log := step.Logger(ctx) // the run's logger carries run, step and item
	inputs := make([]string, len(files))
	for i, f := range files {
		if _, err := os.Stat(f.Path); err != nil {
			// Gone since the download (deleted by hand?): downloading again is the cure, not failing.
			return nil, fmt.Errorf("file %d of %d: %w", i+1, len(files), err)
		}
		p, err := ff.Probe(ctx, f.Path)
		if err != nil {
			return nil, s.classify(ctx, fmt.Errorf("file %d of %d (%s) is unreadable: %w", i+1, len(files), filepath.Base(f.Path), err))
		}
		if _, ok := p.Audio(); !ok {
			return nil, step.Permanentf("file %d of %d (%s) has no audio stream (it has %s)", i+1, len(files), filepath.Base(f.Path), p.Describe())
		}
		inputs[i] = f.Path
	}

	dir := filepath.Join(s.dir, media.SafeName(in.ID()))
	if err := os.RemoveAll(dir); err != nil { // chunks of an earlier configuration
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	full := filepath.Join(dir, "audio.flac")
	silences, err := ff.Normalize(ctx, inputs, full, s.enc.SampleRate, s.detect)
	if err != nil {
		return nil, s.classify(ctx, fmt.Errorf("extract audio: %w", err))
	}
	p, err := ff.Probe(ctx, full)
	if err != nil {
		return nil, s.classify(ctx, fmt.Errorf("extracted audio: %w", err))
	}
	audio := media.Audio{Path: full, DurationS: p.Duration, Codec: s.enc.Codec, Keep: s.keep}
	spans := media.Plan(p.Duration, silences, s.plan)
	for i, sp := range spans {
		// Microseconds, as handed to ffmpeg, so the record says exactly what was cut.
		start, end := math.Round(sp.Start*1e6)/1e6, math.Round(sp.End*1e6)/1e6
		c := media.Chunk{Path: filepath.Join(dir, fmt.Sprintf("chunk-%03d%s", i+1, s.enc.Ext())),
			OffsetS: start, DurationS: end - start}
		if err := ff.Cut(ctx, full, c.Path, c.OffsetS, c.DurationS, s.enc); err != nil {
			return nil, s.classify(ctx, fmt.Errorf("chunk %d: %w", i+1, err))
		}
		if c.Bytes, err = fileSize(c.Path); err != nil {
			return nil, err
		}
		if c.Bytes > s.maxSize {
			return nil, step.Permanentf("chunk %d is %d bytes, over max_chunk_bytes %d: lower chunk_minutes or the bitrate", i+1, c.Bytes, s.maxSize)
		}
		audio.Bytes += c.Bytes
		audio.Chunks = append(audio.Chunks, c)
	}
	log.InfoContext(ctx, "audio extracted", "duration_s", audio.DurationS, "chunks", len(spans),
		"silences", len(silences), "bytes", audio.Bytes)
	if !s.keep {
		for _, f := range files {
			if err := media.RemovePartial(f.Path); err != nil {
				log.WarnContext(ctx, "delete media", "path", f.Path, "err", err)
			}
			_ = os.Remove(filepath.Dir(f.Path)) // the item's media directory, once empty
		}
	}
	return step.Fields{"audio": audio}, nil
}

// classify marks tool failures: a stop is the run's business, a full disk may pass, anything else is the
// input's fault and retrying cannot change it.
func (s *ffmpegAudio) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	var te *media.ToolError
	if errors.As(err, &te) && !te.NoSpace() {
		return step.Permanent(err)
	}
	return err
}

// Verify checks that the whole audio and every chunk are still on disk.
func (s *ffmpegAudio) Verify(ctx context.Context, out *step.Item) error {
	var a media.Audio
	if err := out.Get("audio", &a); err != nil {
		return err
	}
	paths := []string{a.Path}
	for _, c := range a.Chunks {
		paths = append(paths, c.Path)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("audio: %w", err)
		}
		if fi.Size() == 0 {
			return fmt.Errorf("audio: %s is empty", p)
		}
	}
	return nil
}

// Check reports whether ffmpeg and ffprobe are installed with the encoder of the configured codec.
func (s *ffmpegAudio) Check(ctx context.Context, _ step.CheckOptions) []step.Finding {
	return media.CheckFFmpeg(ctx, s.enc.Codec)
}
