package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ASRMode is which server of the compatibility table the ASR emulator behaves like.
type ASRMode string

const (
	// ModeOpenAI answers like OpenAI and vLLM serving Whisper: verbose_json with float-second segments
	// (avg_logprob, compression_ratio, no_speech_prob), language "chinese"; errors {"error":{…}}.
	ModeOpenAI ASRMode = "openai"
	// ModeVLLM is ModeOpenAI, except that an oversize upload is a 400 "Maximum file size exceeded" (vLLM's
	// VLLMValidationError, parameter audio_filesize_mb; vllm-project/vllm:vllm/entrypoints/openai/speech_to_text.py).
	ModeVLLM ASRMode = "vllm"
	// ModeKimiAudio is vLLM serving Kimi-Audio: no timestamps, so verbose_json is refused with 400 and
	// json gives {"text"} only; oversize uploads as ModeVLLM.
	ModeKimiAudio ASRMode = "kimi-audio"
	// ModeWhisperCPP is whisper.cpp's server: no compression_ratio, detected_language added, errors as
	// {"error":"…"} strings, model ignored, also served on /inference.
	ModeWhisperCPP ASRMode = "whispercpp"
	// ModeLocalAI is LocalAI: always {"segments":[{id,start,end,text,tokens}],"text"} with times in
	// nanoseconds (Go time.Duration).
	ModeLocalAI ASRMode = "localai"
	// ModeSiliconFlow is SiliconFlow (SenseVoice): always {"text"} only, whatever format is asked.
	ModeSiliconFlow ASRMode = "siliconflow"
	// ModeFunASR is Quantatirsk/funasr-api (app/api/v1/openai_compatible.py): verbose_json segments carry
	// speaker ("说话人1"); diarized_json is refused as an unknown format (tencent-meeting-api.md §10 3.2).
	ModeFunASR ASRMode = "funasr"
)

// ASROptions configure an ASRServer. The zero value is an OpenAI-like server on a free loopback port
// with generated transcripts, no key and a 25 MiB limit.
type ASROptions struct {
	Addr     string // listen address; "" is 127.0.0.1:0
	Mode     ASRMode
	Fixture  *ASRFixture
	APIKey   string // "" accepts any request
	MaxBytes int64  // upload limit, 413 above it (vLLM modes: 400); 0 is 25 MiB
	// FaultRate is the chance of a random fault per request, drawn from Faults (default server_error,
	// reset, rate_limit).
	FaultRate  float64
	Faults     []Fault
	RetryAfter time.Duration // the wait a 429 announces; 0 is 1 s
	Latency    time.Duration // added to every transcription
	Seed       uint64
	// Models, when set, are listed at GET /v1/models as vLLM does (nil: 404, as whisper.cpp answers).
	Models []string
}

// ASRRequest is what one transcription request carried.
type ASRRequest struct {
	Model          string
	Language       string
	Prompt         string
	ResponseFormat string
	// ChunkingStrategy is the chunking_strategy field ("auto"), which diarized_json needs over 30 s.
	ChunkingStrategy string
	Filename         string
	Bytes            int
	Duration         float64 // seconds, 0 when it could not be read
	Entry            string  // the fixture entry used ("generated" when none)
}

// ASRCounters count what the server saw.
type ASRCounters struct {
	Requests     int            // POSTs to the transcription path
	Transcribed  int            // answered 200
	TooLarge     int            // 413
	BadRequests  int            // 400 (missing file, refused format)
	Unauthorized int            // 401
	Faults       int            // injected faults served
	ByFormat     map[string]int // answered 200, by response_format asked
}

// ASRServer is a local OpenAI-compatible transcription server.
type ASRServer struct {
	o      ASROptions
	l      *listener
	faults *faults

	mu   sync.Mutex
	c    ASRCounters
	reqs []ASRRequest
}

// NewASR starts an ASR emulator and panics if it cannot listen, like httptest.NewServer.
func NewASR(o ASROptions) *ASRServer {
	s, err := StartASR(o)
	if err != nil {
		panic(err)
	}
	return s
}

