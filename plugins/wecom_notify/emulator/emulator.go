// Package emulator is a local WeCom (企业微信) group robot webhook for tests: it checks requests as the real
// robot does, enforces its rate limit, injects faults and counts what it received.
package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"
)

// Error codes the robot answers with.
const (
	OK             = 0
	ErrSystemBusy  = -1    // "system busy": try again
	ErrBadJSON     = 40035 // "invalid parameter" (body is not the expected JSON)
	ErrMsgType     = 40008 // "invalid message type"
	ErrTooLong     = 40058 // content longer than MaxContent bytes
	ErrEmpty       = 44004 // "empty content"
	ErrTooFrequent = 45009 // "api freq out of limit": more than PerMinute messages in a minute
	ErrBadKey      = 93000 // "invalid webhook url": unknown or missing key
)

// MaxContent is the most bytes a markdown message may have.
const MaxContent = 4096

// Options configure a Server.
type Options struct {
	// Key is the robot's key; a request with another key is answered ErrBadKey.
	Key string
	// PerMinute is how many messages the robot accepts in any minute (default 20).
	PerMinute int
	// Now is the clock of the rate limit (default time.Now), so that tests need not wait a minute.
	Now func() time.Time
	// Addr is the listen address (default 127.0.0.1:0).
	Addr string
	// Logger, when set, logs every answer and the content of every accepted message.
	Logger *slog.Logger
	// Trickle, when set, sends the answer one byte per Trickle, as a congested link does (not the real
	// robot's behaviour: a test knob).
	Trickle time.Duration
}

// Message is an accepted message.
type Message struct {
	MsgType string
	Content string
	At      time.Time
}

// Server is a running emulator.
type Server struct {
	opts Options
	srv  *http.Server
	ln   net.Listener
	url  string

	mu       sync.Mutex
	messages []Message
	requests int
	answers  map[int]int // errcode → count
	faults   []fault
}

type fault struct {
	errcode int
	status  int // an HTTP status instead of an errcode answer
}

// New starts an emulator and panics if it cannot listen, like httptest.NewServer.
func New(opts Options) *Server {
	s, err := Start(opts)
	if err != nil {
		panic("wecom emulator: " + err.Error())
	}
	return s
}

// Start starts an emulator, reporting an address it cannot listen on.
func Start(opts Options) (*Server, error) {
	if opts.PerMinute <= 0 {
		opts.PerMinute = 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", opts.Addr, err)
	}
	s := &Server{opts: opts, answers: map[int]int{}, ln: ln, url: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/webhook/send", s.send)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the base URL, to use where https://qyapi.weixin.qq.com would go.
func (s *Server) URL() string { return s.url }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// FailNext answers the next n well-formed requests with errcode (ErrTooFrequent, ErrSystemBusy, …)
// instead of sending them.
func (s *Server) FailNext(n, errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{errcode: errcode})
	}
}

// FailHTTP answers the next n requests with an HTTP status (502, say) and no JSON.
func (s *Server) FailHTTP(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status})
	}
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Requests counts every request received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Answers counts the answers given with errcode.
func (s *Server) Answers(errcode int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers[errcode]
}

var errmsgs = map[int]string{
	OK:             "ok",
	ErrSystemBusy:  "system busy",
	ErrBadJSON:     "invalid parameter",
	ErrMsgType:     "invalid message type",
	ErrTooLong:     "content exceed max length 4096",
	ErrEmpty:       "empty content",
	ErrTooFrequent: "api freq out of limit",
	ErrBadKey:      "invalid webhook url",
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	if s.opts.Trickle > 0 {
		rec := &bufferedAnswer{header: w.Header()}
		s.sendLocked(rec, r)
		w.WriteHeader(rec.status())
		fl, _ := w.(http.Flusher)
		for _, c := range rec.body.Bytes() {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(s.opts.Trickle):
			}
			w.Write([]byte{c})
			if fl != nil {
				fl.Flush()
			}
		}
		return
	}
	s.sendLocked(w, r)
}

// bufferedAnswer keeps an answer so that it can be trickled.
type bufferedAnswer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedAnswer) Header() http.Header         { return b.header }
func (b *bufferedAnswer) WriteHeader(code int)        { b.code = code }
func (b *bufferedAnswer) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedAnswer) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

func (s *Server) sendLocked(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if len(s.faults) > 0 && s.faults[0].status != 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}
	s.answer(w, s.check(r))
}

// check decides the errcode of a request, and records the message when it is sent.
func (s *Server) check(r *http.Request) int {
	if k := r.URL.Query().Get("key"); k == "" || k != s.opts.Key {
		return ErrBadKey
	}
	var body struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Content string `json:"content"`
		} `json:"markdown"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(&body); err != nil {
		return ErrBadJSON
	}
	switch {
	case body.MsgType != "markdown":
		return ErrMsgType // the only type this emulator implements
	case body.Markdown == nil || body.Markdown.Content == "":
		return ErrEmpty
	case len(body.Markdown.Content) > MaxContent:
		return ErrTooLong
	case !utf8.ValidString(body.Markdown.Content):
		return ErrBadJSON
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		return f.errcode
	}
	now := s.opts.Now()
	recent := 0
	for _, m := range s.messages {
		if now.Sub(m.At) < time.Minute {
			recent++
		}
	}
	if recent >= s.opts.PerMinute {
		return ErrTooFrequent
	}
	s.messages = append(s.messages, Message{MsgType: body.MsgType, Content: body.Markdown.Content, At: now})
	s.opts.Logger.Info("message", "msgtype", body.MsgType, "bytes", len(body.Markdown.Content),
		"content", body.Markdown.Content)
	return OK
}

func (s *Server) answer(w http.ResponseWriter, code int) {
	s.answers[code]++
	if code != OK {
		s.opts.Logger.Warn("refused", "errcode", code, "errmsg", errmsgs[code])
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": errmsgs[code]})
}
