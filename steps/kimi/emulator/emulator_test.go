package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ffmpeg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is not installed: run `just deps`")
	}
	return p
}

func TestAudioDuration(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "a.wav")
	if err := WriteWAV(w, 7.25, 16000); err != nil {
		t.Fatal(err)
	}
	bin := ffmpeg(t)
	files := map[string]float64{w: 7.25}
	for _, ext := range []string{".flac", ".mp3"} {
		out := filepath.Join(dir, "a"+ext)
		cmd := exec.Command(bin, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=12.5",
			"-ac", "1", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, b)
		}
		files[out] = 12.5
	}
	for p, want := range files {
		t.Run(filepath.Ext(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := AudioDuration(context.Background(), data, filepath.Base(p))
			// mp3 is measured by ffprobe and carries encoder padding.
			if !ok || got < want-0.01 || got > want+0.1 {
				t.Errorf("duration %v (%v), want %v", got, ok, want)
			}
		})
	}
	if _, ok := AudioDuration(context.Background(), []byte("not audio"), "x.bin"); ok {
		t.Error("garbage has a duration")
	}
}

func TestASRFixturePick(t *testing.T) {
	f := &ASRFixture{Tolerance: 0.5, Entries: []ASREntry{
		{Name: "by-file", File: "*-rec7-*.flac", Text: "文件名匹配。"},
		{Name: "ten", Duration: 10, Text: "十秒。"},
		{Name: "eleven", Duration: 10.8, Text: "十一秒。"},
	}}
	for _, tt := range []struct {
		name     string
		duration float64
		want     string
	}{
		{"x-rec7-1.flac", 10, "by-file"},
		{"chunk-001.flac", 10.2, "ten"},
		{"chunk-001.flac", 10.5, "eleven"},
		{"chunk-001.flac", 12, ""},
	} {
		e := f.pick(tt.name, tt.duration, true)
		got := ""
		if e != nil {
			got = e.Name
		}
		if got != tt.want {
			t.Errorf("pick(%s, %v) = %q, want %q", tt.name, tt.duration, got, tt.want)
		}
	}
	segs := f.Entries[1].segments(10)
	if len(segs) != 1 || segs[0].End != 10 {
		t.Errorf("text spread: %+v", segs)
	}
	a, b := generated(10), generated(10.4)
	if a[0].Text == b[0].Text || a[len(a)-1].End != 10 {
		t.Errorf("generated transcripts of different lengths: %+v / %+v", a, b)
	}
}

func TestLoadFixtures(t *testing.T) {
	dir := t.TempDir()
	asr := filepath.Join(dir, "asr.yaml")
	os.WriteFile(asr, []byte("tolerance_s: 2\nentries:\n  - duration_s: 30\n    segments:\n      - {start: 0, end: 3, text: 你好。, no_speech_prob: 0.9}\n"), 0o644)
	f, err := LoadASRFixture(asr)
	if err != nil || f.Tolerance != 2 || *f.Entries[0].Segments[0].NoSpeechProb != 0.9 {
		t.Fatalf("asr fixture %+v, %v", f, err)
	}
	chat := filepath.Join(dir, "chat.json")
	os.WriteFile(chat, []byte(`{"rules":[{"keywords":["简历"],"phase":"简历优化","summary":"改简历。","confidence":0.9,"faults":["invalid_json"],"extra":{"key_points":["a"]}}],"default":{"phase":"其他"}}`), 0o644)
	c, err := LoadChatFixture(chat)
	if err != nil || c.Rules[0].Phase != "简历优化" || c.Rules[0].Faults[0] != FaultInvalidJSON {
		t.Fatalf("chat fixture %+v, %v", c, err)
	}
	os.WriteFile(chat, []byte(`{"rules":[{"keyword":["x"]}]}`), 0o644)
	if _, err := LoadChatFixture(chat); err == nil {
		t.Error("a misspelt fixture key was accepted")
	}
}

func TestASRRequiresFile(t *testing.T) {
	s := NewASR(ASROptions{})
	t.Cleanup(s.Close)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("model", "whisper-1")
	mw.Close()
	resp, err := http.Post(s.URL()+"/v1/audio/transcriptions", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Message, Type string }
	}
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 400 || e.Error.Message != "file is required" || e.Error.Type != "invalid_request_error" {
		t.Errorf("%d %+v", resp.StatusCode, e)
	}
	if c := s.Counters(); c.Requests != 1 || c.BadRequests != 1 || c.Transcribed != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestChatFixtureFaultsAndTruncation(t *testing.T) {
	fx := &ChatFixture{Rules: []ChatRule{{Keywords: []string{"简历"}, ChatAnswer: ChatAnswer{Phase: "简历优化", Summary: "改简历。"},
		Faults: []Fault{FaultInvalidJSON, FaultLength}}}}
	s := NewMoonshot(MoonshotOptions{Fixture: fx})
	t.Cleanup(s.Close)
	call := func(maxTokens int, jsonMode bool) (string, string) {
		t.Helper()
		req := map[string]any{"model": "moonshot-v1-8k", "max_tokens": maxTokens,
			"messages": []any{map[string]any{"role": "user", "content": "我们看简历"}}}
		if jsonMode {
			req["response_format"] = map[string]any{"type": "json_object"}
		}
		b, _ := json.Marshal(req)
		resp, err := http.Post(s.URL()+"/v1/chat/completions", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Choices []struct {
				Message      struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
		}
		json.NewDecoder(resp.Body).Decode(&out)
		return out.Choices[0].Message.Content, out.Choices[0].FinishReason
	}
	if c, _ := call(1024, true); json.Valid([]byte(c)) {
		t.Errorf("first call should be invalid JSON: %q", c)
	}
	if c, f := call(1024, true); f != "length" || json.Valid([]byte(c)) {
		t.Errorf("second call should be truncated: %q %q", c, f)
	}
	if c, f := call(1024, true); f != "stop" || !strings.Contains(c, `"summary":"改简历。"`) {
		t.Errorf("third call: %q %q", c, f)
	}
	if c, f := call(5, true); f != "length" || len([]rune(c)) != 8 {
		t.Errorf("max_tokens 5: %q %q", c, f)
	}
	if c, _ := call(1024, false); !strings.Contains(c, "```json") {
		t.Errorf("without JSON mode: %q", c)
	}
	if c := s.Counters(); c.InvalidJSON != 1 || c.Truncated != 2 || c.Completions != 5 {
		t.Errorf("counters %+v", c)
	}
}

func TestCLI(t *testing.T) {
	for name, run := range map[string]func(context.Context, []string, io.Writer) error{
		"asr": RunASRCLI, "moonshot": RunMoonshotCLI,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--latency", "1ms", "--fault-rate", "0"}, pw)
				pw.Close()
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			prefix := name + " emulator listening on http://127.0.0.1:"
			if !strings.HasPrefix(line, prefix) {
				t.Fatalf("printed %q", line)
			}
			url := strings.TrimSpace(strings.TrimPrefix(line, name+" emulator listening on "))
			resp, err := http.Get(url + "/v1/models")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			go io.Copy(io.Discard, pr)
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("did not stop when the context ended")
			}
		})
	}
	if err := RunASRCLI(context.Background(), []string{"--faults", "nonsense"}, io.Discard); err == nil {
		t.Error("unknown fault accepted")
	}
}
