package kimi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// Transcriber is a client of the OpenAI transcription protocol: POST {base}/audio/transcriptions with a
// multipart body. It works with vLLM (Kimi-Audio, Whisper), OpenAI, Groq, SiliconFlow, speaches, LocalAI
// and whisper.cpp, tolerating the differences in their answers.
type Transcriber struct {
	BaseURL string // e.g. http://gpu:8000/v1
	APIKey  string // empty: no Authorization header
	Model   string // sent even where the server ignores it (whisper.cpp)
	HTTP    *http.Client

	// jsonOnly is learned: once the server rejected verbose_json, later chunks ask for json directly.
	jsonOnly atomic.Bool
	// noDiarized is learned likewise: a server that rejected diarized_json is asked for verbose_json.
	noDiarized atomic.Bool
}

// TranscribeRequest is one audio file to transcribe.
type TranscribeRequest struct {
	Path     string
	Language string // ISO-639-1, e.g. "zh"
	Prompt   string // style and continuation text
	// ResponseFormat is "verbose_json" (segments with times, and speakers from funasr-api-style servers),
	// "json", or "diarized_json" (OpenAI gpt-4o-transcribe-diarize: segments with speaker); empty means
	// verbose_json. diarized_json sends chunking_strategy=auto (required over 30 s) and never a prompt
	// ("Prompt is not supported for diarization models"; tencent-meeting-api.md §10 3.1).
	ResponseFormat string
	Temperature    float64 // 0: the server's automatic fallback
	// Duration of the audio in seconds, if known: it tells seconds from nanoseconds in the answer.
	Duration float64
}

// Transcription is a server's answer, normalised: times in seconds relative to the file's start.
type Transcription struct {
	Text     string
	Language string
	Duration float64
	// Segments is nil when the server gave none (json format, SiliconFlow, Kimi-Audio).
	Segments []TranscriptionSegment
	// Format is the response_format that was answered.
	Format string
}

// TranscriptionSegment is one timed piece of text with the decoder's quality figures when the server
// reports them (nil when it does not).
type TranscriptionSegment struct {
	Start, End       float64
	Text             string
	Speaker          string // segments[].speaker of diarized_json or funasr-api's verbose_json; "" when none
	AvgLogprob       *float64
	NoSpeechProb     *float64
	CompressionRatio *float64
}

const maxTranscriptBody = 32 << 20

// DiarizedJSON is OpenAI's response_format with speaker labels (gpt-4o-transcribe-diarize; §10 3.1).
const DiarizedJSON = "diarized_json"

// Transcribe uploads one file. A server that rejects verbose_json is asked again for json, and the
// Transcriber remembers that for later calls.
func (t *Transcriber) Transcribe(ctx context.Context, r TranscribeRequest) (*Transcription, error) {
	format := r.ResponseFormat
	if format == "" {
		format = "verbose_json"
	}
	if format == DiarizedJSON && t.noDiarized.Load() {
		format = "verbose_json"
	}
	if format == "verbose_json" && t.jsonOnly.Load() {
		format = "json"
	}
	out, err := t.send(ctx, r, format)
	var ae *APIError
	if format == DiarizedJSON && errors.As(err, &ae) && rejectsFormat(ae) {
		t.noDiarized.Store(true)
		format = "verbose_json"
		if t.jsonOnly.Load() {
			format = "json"
		}
		out, err = t.send(ctx, r, format)
	}
	if format == "verbose_json" && errors.As(err, &ae) && rejectsFormat(ae) {
		t.jsonOnly.Store(true)
		out, err = t.send(ctx, r, "json")
	}
	return out, err
}

// rejectsFormat reports a 4xx that complains about response_format, which is how servers without
// timestamps (vLLM serving Kimi-Audio, gpt-4o-transcribe) answer verbose_json.
func rejectsFormat(e *APIError) bool {
	if e.Status != http.StatusBadRequest && e.Status != http.StatusUnprocessableEntity &&
		e.Status != http.StatusUnsupportedMediaType {
		return false
	}
	m := strings.ToLower(e.Message)
	return e.Param == "response_format" || strings.Contains(m, "response_format") ||
		strings.Contains(m, "verbose_json") || strings.Contains(m, "response format")
}

func (t *Transcriber) send(ctx context.Context, r TranscribeRequest, format string) (*Transcription, error) {
	name := filepath.Base(r.Path)
	op := "transcribe " + name
	u, err := endpoint(t.BaseURL, "audio/transcriptions")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	f, err := os.Open(r.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}

	// The body is head + file + tail with a known length, so the file streams from disk and servers that
	// do not take chunked uploads still work.
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	fields := [][2]string{{"model", t.Model}, {"response_format", format},
		{"temperature", strconv.FormatFloat(r.Temperature, 'f', -1, 64)}}
	if r.Language != "" {
		fields = append(fields, [2]string{"language", r.Language})
	}
	if format == DiarizedJSON {
		fields = append(fields, [2]string{"chunking_strategy", "auto"})
	} else if r.Prompt != "" {
		fields = append(fields, [2]string{"prompt", r.Prompt})
	}
	for _, kv := range fields {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	ph := make(textproto.MIMEHeader)
	ph.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	ph.Set("Content-Type", audioType(name))
	if _, err := mw.CreatePart(ph); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	n := head.Len()
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	all := head.Bytes()
	body := io.MultiReader(bytes.NewReader(all[:n]), f, bytes.NewReader(all[n:]))
	req, err := http.NewRequest(http.MethodPost, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.ContentLength = int64(len(all)) + st.Size()
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	b, h, err := do(ctx, t.HTTP, req, op, maxTranscriptBody)
	if err != nil {
		return nil, err
	}
	out, err := parseTranscription(b, h.Get("Content-Type"), format, r.Duration)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out.Format = format
	return out, nil
}

func audioType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".flac":
		return "audio/flac"
	case ".wav":
		return "audio/wav"
	case ".mp3", ".mpga", ".mpeg":
		return "audio/mpeg"
	case ".ogg", ".opus":
		return "audio/ogg"
	case ".m4a", ".mp4":
		return "audio/mp4"
	case ".webm":
		return "audio/webm"
	}
	return "application/octet-stream"
}

