package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/kimi"
	"meetpipe/steps/media"
)

// kimiASRConfig is the `with:` block of kimi_asr. Connection settings carry memo:"-": they are not part of
// the memo key, so pointing at another server of the same model (or an emulator on a new port) does not
// transcribe everything again; the model, the prompt and the filters are.
type kimiASRConfig struct {
	BaseURL  string `yaml:"base_url" json:"base_url" memo:"-" required:"true" doc:"OpenAI-compatible transcription server (ASR_BASE_URL), e.g. http://gpu:8000/v1 for vLLM serving Kimi-Audio; /v1 is added to a bare host"`
	APIKey   string `yaml:"api_key" json:"api_key" memo:"-" secret:"true" doc:"bearer key (ASR_API_KEY); empty for a server without auth"`
	Model    string `yaml:"model" json:"model" doc:"model id (ASR_MODEL); sent even where the server ignores it"`
	Language string `yaml:"language" json:"language" doc:"ISO-639-1 language of the speech"`
	Prompt   string `yaml:"prompt" json:"prompt" doc:"prompt prefix; a Simplified-Chinese sentence keeps Whisper-family models from answering in Traditional"`
	// CarryOver needs the previous chunk's text, so it only works when chunks go one at a time.
	CarryOver        int           `yaml:"carry_over" min:"0" max:"10000" json:"carry_over" doc:"runes of the previous chunk's text appended to the prompt for continuity (0: none); applied only when chunk_concurrency is 1"`
	ResponseFormat   string        `yaml:"response_format" json:"response_format" enum:"verbose_json,json" doc:"verbose_json gives timed segments; servers that refuse it are asked for json, and each chunk becomes one segment"`
	Temperature      float64       `yaml:"temperature" min:"0" max:"1" json:"temperature" doc:"decoding temperature; 0 lets Whisper servers fall back by themselves"`
	ChunkConcurrency int           `yaml:"chunk_concurrency" min:"1" max:"64" json:"chunk_concurrency" doc:"chunks of one recording transcribed at once (the step's limiter still bounds all requests); above 1 there is no carry-over"`
	Hallucinations   []string      `yaml:"hallucinations" json:"hallucinations" doc:"texts the model invents from silence; removed wherever they appear (spaces and case ignored)"`
	NoSpeech         float64       `yaml:"no_speech_threshold" min:"0" max:"1" json:"no_speech_threshold" doc:"drop a segment whose no_speech_prob is above this AND whose avg_logprob is below logprob_threshold (when the server reports both)"`
	Logprob          float64       `yaml:"logprob_threshold" min:"-100" max:"0" json:"logprob_threshold" doc:"see no_speech_threshold"`
	MaxUploadMB      float64       `yaml:"max_upload_mb" min:"0.1" max:"4096" json:"max_upload_mb" memo:"-" doc:"largest chunk the server takes, in MB (vLLM and OpenAI: 25); a larger chunk fails the item without an upload"`
	Timeout          time.Duration `yaml:"timeout" min:"1s" max:"6h" json:"timeout" memo:"-" doc:"limit for one chunk's request"`
	// Diarize "" is auto; omitempty keeps the memo key of pipelines written before the setting.
	Diarize string `yaml:"diarize" json:"diarize,omitempty" enum:"auto,off,diarized_json,verbose_json" doc:"how speaker labels are asked for and read: auto, diarized_json, verbose_json or off"`
}

// SettingDetails is what `runner steps kimi_asr` prints under a setting, beyond its doc.
func (kimiASRConfig) SettingDetails() map[string]string {
	return map[string]string{
		"diarize": "diarized_json asks OpenAI gpt-4o-transcribe-diarize style servers (chunking_strategy=auto, no prompt); " +
			"verbose_json reads segments[].speaker (funasr-api, e.g. 说话人1); auto (the default, also when empty) is " +
			"diarized_json for a model whose id contains diarize, else response_format with any labels the server gives; " +
			"off drops labels. Labels hold within one request: give ffmpeg_audio chunks long enough for the whole session " +
			"(codec mp3, chunk_minutes 100: 32 kbit/s is about 14 MB an hour); when a session still takes several chunks, " +
			"each chunk's labels are prefixed c<n>/ and mapped to roles per chunk.",
	}
}

func init() {
	step.Register(step.Spec{
		Name: "kimi_asr",
		Summary: "transcribe a recording's audio chunks with an OpenAI-compatible speech-to-text server (Kimi-Audio on vLLM, " +
			"Whisper servers, SiliconFlow, LocalAI) and merge them into one timed transcript; the audio is deleted afterwards when " +
			"ffmpeg_audio's keep_media is false",
		Version: "1",
		Reads:   []string{"audio"},
		Writes: []step.Field{{Name: "transcript", Sample: kimi.Transcript{},
			Doc: "text, segments[] {start, end, text, speaker}: times in seconds from the recording's start; one " +
				"segment per chunk from servers without timestamps; speaker is the server's label when it gives one (see diarize)"}},
		SideEffects: true,
	}, kimiASRConfig{
		Model:            "moonshotai/Kimi-Audio-7B-Instruct",
		Language:         "zh",
		Prompt:           "以下是普通话的句子。",
		CarryOver:        120,
		ResponseFormat:   "verbose_json",
		ChunkConcurrency: 1,
		Hallucinations:   kimi.DefaultHallucinations,
		NoSpeech:         0.6,
		Logprob:          -1,
		MaxUploadMB:      25,
		Timeout:          10 * time.Minute,
	}, newKimiASR)
}