// StartASR starts an ASR emulator.
func StartASR(o ASROptions) (*ASRServer, error) {
	if o.Mode == "" {
		o.Mode = ModeOpenAI
	}
	switch o.Mode {
	case ModeOpenAI, ModeVLLM, ModeKimiAudio, ModeWhisperCPP, ModeLocalAI, ModeSiliconFlow, ModeFunASR:
	default:
		return nil, fmt.Errorf("asr emulator: unknown mode %q", o.Mode)
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 25 << 20
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	kinds := o.Faults
	if kinds == nil {
		kinds = []Fault{FaultServerError, FaultReset, FaultRateLimit}
	}
	s := &ASRServer{o: o, faults: newFaults(o.FaultRate, kinds, o.Seed), c: ASRCounters{ByFormat: map[string]int{}}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/audio/transcriptions", s.transcribe)
	if o.Mode == ModeWhisperCPP {
		mux.HandleFunc("POST /inference", s.transcribe)
	}
	if o.Models != nil {
		mux.HandleFunc("GET /v1/models", s.asrModels)
	}
	l, err := listen(o.Addr, mux)
	if err != nil {
		return nil, err
	}
	s.l = l
	return s, nil
}

// URL is the server's root, e.g. http://127.0.0.1:41234 (the clients add /v1).
func (s *ASRServer) URL() string { return s.l.url }

// Close stops the server.
func (s *ASRServer) Close() { s.l.close() }

// Inject queues faults for the next requests, one per request, before any random ones.
func (s *ASRServer) Inject(f ...Fault) { s.faults.inject(f...) }

// Counters returns a snapshot of the counters.
func (s *ASRServer) Counters() ASRCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.c
	c.ByFormat = maps.Clone(s.c.ByFormat)
	return c
}

// Requests returns the transcription requests that reached the parsing stage, in order.
func (s *ASRServer) Requests() []ASRRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ASRRequest(nil), s.reqs...)
}

func (s *ASRServer) count(f func(c *ASRCounters)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.c)
}

