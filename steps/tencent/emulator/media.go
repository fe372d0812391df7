package emulator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// mediaURL is a file's download address: signed, and valid for URLTTL from now.
func (s *Server) mediaURL(f File) string {
	exp := strconv.FormatInt(s.now().Add(s.opts.URLTTL).Unix(), 10)
	ext := filepath.Ext(f.Path)
	if ext == "" {
		ext = ".mp4"
	}
	return s.url + "/media/" + url.PathEscape(f.ID) + ext + "?expires=" + exp + "&sign=" + s.urlSign(f.ID, exp)
}

// audioURL is the signed address of a file's audio rendition (an .m4a name selects it).
func (s *Server) audioURL(f File) string {
	exp := strconv.FormatInt(s.now().Add(s.opts.URLTTL).Unix(), 10)
	return s.url + "/media/" + url.PathEscape(f.ID) + ".m4a?expires=" + exp + "&sign=" + s.urlSign(f.ID+"#audio", exp)
}

func (s *Server) urlSign(fileID, exp string) string {
	m := hmac.New(sha256.New, s.urlKey)
	fmt.Fprintf(m, "%s\n%s", fileID, exp)
	return hex.EncodeToString(m.Sum(nil))
}

func cosError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>%s</Code><Message>%s</Message></Error>\n", code, msg)
}

// mediaFile checks a media request's signature and expiry and finds its file.
func (s *Server) mediaFile(w http.ResponseWriter, r *http.Request) (File, bool) {
	name := strings.TrimPrefix(r.URL.Path, "/media/")
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name, ext = name[:i], name[i:]
	}
	q := r.URL.Query()
	exp := q.Get("expires")
	audio := ext == ".m4a" && hmac.Equal([]byte(q.Get("sign")), []byte(s.urlSign(name+"#audio", exp)))
	if !audio && !hmac.Equal([]byte(q.Get("sign")), []byte(s.urlSign(name, exp))) {
		cosError(w, http.StatusForbidden, "AccessDenied", "Request has incorrect signature")
		return File{}, false
	}
	sec, _ := strconv.ParseInt(exp, 10, 64)
	if s.now().After(time.Unix(sec, 0)) {
		cosError(w, http.StatusForbidden, "AccessDenied", "Request has expired")
		return File{}, false
	}
	s.mu.Lock()
	ref := s.files[name]
	var f File
	if ref != nil {
		f = *ref.f
	}
	s.mu.Unlock()
	if ref == nil || (audio && f.AudioPath == "") {
		cosError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return File{}, false
	}
	if audio {
		f.Path, f.Size = f.AudioPath, f.audioSize
	}
	return f, true
}

func (s *Server) serveMedia(w *statusWriter, r *http.Request) { s.sendMedia(w, r, false) }

func (s *Server) serveMediaFault(w *statusWriter, r *http.Request, kind FaultKind) {
	switch kind {
	case FaultExpired:
		cosError(w, http.StatusForbidden, "AccessDenied", "Request has expired")
	case FaultTruncate:
		s.sendMedia(w, r, true)
	}
}

// sendMedia serves a file with range support (http.ServeContent), throttled, optionally cut half way.
func (s *Server) sendMedia(w *statusWriter, r *http.Request, truncate bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		cosError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed")
		return
	}
	f, ok := s.mediaFile(w, r)
	if !ok {
		return
	}
	var content io.ReadSeeker
	var mod time.Time
	if f.Path != "" {
		fh, err := os.Open(f.Path)
		if err != nil {
			cosError(w, http.StatusInternalServerError, "InternalError", "media unavailable")
			return
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil {
			mod = st.ModTime()
		}
		content = fh
	} else {
		content = io.NewSectionReader(filler{}, 0, f.Size)
	}
	w.Header().Set("ETag", fmt.Sprintf(`"%s-%d"`, f.ID, f.Size))
	mw := &mediaWriter{ResponseWriter: w, s: s, ctx: r.Context(), rate: s.opts.Throttle, start: time.Now(), limit: -1}
	if truncate {
		mw.limit = -2
	}
	http.ServeContent(mw, r, f.ID+filepath.Ext(f.Path), mod, content)
}

// filler is deterministic media for fixture files without a path.
type filler struct{}

func (filler) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		o := off + int64(i)
		p[i] = byte(o ^ o>>8 ^ o>>16 ^ 0x5a)
	}
	return len(p), nil
}

var errTruncated = errors.New("emulator: truncated on purpose")

// mediaWriter counts media bytes, paces them to rate bytes per second, and can stop half way.
type mediaWriter struct {
	http.ResponseWriter
	s     *Server
	ctx   context.Context
	rate  int64
	start time.Time
	sent  int64
	limit int64 // -1: none; -2: half of Content-Length, decided at the first write
}

func (m *mediaWriter) Write(b []byte) (int, error) {
	if m.limit == -2 {
		cl, _ := strconv.ParseInt(m.Header().Get("Content-Length"), 10, 64)
		m.limit = cl / 2
	}
	written := 0
	for len(b) > 0 {
		chunk := b
		if m.rate > 0 {
			chunk = chunk[:min(len(chunk), int(max(m.rate/20, 512)))]
		}
		if m.limit >= 0 {
			left := m.limit - m.sent
			if left <= 0 {
				return written, errTruncated
			}
			chunk = chunk[:min(int64(len(chunk)), left)]
		}
		n, err := m.ResponseWriter.Write(chunk)
		m.sent += int64(n)
		written += n
		m.s.mu.Lock()
		m.s.bytes += int64(n)
		m.s.mu.Unlock()
		if err != nil {
			return written, err
		}
		b = b[n:]
		if m.rate > 0 {
			http.NewResponseController(m.ResponseWriter).Flush() //nolint:errcheck // pacing only
			due := m.start.Add(time.Duration(float64(m.sent) / float64(m.rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 && !m.s.wait(m.ctx, d) {
				return written, errClosed
			}
		}
	}
	return written, nil
}