type kimiASR struct {
	cfg    kimiASRConfig
	client *kimi.Transcriber
	filter *kimi.Filter
	guard  *kimiGuard
	b      *step.Build
}

// asrKey identifies one chunk's request: the file as it is on disk and the prompt sent with it.
type asrKey struct {
	path, prompt string
	size         int64
	mtime        time.Time
}

func newKimiASR(cfg kimiASRConfig, b *step.Build) (any, error) {
	if strings.TrimSpace(cfg.BaseURL) == "" && !b.DryRun {
		return nil, b.ErrorAt("base_url", "kimi_asr: base_url is empty; set ASR_BASE_URL")
	}
	if strings.TrimSpace(cfg.BaseURL) != "" {
		if err := kimi.CheckBaseURL(cfg.BaseURL); err != nil {
			return nil, b.ErrorAt("base_url", "kimi_asr: %v; set ASR_BASE_URL", err)
		}
	}
	b.Secret(cfg.APIKey)
	lim, _ := b.Limiter()
	return &kimiASR{
		cfg:    cfg,
		client: &kimi.Transcriber{BaseURL: cfg.BaseURL, APIKey: cfg.APIKey, Model: cfg.Model},
		filter: kimi.NewFilter(cfg.Hallucinations, cfg.NoSpeech, cfg.Logprob),
		guard: &kimiGuard{lim: lim, timeout: cfg.Timeout, words: kimiWords{
			auth: func(err error) error {
				return fmt.Errorf("the speech server rejected the key (%w); check ASR_API_KEY", err)
			},
			quota: func(err error) error {
				return fmt.Errorf("speech server quota exhausted, no more transcriptions this run; items stay pending for the next run: %w", err)
			},
			notFound: func(err error) error {
				return fmt.Errorf("the speech server refuses every transcription: model %q unknown, not allowed for this key, "+
					"or no transcription endpoint at this URL (%w); check ASR_MODEL and ASR_BASE_URL; items stay pending", cfg.Model, err)
			},
			tooLarge: func(err error) error {
				return fmt.Errorf("the speech server refused the chunk as too large (%w); keep chunks under its upload limit "+
					"(max_upload_mb is %g MB here; vLLM: VLLM_MAX_AUDIO_CLIP_FILESIZE_MB, OpenAI: 25 MB) by lowering "+
					"ffmpeg_audio's chunk_minutes or max_chunk_bytes",
					err, cfg.MaxUploadMB)
			},
		}},
		b: b,
	}, nil
}

// asrChunks are the pieces to send: the chunks, or the whole file when the audio step made none.
func asrChunks(a media.Audio) []media.Chunk {
	if len(a.Chunks) > 0 {
		return a.Chunks
	}
	return []media.Chunk{{Path: a.Path, DurationS: a.DurationS}}
}

func (s *kimiASR) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	if err := s.guard.Stopped(ctx); err != nil {
		return nil, err
	}
	var audio media.Audio
	if err := in.Get("audio", &audio); err != nil {
		return nil, step.Permanent(err)
	}
	chunks := asrChunks(audio)
	limit := int64(s.cfg.MaxUploadMB * 1e6)
	for i, c := range chunks {
		fi, err := os.Stat(c.Path)
		if err != nil {
			// The audio step's Verify brings missing chunks back; until then this is worth a retry.
			return nil, fmt.Errorf("chunk %d of %d: %w", i+1, len(chunks), err)
		}
		if limit > 0 && fi.Size() > limit {
			return nil, step.Permanentf("chunk %d of %d (%s) is %.1f MB, over max_upload_mb %g: lower ffmpeg_audio's chunk_minutes or max_chunk_bytes",
				i+1, len(chunks), filepath.Base(c.Path), float64(fi.Size())/1e6, s.cfg.MaxUploadMB)
		}
	}
	log := step.Logger(ctx)

	results := make([]kimi.ChunkTranscript, len(chunks))
	var dropped atomic.Int64
	one := func(ctx context.Context, i int, prompt string) error {
		c := chunks[i]
		t, err := s.transcribe(ctx, c, prompt)
		if err != nil {
			return fmt.Errorf("chunk %d of %d: %w", i+1, len(chunks), err)
		}
		dropped.Add(int64(s.filter.Apply(t)))
		labelChunk(t, i, len(chunks), s.cfg.Diarize == "off")
		results[i] = kimi.ChunkTranscript{Offset: c.OffsetS, Duration: c.DurationS, Text: t.Text, Segments: t.Segments}
		s.b.Progress(int64(c.DurationS + 0.5))
		return nil
	}

	if s.cfg.ChunkConcurrency == 1 {
		prev := ""
		for i := range chunks {
			if err := one(ctx, i, s.prompt(prev)); err != nil {
				return nil, err
			}
			prev = results[i].Text
		}
	} else if err := s.parallel(ctx, len(chunks), func(ctx context.Context, i int) error {
		return one(ctx, i, s.prompt(""))
	}); err != nil {
		return nil, err
	}

	tr := kimi.Merge(results)
	log.InfoContext(ctx, "transcribed", "chunks", len(chunks), "segments", len(tr.Segments),
		"runes", len([]rune(tr.Text)), "dropped", dropped.Load())
	if !audio.Keep {
		if err := media.RemoveAudio(audio); err != nil {
			log.WarnContext(ctx, "delete audio", "err", err)
		}
	}
	return step.Fields{"transcript": tr}, nil
}