// flexFloat accepts a JSON number, a numeric string or null.
type flexFloat struct {
	v  float64
	ok bool
}

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", oneLine(string(b), 40))
	}
	f.v, f.ok = v, true
	return nil
}

func (f flexFloat) ptr() *float64 {
	if !f.ok {
		return nil
	}
	v := f.v
	return &v
}

// flexLabel is a speaker label sent as a string ("A", "说话人1"), a number (FunASR's spk) or null.
type flexLabel string

func (l *flexLabel) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*l = flexLabel(strings.TrimSpace(v))
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return fmt.Errorf("speaker: not a label: %s", oneLine(s, 40))
	}
	*l = flexLabel(s)
	return nil
}

// BadAnswerError is a 2xx answer that is not in the format asked for: a proxy's HTML error page, a
// truncated body. It is never a transcript; the request is worth repeating.
type BadAnswerError struct {
	Format, ContentType, Start string
}

func (e *BadAnswerError) Error() string {
	return fmt.Sprintf("the server answered 200 with a body that is not %s (Content-Type %q): %s", e.Format, e.ContentType, e.Start)
}

// parseTranscription reads any of the answers of the compatibility table: OpenAI/vLLM verbose_json,
// whisper.cpp (no compression_ratio), LocalAI (times in nanoseconds), SiliconFlow and json ({"text"}
// only); a plain body only when format is "text". Anything else is a *BadAnswerError.
func parseTranscription(b []byte, contentType, format string, duration float64) (*Transcription, error) {
	trim := bytes.TrimSpace(b)
	if len(trim) == 0 || trim[0] != '{' {
		if format == "text" {
			return &Transcription{Text: string(trim)}, nil
		}
		return nil, &BadAnswerError{Format: format, ContentType: contentType, Start: oneLine(string(trim), 80)}
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(trim, &keys) == nil && keys["text"] == nil && keys["segments"] == nil && keys["error"] == nil {
		// {"detail":"Not Found"} from a framework's 404 page answered as 200 is no transcript either.
		return nil, &BadAnswerError{Format: format, ContentType: contentType, Start: oneLine(string(trim), 80)}
	}
	var raw struct {
		Text     string          `json:"text"`
		Language string          `json:"language"`
		Duration flexFloat       `json:"duration"`
		Error    json.RawMessage `json:"error"`
		Segments []struct {
			Start            flexFloat `json:"start"`
			End              flexFloat `json:"end"`
			Text             string    `json:"text"`
			Speaker          flexLabel `json:"speaker"`
			AvgLogprob       flexFloat `json:"avg_logprob"`
			NoSpeechProb     flexFloat `json:"no_speech_prob"`
			CompressionRatio flexFloat `json:"compression_ratio"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(trim, &raw); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	// Some servers answer 200 with an error body.
	if len(raw.Error) > 0 && string(raw.Error) != "null" && raw.Text == "" && len(raw.Segments) == 0 {
		return nil, fmt.Errorf("server error: %s", scalarText(raw.Error))
	}
	out := &Transcription{Text: strings.TrimSpace(raw.Text), Language: raw.Language, Duration: raw.Duration.v}
	if len(raw.Segments) == 0 {
		return out, nil
	}
	maxEnd := 0.0
	out.Segments = make([]TranscriptionSegment, 0, len(raw.Segments))
	for _, s := range raw.Segments {
		out.Segments = append(out.Segments, TranscriptionSegment{
			Start: s.Start.v, End: s.End.v, Text: strings.TrimSpace(s.Text), Speaker: string(s.Speaker),
			AvgLogprob: s.AvgLogprob.ptr(), NoSpeechProb: s.NoSpeechProb.ptr(),
			CompressionRatio: s.CompressionRatio.ptr(),
		})
		maxEnd = max(maxEnd, s.End.v, s.Start.v)
	}
	if nanoseconds(maxEnd, duration, out.Duration) {
		for i := range out.Segments {
			out.Segments[i].Start /= 1e9
			out.Segments[i].End /= 1e9
		}
	}
	if out.Text == "" {
		parts := make([]string, 0, len(out.Segments))
		for _, s := range out.Segments {
			parts = append(parts, s.Text)
		}
		out.Text = JoinText(parts)
	}
	return out, nil
}

// nanoseconds tells LocalAI's time.Duration times from seconds: an end far beyond the audio's length
// cannot be seconds. Without any known length, more than a million seconds (11 days) cannot be either.
func nanoseconds(maxEnd, duration, reported float64) bool {
	d := duration
	if d <= 0 {
		d = reported
	}
	if d > 0 {
		return maxEnd > 10*d && maxEnd > 1000
	}
	return maxEnd > 1e6
}
