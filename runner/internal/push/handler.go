package push

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"meetpipe/steps/tencent/webhook"
)

// Path is where Tencent posts events (the URL configured in the console is https://HOST/webhook/tencent).
const Path = "/webhook/tencent"

// Ack is the body a POST is answered with [COMMUNITY: several receivers; tencent-meeting-api.md §10.1.5].
const Ack = "successfully received callback"

// DefaultMaxBody bounds a POST body: an event is about a kilobyte; 1 MiB leaves room and refuses floods.
const DefaultMaxBody = 1 << 20

// Receiver is the webhook endpoint plus /healthz, /readyz and /metrics.
type Receiver struct {
	Token   string          // TQM_WEBHOOK_TOKEN
	Cipher  *webhook.Cipher // from TQM_WEBHOOK_AES_KEY; nil: plain base64
	Inbox   *Inbox
	Metrics *Metrics
	Log     *slog.Logger
	MaxBody int64
	// Accepted is called after an event is stored (it wakes the worker).
	Accepted func()
	// Ready reports whether the database and Tencent are reachable (/readyz).
	Ready func(ctx context.Context) error
	Now   func() time.Time
}

// Handler routes the receiver's paths.
func (rc *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(Path, rc.webhook)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", rc.readyz)
	mux.Handle("/metrics", rc.Metrics.Handler())
	return mux
}

func (rc *Receiver) readyz(w http.ResponseWriter, r *http.Request) {
	if rc.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		if err := rc.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready\n")
}

func (rc *Receiver) refuse(w http.ResponseWriter, status int, reason, msg string) {
	rc.Metrics.Refused.WithLabelValues(reason).Inc()
	rc.Log.Warn("webhook request refused", "reason", reason, "status", status)
	http.Error(w, msg, status)
}

func (rc *Receiver) webhook(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		rc.verifyURL(w, r)
	case http.MethodPost:
		rc.event(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		rc.refuse(w, http.StatusMethodNotAllowed, "method", "GET or POST")
	}
}

// verifyURL answers the console's URL check and heartbeat (1095/51608): verify the signature over
// check_str, decrypt it and answer the plaintext alone.
func (rc *Receiver) verifyURL(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	ts, nonce, sig := h.Get("timestamp"), h.Get("nonce"), h.Get("signature")
	// A literal '+' in check_str may reach us as a space after query parsing [COMMUNITY]: try the value
	// as parsed and as sent.
	var cands []string
	if v := r.URL.Query().Get("check_str"); v != "" {
		cands = append(cands, v)
	}
	if raw := rawParam(r.URL.RawQuery, "check_str"); raw != "" {
		if v, err := url.PathUnescape(raw); err == nil && v != "" {
			cands = append(cands, v)
		}
	}
	if len(cands) == 0 {
		rc.refuse(w, http.StatusBadRequest, "body", "check_str is required")
		return
	}
	var check string
	for _, c := range cands {
		if webhook.Verify(rc.Token, ts, nonce, c, sig) {
			check = c
			break
		}
	}
	if check == "" {
		rc.refuse(w, http.StatusUnauthorized, "signature", "bad signature")
		return
	}
	plain, err := rc.Cipher.Open(check)
	if err != nil {
		rc.refuse(w, http.StatusBadRequest, "decrypt", "cannot decrypt check_str")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(webhook.CheckReply(plain)) //nolint:errcheck // client gone
}

func rawParam(rawQuery, name string) string {
	for _, kv := range strings.Split(rawQuery, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// event verifies, decrypts, parses and stores one POSTed event before answering 200; the worker
// processes it afterwards.
func (rc *Receiver) event(w http.ResponseWriter, r *http.Request) {
	max := rc.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			rc.refuse(w, http.StatusRequestEntityTooLarge, "size", "body too large")
			return
		}
		rc.refuse(w, http.StatusBadRequest, "body", "cannot read body")
		return
	}
	var in struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Data == "" {
		rc.refuse(w, http.StatusBadRequest, "body", `want {"data": "…"}`)
		return
	}
	h := r.Header
	if !webhook.Verify(rc.Token, h.Get("timestamp"), h.Get("nonce"), in.Data, h.Get("signature")) {
		rc.refuse(w, http.StatusUnauthorized, "signature", "bad signature")
		return
	}
	plain, err := rc.Cipher.Open(in.Data)
	var js []byte
	if err == nil {
		js, err = webhook.EventJSON(plain)
	}
	var ev *webhook.Event
	if err == nil {
		ev, err = webhook.Parse(js)
	}
	if err != nil {
		rc.refuse(w, http.StatusBadRequest, "decrypt", err.Error())
		return
	}
	now := time.Now()
	if rc.Now != nil {
		now = rc.Now()
	}
	dup, err := rc.Inbox.Accept(ev, js, now)
	if err != nil {
		// Not stored: Tencent must try again, so no 200.
		rc.Log.Error("webhook event not stored", "event", ev.Name, "err", err)
		rc.refuse(w, http.StatusServiceUnavailable, "store", "cannot store the event; try again")
		return
	}
	if dup {
		rc.Metrics.Duplicate.WithLabelValues(ev.Name).Inc()
		rc.Log.Info("webhook event duplicate", "event", ev.Name, "trace_id", ev.TraceID)
	} else {
		rc.Metrics.Received.WithLabelValues(ev.Name).Inc()
		rc.Log.Info("webhook event accepted", "event", ev.Name, "trace_id", ev.TraceID, "files", len(ev.RecordFileIDs()))
		if rc.Accepted != nil {
			rc.Accepted()
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, Ack) //nolint:errcheck // client gone
}