// fail writes an error in the style of the emulated server.
func (s *ASRServer) fail(w http.ResponseWriter, status int, typ, param, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var body any
	switch s.o.Mode {
	case ModeWhisperCPP:
		body = map[string]any{"error": msg}
	case ModeLocalAI:
		body = map[string]any{"error": map[string]any{"code": status, "message": msg, "type": typ}}
	default:
		var p any
		if param != "" {
			p = param
		}
		body = map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": nil}}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (s *ASRServer) transcribe(w http.ResponseWriter, r *http.Request) {
	s.count(func(c *ASRCounters) { c.Requests++ })
	if ok, _ := bearer(r, s.o.APIKey); !ok {
		s.count(func(c *ASRCounters) { c.Unauthorized++ })
		s.fail(w, http.StatusUnauthorized, "invalid_request_error", "", "Incorrect API key provided")
		return
	}
	switch f := s.faults.next(); f {
	case "":
	case FaultReset:
		s.count(func(c *ASRCounters) { c.Faults++ })
		resetConn(w)
		return
	case FaultRateLimit:
		s.count(func(c *ASRCounters) { c.Faults++ })
		w.Header().Set("Retry-After", fmt.Sprint(seconds(s.o.RetryAfter)))
		s.fail(w, http.StatusTooManyRequests, "rate_limit_exceeded", "",
			fmt.Sprintf("Rate limit reached, please try again after %d seconds", seconds(s.o.RetryAfter)))
		return
	case FaultQuota:
		s.count(func(c *ASRCounters) { c.Faults++ })
		s.fail(w, http.StatusTooManyRequests, "insufficient_quota", "",
			"You exceeded your current quota, please check your plan and billing details")
		return
	case FaultHTML:
		// A reverse proxy's error page passed on with 200, as some gateways do.
		s.count(func(c *ASRCounters) { c.Faults++ })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"+
			"<body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>\n")
		return
	default:
		s.count(func(c *ASRCounters) { c.Faults++ })
		s.fail(w, http.StatusServiceUnavailable, "server_error", "", "The server is overloaded or not ready yet.")
		return
	}
	if r.ContentLength > s.o.MaxBytes+1<<20 {
		s.tooLarge(w, r)
		return
	}
	req, data, err := s.parse(r)
	switch {
	case err == errTooLarge:
		s.tooLarge(w, r)
		return
	case err != nil:
		s.count(func(c *ASRCounters) { c.BadRequests++ })
		s.fail(w, http.StatusBadRequest, "invalid_request_error", "", err.Error())
		return
	}
	if !sleep(r.Context(), s.o.Latency) {
		return
	}

	format := req.ResponseFormat
	if format == "" {
		format = "json"
	}
	if s.o.Mode == ModeKimiAudio && format != "json" && format != "text" {
		s.record(req)
		s.count(func(c *ASRCounters) { c.BadRequests++ })
		s.fail(w, http.StatusBadRequest, "invalid_request_error", "response_format",
			"Currently only support response_format `text` or `json`")
		return
	}
	d, known := AudioDuration(r.Context(), data, req.Filename)
	if known {
		req.Duration = d
	}
	if format == "diarized_json" {
		if msg, param := refuseDiarized(s.o.Mode, req, d); msg != "" {
			s.record(req)
			s.count(func(c *ASRCounters) { c.BadRequests++ })
			s.fail(w, http.StatusBadRequest, "invalid_request_error", param, msg)
			return
		}
	}
	var segs []FixtureSegment
	language := "chinese"
	if e := s.o.Fixture.pick(req.Filename, d, known); e != nil {
		req.Entry = e.Name
		if req.Entry == "" {
			req.Entry = fmt.Sprintf("duration_s=%g", e.Duration)
		}
		segs = e.segments(d)
		if e.Language != "" {
			language = e.Language
		}
	} else {
		req.Entry = "generated"
		segs = generated(d)
	}
	s.record(req)
	slog.Debug("asr emulator", "file", req.Filename, "duration_s", d, "entry", req.Entry, "format", format)

	texts := make([]string, len(segs))
	for i, sg := range segs {
		texts[i] = sg.Text
	}
	text := strings.Join(texts, "")
	s.count(func(c *ASRCounters) { c.Transcribed++; c.ByFormat[format]++ })

	switch {
	case s.o.Mode == ModeSiliconFlow:
		writeJSON(w, map[string]any{"text": text})
	case s.o.Mode == ModeLocalAI:
		out := make([]map[string]any, len(segs))
		for i, sg := range segs {
			out[i] = map[string]any{"id": i, "start": int64(sg.Start * 1e9), "end": int64(sg.End * 1e9),
				"text": sg.Text, "tokens": []int{50364 + i}}
		}
		writeJSON(w, map[string]any{"segments": out, "text": text})
	case format == "text":
		ct := "text/plain; charset=utf-8"
		if s.o.Mode == ModeWhisperCPP {
			ct = "text/html; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		_, _ = io.WriteString(w, text+"\n")
	case format == "diarized_json":
		// OpenAI's TranscriptionDiarized: {task, duration, text, segments[{type, id, start, end, speaker,
		// text}], usage}, float seconds, string ids (tencent-meeting-api.md §10 3.1).
		out := make([]map[string]any, len(segs))
		for i, sg := range segs {
			out[i] = map[string]any{"type": "transcript.text.segment", "id": fmt.Sprintf("seg_%d", i),
				"start": sg.Start, "end": sg.End, "speaker": sg.Speaker, "text": sg.Text}
		}
		writeJSON(w, map[string]any{"task": "transcribe", "duration": round2(d), "text": text, "segments": out,
			"usage": map[string]any{"type": "duration", "seconds": int(d + 0.999)}})
	case format == "verbose_json":
		out := make([]map[string]any, len(segs))
		for i, sg := range segs {
			m := map[string]any{"id": i, "seek": 0, "start": sg.Start, "end": sg.End, "text": sg.Text,
				"tokens": []int{50364 + i}, "temperature": 0.0, "avg_logprob": -0.25, "no_speech_prob": 0.01}
			if sg.AvgLogprob != nil {
				m["avg_logprob"] = *sg.AvgLogprob
			}
			if sg.NoSpeechProb != nil {
				m["no_speech_prob"] = *sg.NoSpeechProb
			}
			if s.o.Mode != ModeWhisperCPP {
				m["compression_ratio"] = 1.2
			}
			if s.o.Mode == ModeFunASR {
				var spk any // funasr-api sends null when diarization found none
				if sg.Speaker != "" {
					spk = sg.Speaker
				}
				m["speaker"] = spk
			}
			out[i] = m
		}
		body := map[string]any{"task": "transcribe", "language": language, "duration": round2(d),
			"text": text, "segments": out}
		if s.o.Mode == ModeWhisperCPP {
			body["detected_language"] = language
			body["detected_language_probability"] = 0.97
		} else {
			body["usage"] = map[string]any{"type": "duration", "seconds": int(d + 0.999)}
		}
		writeJSON(w, body)
	default:
		writeJSON(w, map[string]any{"text": text})
	}
}

var errTooLarge = fmt.Errorf("too large")

// refuseDiarized is the 400 a server gives a diarized_json request, or "": only OpenAI serves the format,
// refuses a prompt with it, and needs chunking_strategy for audio over 30 s (§10 3.1).
func refuseDiarized(mode ASRMode, req ASRRequest, d float64) (msg, param string) {
	switch {
	case mode != ModeOpenAI:
		return "response_format diarized_json is not supported", "response_format"
	case req.Prompt != "":
		return "Prompt is not supported for diarization models", "prompt"
	case d > 30 && req.ChunkingStrategy == "":
		return "chunking_strategy is required for audio longer than 30 seconds", "chunking_strategy"
	}
	return "", ""
}

// parse reads the multipart form, keeping the file in memory up to the limit.
func (s *ASRServer) parse(r *http.Request) (ASRRequest, []byte, error) {
	var req ASRRequest
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(ct, "multipart/") || params["boundary"] == "" {
		return req, nil, fmt.Errorf("expected multipart/form-data")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return req, nil, fmt.Errorf("expected multipart/form-data: %v", err)
	}
	var data []byte
	haveFile := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return req, nil, fmt.Errorf("read multipart body: %v", err)
		}
		switch name := p.FormName(); name {
		case "file":
			var buf bytes.Buffer
			n, err := io.Copy(&buf, io.LimitReader(p, s.o.MaxBytes+1))
			if err != nil {
				return req, nil, fmt.Errorf("read file: %v", err)
			}
			if n > s.o.MaxBytes {
				return req, nil, errTooLarge
			}
			data, haveFile = buf.Bytes(), true
			req.Filename, req.Bytes = p.FileName(), int(n)
		default:
			v, err := io.ReadAll(io.LimitReader(p, 64<<10))
			if err != nil {
				return req, nil, fmt.Errorf("read field %s: %v", name, err)
			}
			switch name {
			case "model":
				req.Model = string(v)
			case "language":
				req.Language = string(v)
			case "prompt":
				req.Prompt = string(v)
			case "response_format":
				req.ResponseFormat = string(v)
			case "chunking_strategy":
				req.ChunkingStrategy = string(v)
			}
		}
	}
	if !haveFile {
		return req, nil, fmt.Errorf("file is required")
	}
	return req, data, nil
}

func (s *ASRServer) tooLarge(w http.ResponseWriter, r *http.Request) {
	// Drain (boundedly) so that the client reads the 413 instead of a broken pipe.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4*s.o.MaxBytes))
	s.count(func(c *ASRCounters) { c.TooLarge++ })
	if s.o.Mode == ModeVLLM || s.o.Mode == ModeKimiAudio {
		s.fail(w, http.StatusBadRequest, "BadRequestError", "audio_filesize_mb", "Maximum file size exceeded")
		return
	}
	s.fail(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "file",
		fmt.Sprintf("Maximum content size limit (%d) exceeded", s.o.MaxBytes))
}

func (s *ASRServer) record(r ASRRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
