package mediatest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves media files the way a signed-URL object store does: GET with byte ranges, URLs that carry
// a signature which can expire (403), and knobs for the faults a download must survive. It is the
// httptest of aria2_download's tests and of the download benchmark.
type Server struct {
	ts *httptest.Server

	mu        sync.Mutex
	files     map[string]source
	sign      string
	rate      int64 // bytes per second per connection; 0: unthrottled
	failN     int   // the next failN requests answer failCode
	failCode  int
	truncated map[string]int64 // serve only the first n bytes, as if that were the whole file
	ranges    []string

	served   atomic.Int64
	requests atomic.Int64
	active   atomic.Int64
	maxConc  atomic.Int64
}

type source struct {
	data []byte // or
	path string
	size int64
}

// NewServer starts a server on 127.0.0.1.
func NewServer() *Server {
	s := &Server{files: map[string]source{}, truncated: map[string]int64{}, sign: newSign()}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func newSign() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Close shuts the server down.
func (s *Server) Close() { s.ts.Close() }

// Add serves data under name.
func (s *Server) Add(name string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = source{data: data, size: int64(len(data))}
}

// AddFile serves the file at path under name, read from disk on every request.
func (s *Server) AddFile(name, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = source{path: path, size: fi.Size()}
	return nil
}

// URL returns a signed address of name, valid until Expire.
func (s *Server) URL(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ts.URL + "/files/" + url.PathEscape(name) + "?sign=" + s.sign + "&t=1700000000"
}

// Expire invalidates every URL handed out so far: requests with them get 403, as an expired signed URL does.
func (s *Server) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sign = newSign()
}

// SetRate throttles every connection to bytesPerSec (0: no limit).
func (s *Server) SetRate(bytesPerSec int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = bytesPerSec
}

// Fail makes the next n requests answer with status code.
func (s *Server) Fail(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, code
}

// Truncate serves only the first n bytes of name, as a complete response, until Truncate(name, -1).
func (s *Server) Truncate(name string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 0 {
		delete(s.truncated, name)
		return
	}
	s.truncated[name] = n
}

// BytesServed counts body bytes written to clients (all files, all requests).
func (s *Server) BytesServed() int64 { return s.served.Load() }

// Requests counts requests received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// MaxConcurrent is the largest number of requests that were being served at once.
func (s *Server) MaxConcurrent() int64 { return s.maxConc.Load() }

// Ranges lists the Range headers of the requests so far ("" for a whole-file request).
func (s *Server) Ranges() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

// ResetCounters zeroes BytesServed, Requests, MaxConcurrent and Ranges.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served.Store(0)
	s.requests.Store(0)
	s.maxConc.Store(0)
	s.ranges = nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	n := s.active.Add(1)
	defer s.active.Add(-1)
	for {
		m := s.maxConc.Load()
		if n <= m || s.maxConc.CompareAndSwap(m, n) {
			break
		}
	}

	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	name, _ := strings.CutPrefix(r.URL.Path, "/files/")
	src, ok := s.files[name]
	sign, rate := s.sign, s.rate
	fail := 0
	if s.failN > 0 {
		s.failN--
		fail = s.failCode
	}
	limit, trunc := s.truncated[name]
	s.mu.Unlock()

	switch {
	case fail != 0:
		http.Error(w, http.StatusText(fail), fail)
		return
	case r.URL.Query().Get("sign") != sign:
		http.Error(w, "Request has expired", http.StatusForbidden)
		return
	case !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead):
		http.NotFound(w, r)
		return
	}
	var content io.ReadSeeker
	size := src.size
	if src.path != "" {
		f, err := os.Open(src.path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		content = f
	} else {
		content = bytes.NewReader(src.data)
	}
	if trunc && limit < size {
		size = limit
	}
	content = io.NewSectionReader(readerAt(content), 0, size)
	w.Header().Set("Content-Type", "video/mp4")
	http.ServeContent(&meteredWriter{ResponseWriter: w, s: s, rate: rate, req: r}, r, "", time.Unix(1700000000, 0), content)
}

// readerAt adapts what we serve to io.ReaderAt (both *os.File and *bytes.Reader are).
func readerAt(r io.ReadSeeker) io.ReaderAt { return r.(io.ReaderAt) }

// meteredWriter counts and throttles a response body.
type meteredWriter struct {
	http.ResponseWriter
	s    *Server
	rate int64
	req  *http.Request
	sent int64
	t0   time.Time
}

var errGone = errors.New("client gone")

func (m *meteredWriter) Write(p []byte) (int, error) {
	if m.rate <= 0 {
		n, err := m.ResponseWriter.Write(p)
		m.s.served.Add(int64(n))
		return n, err
	}
	if m.t0.IsZero() {
		m.t0 = time.Now()
	}
	total := 0
	for len(p) > 0 {
		k := min(len(p), int(max(m.rate/20, 1024)))
		// Wait until sending k more bytes keeps us at or under the rate.
		due := m.t0.Add(time.Duration(float64(m.sent+int64(k)) / float64(m.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-m.req.Context().Done():
				return total, errGone
			}
		}
		n, err := m.ResponseWriter.Write(p[:k])
		m.s.served.Add(int64(n))
		m.sent += int64(n)
		total += n
		if err != nil {
			return total, err
		}
		if f, ok := m.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[k:]
	}
	return total, nil
}
