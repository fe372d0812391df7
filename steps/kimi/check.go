package kimi

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"meetpipe/runner/finding"
)

// Models lists the models an OpenAI-compatible transcription server serves (GET {base}/models, which vLLM,
// OpenAI and LocalAI answer; whisper.cpp and SiliconFlow's SenseVoice endpoint answer 404).
func (t *Transcriber) Models(ctx context.Context) ([]string, error) {
	const op = "list models"
	u, err := endpoint(t.BaseURL, "models")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	b, _, err := do(ctx, t.HTTP, req, op, maxChatBody)
	if err != nil {
		return nil, err
	}
	return modelIDs(b, op)
}

func modelIDs(b []byte, op string) ([]string, error) {
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	ids := make([]string, 0, len(out.Data))
	for _, m := range out.Data {
		ids = append(ids, m.ID)
	}
	return ids, nil
}

// CheckTranscriber reports whether the transcription server answers, accepts the key and serves the
// model. With spend it also transcribes one second of generated silence (a paid call on hosted servers).
func CheckTranscriber(ctx context.Context, t *Transcriber, spend bool) []finding.Finding {
	subject := "ASR server " + runnerSafe(t.BaseURL)
	ids, err := t.Models(ctx)
	var ae *APIError
	var out []finding.Finding
	switch {
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		return []finding.Finding{finding.Configuration(subject, ae.Error(), "the server refused the key: check ASR_API_KEY")}
	case errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed):
		out = append(out, finding.OK(subject, "reachable; it lists no models (/v1/models not served), so "+t.Model+" is not checked"))
	case err != nil:
		return []finding.Finding{finding.Fail(subject, err.Error(), "check that the server runs and that ASR_BASE_URL reaches it from this machine")}
	case slices.Contains(ids, t.Model):
		out = append(out, finding.OK(subject, "serves "+t.Model))
	default:
		return []finding.Finding{finding.Configuration("ASR model "+t.Model, fmt.Sprintf("%s serves %s, not %s", runnerSafe(t.BaseURL), listOf(ids), t.Model),
			fmt.Sprintf("set ASR_MODEL to the model the server serves (%s), or point ASR_BASE_URL at the right server", listOf(ids)))}
	}
	if spend {
		out = append(out, transcribeSilence(ctx, t))
	}
	return out
}

// transcribeSilence sends one second of silence, which costs next to nothing and proves the whole path.
func transcribeSilence(ctx context.Context, t *Transcriber) finding.Finding {
	const subject = "ASR transcription"
	dir, err := os.MkdirTemp("", "meetpipe-doctor-")
	if err != nil {
		return finding.Warn(subject, err.Error(), "make the temporary folder ($TMPDIR) writable")
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "silence.wav")
	if err := os.WriteFile(path, silenceWAV(16000, 1), 0o600); err != nil {
		return finding.Warn(subject, err.Error(), "make the temporary folder ($TMPDIR) writable")
	}
	start := time.Now()
	// A copy: the learned json-only fallback of a doctor call should not leak into a run's client.
	c := &Transcriber{BaseURL: t.BaseURL, APIKey: t.APIKey, Model: t.Model, HTTP: t.HTTP}
	if _, err := c.Transcribe(ctx, TranscribeRequest{Path: path, Language: "zh", Duration: 1}); err != nil {
		remedy := "check the server's log; a transcription of one second of silence failed"
		if ae := (*APIError)(nil); errors.As(err, &ae) && ae.Kind() == ErrQuota {
			remedy = "top up the ASR account"
		}
		return finding.Fail(subject, err.Error(), remedy)
	}
	return finding.OK(subject, fmt.Sprintf("one second of silence transcribed in %s", time.Since(start).Round(time.Millisecond)))
}

// silenceWAV is a 16-bit mono PCM WAV of zeros.
func silenceWAV(rate, seconds int) []byte {
	n := rate * seconds * 2
	b := make([]byte, 44+n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	return b
}

// The two Moonshot platforms; a key of one is refused by the other.
const (
	chinaBase  = "https://api.moonshot.cn/v1"
	globalBase = "https://api.moonshot.ai/v1"
)

// CheckChat reports whether Moonshot accepts the key at this base URL, serves the model and has a
// balance left. Listing models and reading the balance are free.
func CheckChat(ctx context.Context, c *Chat, model string) []finding.Finding {
	base := c.baseURL()
	subject := "Moonshot key at " + runnerSafe(base)
	models, err := c.Models(ctx)
	ids := make([]string, len(models))
	for i, m := range models {
		ids[i] = m.ID
	}
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Kind() == ErrAuth:
		return []finding.Finding{finding.Configuration(subject, ae.Error(), keyRemedy(base))}
	case errors.As(err, &ae) && ae.Kind() == ErrQuota:
		return []finding.Finding{finding.Fail(subject, ae.Error(), "top up the account in the Moonshot console: the key is fine, the balance is not")}
	case err != nil:
		return []finding.Finding{finding.Fail(subject, err.Error(), "check that KIMI_BASE_URL is reachable from this machine (a proxy or firewall may block it)")}
	}
	out := []finding.Finding{finding.OK(subject, "accepted")}
	if slices.Contains(ids, model) {
		out = append(out, finding.OK("Moonshot model "+model, "listed"))
	} else {
		out = append(out, finding.Configuration("Moonshot model "+model, "not among the models of this key: "+listOf(ids),
			fmt.Sprintf("set KIMI_MODEL to one of %s", listOf(ids))))
	}
	bal, err := c.Balance(ctx)
	switch {
	case errors.As(err, &ae) && ae.Kind() == ErrNotFound:
		out = append(out, finding.OK("Moonshot balance", "not served by this endpoint (not Moonshot?)"))
	case err != nil:
		out = append(out, finding.Warn("Moonshot balance", err.Error(), "check the balance in the Moonshot console"))
	case bal.Available <= 0:
		out = append(out, finding.Fail("Moonshot balance", fmt.Sprintf("available %.2f (cash %.2f, voucher %.2f): "+
			"every model call would be refused", bal.Available, bal.Cash, bal.Voucher),
			"top up the account in the Moonshot console (platform.moonshot.cn → 账户 → 充值, or platform.moonshot.ai billing)"))
	default:
		out = append(out, finding.OK("Moonshot balance", fmt.Sprintf("available %.2f", bal.Available)))
	}
	return out
}

// keyRemedy names the usual cause of a rejected key: it belongs to the other platform.
func keyRemedy(base string) string {
	other := ""
	switch {
	case strings.Contains(base, "moonshot.cn"):
		other = globalBase
	case strings.Contains(base, "moonshot.ai"):
		other = chinaBase
	}
	if other != "" {
		return fmt.Sprintf("the key is wrong or for the other region? a key from the other platform works only with "+
			"KIMI_BASE_URL=%s; check KIMI_API_KEY", other)
	}
	return "the key is wrong or for another region or endpoint: check KIMI_API_KEY and KIMI_BASE_URL"
}

func listOf(ids []string) string {
	if len(ids) == 0 {
		return "no models"
	}
	if len(ids) > 8 {
		return strings.Join(ids[:8], ", ") + fmt.Sprintf(" and %d more", len(ids)-8)
	}
	return strings.Join(ids, ", ")
}