// prompt is the prefix plus the tail of the previous chunk's text.
func (s *kimiASR) prompt(prev string) string {
	if s.cfg.CarryOver == 0 || prev == "" {
		return s.cfg.Prompt
	}
	r := []rune(prev)
	if len(r) > s.cfg.CarryOver {
		r = r[len(r)-s.cfg.CarryOver:]
	}
	return s.cfg.Prompt + string(r)
}

// parallel runs f for 0..n-1, at most chunk_concurrency at once; the first error cancels the rest and the
// most serious error is returned (a permanent or deferred one over a transient one).
func (s *kimiASR) parallel(ctx context.Context, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, s.cfg.ChunkConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				mu.Lock()
				if first == nil || (errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) || moreSerious(err, first) {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if first == nil {
		return ctx.Err()
	}
	return first
}

func moreSerious(a, b error) bool {
	ka, _ := step.Classify(a)
	kb, _ := step.Classify(b)
	return ka != step.KindTransient && kb == step.KindTransient
}

// transcribe sends one chunk through the guard, or answers from the run's cache (kimiRun.chunks).
func (s *kimiASR) transcribe(ctx context.Context, c media.Chunk, prompt string) (*kimi.Transcription, error) {
	key := asrKey{path: c.Path, prompt: prompt}
	if fi, err := os.Stat(c.Path); err == nil {
		key.size, key.mtime = fi.Size(), fi.ModTime()
	}
	done := s.guard.run(ctx).chunks // this run's
	if hit, ok := done.Get(key); ok {
		return hit, nil
	}
	var t *kimi.Transcription
	err := s.guard.Call(ctx, func(ctx context.Context) error {
		var err error
		t, err = s.client.Transcribe(ctx, kimi.TranscribeRequest{Path: c.Path, Language: s.cfg.Language, Prompt: prompt,
			ResponseFormat: s.format(), Temperature: s.cfg.Temperature, Duration: c.DurationS})
		return err
	})
	if err != nil {
		return nil, err
	}
	done.Put(key, t)
	return t, nil
}

// format is the response_format asked for, by the diarize setting.
func (s *kimiASR) format() string {
	switch d := s.cfg.Diarize; {
	case d == kimi.DiarizedJSON, d == "verbose_json":
		return d
	case (d == "" || d == "auto") && strings.Contains(strings.ToLower(s.cfg.Model), "diarize"):
		return kimi.DiarizedJSON
	}
	return s.cfg.ResponseFormat
}

// labelChunk makes a chunk's speaker labels its own: labels hold within one request only (§10 3.1), so
// "A" of chunk 2 is not "A" of chunk 1. With off, labels are dropped.
func labelChunk(t *kimi.Transcription, i, n int, off bool) {
	for j := range t.Segments {
		switch sp := t.Segments[j].Speaker; {
		case off:
			t.Segments[j].Speaker = ""
		case sp != "" && n > 1:
			t.Segments[j].Speaker = fmt.Sprintf("c%d/%s", i+1, sp)
		}
	}
}

// cloneTranscription copies t so that filtering one copy leaves the cached one whole.
func cloneTranscription(t *kimi.Transcription) *kimi.Transcription {
	c := *t
	if t.Segments != nil {
		c.Segments = append([]kimi.TranscriptionSegment(nil), t.Segments...)
	}
	return &c
}

// Estimate says how much audio a run would send.
func (s *kimiASR) Estimate(in *step.Item) string {
	var a media.Audio
	if err := in.Get("audio", &a); err != nil {
		// In a dry run the audio is not extracted yet: the recording's length is the estimate.
		var minutes float64
		if in.Get("duration_min", &minutes) == nil && minutes > 0 {
			return fmt.Sprintf("~%.0f audio min", minutes)
		}
		return ""
	}
	return fmt.Sprintf("%.1f audio min in %d chunks", a.DurationS/60, len(asrChunks(a)))
}

// Check reports whether the transcription server answers and serves the model; with o.Spend it also
// transcribes a second of silence.
func (s *kimiASR) Check(ctx context.Context, o step.CheckOptions) []step.Finding {
	return kimi.CheckTranscriber(ctx, s.client, o.Spend && !o.Preflight)
}
