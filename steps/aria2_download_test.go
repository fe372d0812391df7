package steps

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/runner/disk"
	"meetpipe/runner/step"
	"meetpipe/steps/media"
	"meetpipe/steps/media/mediatest"
	"meetpipe/steps/steptest"
	"meetpipe/steps/tencent"
)

// newTestDownload builds aria2_download from a `with:` block the way the engine does, and counts its
// progress reports.
func newTestDownload(t *testing.T, with string) (*aria2Download, *atomic.Int64, string) {
	t.Helper()
	state := t.TempDir()
	impl, _ := steptest.BuildWith(t, "aria2_download", with, steptest.Options{StateDir: state})
	s := impl.(*aria2Download)
	var progress atomic.Int64
	s.progress = func(n int64) { progress.Add(n) }
	return s, &progress, state
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// filesItem is an item as tencent_list leaves it before aria2_download: files without addresses, and the
// addresses in the lazy field download_urls.
func filesItem(t *testing.T, id string, files ...listedFile) *step.Item {
	t.Helper()
	urls := map[string]string{}
	for _, f := range files {
		if f.URL != "" {
			urls[f.FileID] = f.URL
		}
	}
	it, err := step.NewItem(id, step.Fields{"files": files, "download_urls": urls})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func mediaOut(t *testing.T, f step.Fields) []media.File {
	t.Helper()
	it, err := step.NewItem("out", f)
	if err != nil {
		t.Fatal(err)
	}
	var out []media.File
	if err := it.Get("media", &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAria2DownloadFetchesEveryFileOnce(t *testing.T) {
	t.Parallel() // its own media, servers and state
	srv := mediatest.NewServer()
	t.Cleanup(srv.Close)
	a, b := randomBytes(t, 3<<20+17), randomBytes(t, 300<<10)
	srv.Add("a.mp4", a)
	srv.Add("b.mp4", b)
	srv.SetRate(4 << 20) // slow enough that aria2c opens its extra connections before the end
	s, progress, state := newTestDownload(t, "{connections: 4, split: 4}")
	// An id from the API must not become a path as it is.
	in := filesItem(t, "../../etc/rec 1",
		listedFile{FileID: "../f1", Size: int64(len(a)), URL: srv.URL("a.mp4")},
		listedFile{FileID: "f/2", Size: int64(len(b)), URL: srv.URL("b.mp4")})

	f, err := s.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	got := mediaOut(t, f)
	if len(got) != 2 {
		t.Fatalf("media has %d files, want 2", len(got))
	}
	root := filepath.Join(state, "media") + string(filepath.Separator)
	for i, want := range [][]byte{a, b} {
		m := got[i]
		if !strings.HasPrefix(m.Path, root) || strings.Count(strings.TrimPrefix(m.Path, root), string(filepath.Separator)) != 1 {
			t.Errorf("file %d at %s, want one directory below %s", i, m.Path, root)
		}
		if m.Bytes != int64(len(want)) {
			t.Errorf("file %d: bytes %d, want %d", i, m.Bytes, len(want))
		}
		data, err := os.ReadFile(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("file %d: content differs from the served file", i)
		}
		if _, err := os.Stat(media.ControlFile(m.Path)); err == nil {
			t.Errorf("file %d: control file left behind", i)
		}
	}
	if got[0].FileID != "../f1" || !strings.HasPrefix(filepath.Base(got[0].Path), "01-") || !strings.HasPrefix(filepath.Base(got[1].Path), "02-") {
		t.Errorf("names do not follow the listing order: %+v", got)
	}
	if srv.MaxConcurrent() < 2 {
		t.Errorf("at most %d connections at once, want several for a 3 MiB file with connections: 4", srv.MaxConcurrent())
	}
	if p, want := progress.Load(), int64(len(a)+len(b)); p != want {
		t.Errorf("progress reported %d bytes, want %d", p, want)
	}
	out, _ := step.NewItem("x", f)
	if err := s.Verify(context.Background(), out); err != nil {
		t.Errorf("Verify after download: %v", err)
	}

	// A second run finds complete files and fetches nothing, even with fresh (different) URLs.
	srv.ResetCounters()
	srv.Expire()
	if _, err := s.Process(context.Background(), in); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("second run made %d requests, want 0", n)
	}

	if err := os.Remove(got[1].Path); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(context.Background(), out); err == nil {
		t.Error("Verify passed with a file deleted")
	}
}

func TestAria2DownloadFaults(t *testing.T) {
	t.Parallel() // its own servers and files
	data := randomBytes(t, 200<<10)
	tests := []struct {
		name      string
		fault     func(srv *mediatest.Server)
		kind      step.Kind
		wantInErr string
		requests  int64 // expected requests of the failing run; 0: don't check
		thenOK    bool  // a next run with a fresh URL and no fault succeeds
	}{
		{name: "expired URL", fault: func(srv *mediatest.Server) { srv.Expire() },
			kind: step.KindDeferred, wantInErr: "HTTP 403", thenOK: true},
		{name: "server error once", fault: func(srv *mediatest.Server) { srv.Fail(1, 500) },
			kind: step.KindTransient, wantInErr: "HTTP 500", thenOK: true},
		{name: "truncated file", fault: func(srv *mediatest.Server) { srv.Truncate("a.mp4", 150<<10) },
			kind: step.KindTransient, wantInErr: "listing says", requests: 2},
	}
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mediatest.NewServer()
			t.Cleanup(srv.Close)
			t.Cleanup(func() {
				if strings.Contains(logs.String(), "sign=") {
					t.Errorf("log shows a signed URL:\n%s", logs.String())
				}
				if !strings.Contains(logs.String(), "/files/a.mp4?…") {
					t.Errorf("log does not show the redacted URL:\n%s", logs.String())
				}
			})
			srv.Add("a.mp4", data)
			s, _, _ := newTestDownload(t, "{connections: 1, max_tries: 2, retry_wait: 1s}")
			url := srv.URL("a.mp4")
			tt.fault(srv)
			_, err := s.Process(context.Background(), filesItem(t, "rec", listedFile{FileID: "f", Size: int64(len(data)), URL: url}))
			if err == nil {
				t.Fatal("Process succeeded despite the fault")
			}
			if k, _ := step.Classify(err); k != tt.kind {
				t.Errorf("error kind %v, want %v: %v", k, tt.kind, err)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not say %q", err, tt.wantInErr)
			}
			if strings.Contains(err.Error(), "sign=") {
				t.Errorf("error leaks the signed URL: %v", err)
			}
			if tt.requests != 0 && srv.Requests() != tt.requests {
				t.Errorf("%d requests, want %d", srv.Requests(), tt.requests)
			}
			if tt.thenOK {
				f, err := s.Process(context.Background(), filesItem(t, "rec", listedFile{FileID: "f", Size: int64(len(data)), URL: srv.URL("a.mp4")}))
				if err != nil {
					t.Fatalf("next run: %v", err)
				}
				if got := mediaOut(t, f); got[0].Bytes != int64(len(data)) {
					t.Errorf("next run: %d bytes, want %d", got[0].Bytes, len(data))
				}
			}
		})
	}
}

func TestAria2DownloadResumesAfterInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a throttled download interrupted half-way")
	}
	t.Parallel() // its own media, servers and state
	srv := mediatest.NewServer()
	t.Cleanup(srv.Close)
	data := randomBytes(t, 2<<20)
	srv.Add("a.mp4", data)
	srv.SetRate(256 << 10)
	s, _, _ := newTestDownload(t, "{connections: 1, split: 1}")
	in := filesItem(t, "rec", listedFile{FileID: "f", Size: int64(len(data)), URL: srv.URL("a.mp4")})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Process(ctx, in); done <- err }()
	deadline := time.Now().Add(20 * time.Second)
	for srv.BytesServed() < 600<<10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Process returned %v, want context.Canceled", err)
	}
	first := srv.BytesServed()
	if first >= int64(len(data)) {
		t.Fatalf("the whole file was served before the interrupt (%d bytes)", first)
	}

	srv.ResetCounters()
	// Still throttled, so that the size probe aria2c sends without a range pushes little into socket
	// buffers before aria2c hangs up.
	srv.SetRate(1 << 20)
	f, err := s.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	m := mediaOut(t, f)[0]
	got, err := os.ReadFile(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("resumed file differs from the served file")
	}
	// The second run fetched only what the first had not: it did not start over.
	if second := srv.BytesServed(); second > int64(len(data))-400<<10 {
		t.Errorf("second run served %d of %d bytes after the first had served %d: it started over %q", second, len(data), first, srv.Ranges())
	}
	resumed := false
	for _, r := range srv.Ranges() {
		resumed = resumed || (strings.HasPrefix(r, "bytes=") && !strings.HasPrefix(r, "bytes=0-"))
	}
	if !resumed {
		t.Errorf("second run asked for %q, want a range after the part already fetched", srv.Ranges())
	}
}

// A pipeline loads without aria2c (validate on a laptop); the check names the package, and a run leaves
// the recording pending instead of failing it.
func TestAria2DownloadMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := steptest.As[*aria2Download](t, "aria2_download", "") // builds without aria2c on PATH
	fs := s.Check(context.Background(), step.CheckOptions{})
	if fs[0].Status != step.StatusFail || fs[0].Subject != "aria2c" || !strings.Contains(fs[0].Remedy, "apt-get install aria2") {
		t.Errorf("check: %+v", fs[0])
	}
	item, _ := step.NewItem("r1", step.Fields{"files": []listedFile{{FileID: "f1", Size: 10}}})
	_, err := s.Process(context.Background(), item)
	if k, _ := step.Classify(err); k != step.KindDeferred || !strings.Contains(err.Error(), "apt-get install aria2") {
		t.Errorf("process: kind %v, error %v; want deferred naming the package", k, err)
	}
}

func TestAria2DownloadRetriesUnavailableInsideAria2(t *testing.T) {
	t.Parallel() // its own media, servers and state
	srv := mediatest.NewServer()
	t.Cleanup(srv.Close)
	data := randomBytes(t, 100<<10)
	srv.Add("a.mp4", data)
	srv.Fail(2, 503)
	s, _, _ := newTestDownload(t, "{connections: 1, max_tries: 3, retry_wait: 1s}")
	f, err := s.Process(context.Background(), filesItem(t, "rec", listedFile{FileID: "f", Size: int64(len(data)), URL: srv.URL("a.mp4")}))
	if err != nil {
		t.Fatalf("aria2c did not ride out two 503s with max_tries 3: %v", err)
	}
	if got := mediaOut(t, f)[0].Bytes; got != int64(len(data)) {
		t.Errorf("%d bytes, want %d", got, len(data))
	}
	if n := srv.Requests(); n != 3 {
		t.Errorf("%d requests, want 3 (two refused, one served)", n)
	}
}

func TestAria2DownloadTakesURLsFromDownloadURLs(t *testing.T) {
	def, _ := step.Builtins.Lookup("aria2_download")
	if !slices.Equal(def.Spec.Reads, []string{"files", "download_urls", "audio_urls"}) {
		t.Errorf("reads %v, want files and download_urls", def.Spec.Reads)
	}
	srv := mediatest.NewServer()
	t.Cleanup(srv.Close)
	data := randomBytes(t, 50<<10)
	srv.Add("a.mp4", data)
	s, _, _ := newTestDownload(t, "{connections: 1}")
	files := []tencent.File{{FileID: "f1", Start: time.Unix(0, 0).UTC(), Size: int64(len(data))}}
	item := func(urls map[string]string) *step.Item {
		it, err := step.NewItem("rec", step.Fields{"files": files, "download_urls": urls})
		if err != nil {
			t.Fatal(err)
		}
		return it
	}

	t.Run("missing address", func(t *testing.T) {
		for name, urls := range map[string]map[string]string{"other file only": {"f2": srv.URL("a.mp4")}, "none": nil} {
			_, err := s.Process(context.Background(), item(urls))
			if k, _ := step.Classify(err); err == nil || k != step.KindTransient || !strings.Contains(err.Error(), "download_urls") || !strings.Contains(err.Error(), "f1") {
				t.Errorf("%s: got %v (%v), want a transient error naming the file and download_urls", name, err, k)
			}
		}
		if n := srv.Requests(); n != 0 {
			t.Errorf("%d requests without an address", n)
		}
	})
	t.Run("address by file id", func(t *testing.T) {
		f, err := s.Process(context.Background(), item(map[string]string{"f1": srv.URL("a.mp4"), "f2": "http://127.0.0.1:1/never"}))
		if err != nil {
			t.Fatal(err)
		}
		got := mediaOut(t, f)
		if len(got) != 1 || got[0].FileID != "f1" || got[0].Bytes != int64(len(data)) {
			t.Fatalf("media %+v", got)
		}
		// The output is stored and memoized: no address may be in it.
		raw, _ := json.Marshal(f)
		if strings.Contains(string(raw), "sign=") || strings.Contains(string(raw), srv.URL("a.mp4")) {
			t.Errorf("output carries the address: %s", raw)
		}
	})
}

// Where the source offers an audio-only rendition, it is downloaded instead of the MP4 (as .m4a, checked
// to be no bigger than its MP4); without one, or with audio: false, the MP4 is. A rerun keeps the file.
func TestAria2DownloadPrefersAudio(t *testing.T) {
	t.Parallel() // its own servers and files
	mp4, m4a := randomBytes(t, 200_000), randomBytes(t, 20_000)
	var hits = map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits[r.URL.Path]++
		body := mp4
		if strings.HasSuffix(r.URL.Path, ".m4a") {
			body = m4a
		}
		if strings.HasPrefix(r.URL.Path, "/big") {
			body = append(mp4, mp4...)
		}
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	item := func(audio string) *step.Item {
		f := step.Fields{"files": []listedFile{{FileID: "f1", Size: int64(len(mp4))}},
			"download_urls": map[string]string{"f1": srv.URL + "/f1.mp4?sign=S"}}
		if audio != "" {
			f["audio_urls"] = map[string]string{"f1": srv.URL + audio}
		}
		it, err := step.NewItem("rec", f)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}

	s, _, _ := newTestDownload(t, "connections: 1")
	out, err := s.Process(context.Background(), item("/f1.m4a?sign=S"))
	if err != nil {
		t.Fatal(err)
	}
	got := mediaOut(t, out)
	if len(got) != 1 || !strings.HasSuffix(got[0].Path, ".m4a") || got[0].Bytes != int64(len(m4a)) {
		t.Fatalf("media %+v, want the 20 kB m4a", got)
	}
	if b, _ := os.ReadFile(got[0].Path); !bytes.Equal(b, m4a) {
		t.Error("the audio file's content differs")
	}
	if hits["/f1.mp4"] != 0 {
		t.Error("the MP4 was downloaded although an audio rendition was offered")
	}
	n := hits["/f1.m4a"]
	if _, err := s.Process(context.Background(), item("/f1.m4a?sign=S")); err != nil || hits["/f1.m4a"] != n {
		t.Errorf("rerun downloaded again (%d requests, %v)", hits["/f1.m4a"]-n, err)
	}

	// No audio offered: the MP4, size-checked as before.
	s2, _, _ := newTestDownload(t, "connections: 1")
	out, err = s2.Process(context.Background(), item(""))
	if err != nil || !strings.HasSuffix(mediaOut(t, out)[0].Path, ".mp4") {
		t.Fatalf("without audio: %v %+v", err, out)
	}
	// audio: false keeps the MP4.
	s3, _, _ := newTestDownload(t, "connections: 1\naudio: false")
	out, err = s3.Process(context.Background(), item("/f1.m4a?sign=S"))
	if err != nil || !strings.HasSuffix(mediaOut(t, out)[0].Path, ".mp4") {
		t.Fatalf("audio: false: %v %+v", err, out)
	}
	// An "audio" file bigger than its MP4 is not the file's audio.
	s4, _, _ := newTestDownload(t, "connections: 1\nsize_retries: 0")
	_, err = s4.Process(context.Background(), item("/big.m4a?sign=S"))
	if k, _ := step.Classify(err); err == nil || k != step.KindTransient || !strings.Contains(err.Error(), "audio rendition") {
		t.Errorf("oversized audio: %v (%v)", err, k)
	}
}

func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	free, ok := disk.Free(dir)
	if !ok {
		t.Skip("no free-space figure for the temporary folder")
	}
	if f := checkSpace(dir+"/not/yet/made", 1); f.Status != step.StatusOK || !strings.Contains(f.Detail, "1 recording(s)") {
		t.Errorf("one recording: %+v", f)
	}
	many := int(free/media.NightBytes) + 5
	if f := checkSpace(dir, many); f.Status != step.StatusWarn || !strings.Contains(f.Remedy, "keep_media: false") {
		t.Errorf("%d recordings: %+v", many, f)
	}
}

// A media finding reaches the doctor as the client made it (one Finding type, no conversion), beside the
// step's own disk-space finding.
func TestMediaFindingsReachTheDoctor(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	want, _ := media.CheckTool(context.Background(), "aria2c")
	fs := (&aria2Download{dir: t.TempDir()}).Check(context.Background(), step.CheckOptions{})
	if len(fs) != 2 || fs[0] != want || fs[0].Status != step.StatusFail || !strings.Contains(fs[0].Remedy, "apt-get install aria2") ||
		fs[1].Subject != "disk space for media" {
		t.Errorf("findings %+v, want first %+v", fs, want)
	}
}

// After a full disk aria2c leaves empty control files beside partial ones; they must not make every
// later download of the recording fail ("Failed to read from the segment file").
func TestAria2DownloadDiscardsBrokenControlFile(t *testing.T) {
	t.Parallel() // its own servers and files
	srv := mediatest.NewServer()
	t.Cleanup(srv.Close)
	data := randomBytes(t, 1<<20+5)
	srv.Add("a.mp4", data)
	for name, control := range map[string][]byte{"empty": nil, "truncated": {0, 1, 0, 0}, "garbage": bytes.Repeat([]byte{0xff}, 200)} {
		t.Run(name, func(t *testing.T) {
			s, _, state := newTestDownload(t, "{connections: 1, split: 1, max_tries: 1}")
			in := filesItem(t, "rec", listedFile{FileID: "f", Size: int64(len(data)), URL: srv.URL("a.mp4")})
			path := filepath.Join(state, "media", media.SafeName("rec"), media.FileName(0, "f", ".mp4"))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data[:300<<10], 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(media.ControlFile(path), control, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := s.Process(context.Background(), in)
			if err != nil {
				t.Fatalf("download beside a broken control file: %v", err)
			}
			got, _ := os.ReadFile(mediaOut(t, f)[0].Path)
			if !bytes.Equal(got, data) {
				t.Fatal("downloaded file differs from the served file")
			}
		})
	}
}

// A full disk is reported as such and leaves the item pending (the environment is at fault, not the
// recording). Needs root to mount a small tmpfs.
func TestAria2DownloadDiskFull(t *testing.T) {
	t.Parallel() // its own servers and files
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	srv := mediatest.NewServer()
	t.Cleanup(srv.Close)
	srv.Add("big.mp4", randomBytes(t, 3<<20))
	s, _, _ := newTestDownload(t, "{connections: 1, split: 1, max_tries: 1}")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	s.dir = dir
	in := filesItem(t, "rec", listedFile{FileID: "f", Size: 3 << 20, URL: srv.URL("big.mp4")})
	_, err := s.Process(context.Background(), in)
	if err == nil {
		t.Fatal("a 3 MiB download fit on a 1 MiB disk")
	}
	if k, _ := step.Classify(err); k != step.KindDeferred || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v is %v, want deferred saying disk full", err, k)
	}
	// Space freed: the next run completes the download, whatever aria2c left behind.
	if out, err := exec.Command("mount", "-o", "remount,size=16m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	f, err := s.Process(context.Background(), in)
	if err != nil {
		t.Fatalf("download after space was freed: %v", err)
	}
	if m := mediaOut(t, f)[0]; m.Bytes != 3<<20 {
		t.Fatalf("downloaded %d bytes, want %d", m.Bytes, 3<<20)
	}
}

// Only http(s) addresses reach aria2c: a file:// address from the listing would read a local file.
func TestAria2DownloadRefusesNonHTTP(t *testing.T) {
	dir := fakeTools(t, "aria2c")
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/a.mp4", "sftp://h/a", "//no-scheme/a", "http:///nohost"} {
		s, _, _ := newTestDownload(t, "")
		_, err := s.Process(context.Background(), filesItem(t, "rec", listedFile{FileID: "f", Size: 10, URL: u}))
		if k, _ := step.Classify(err); !errors.Is(err, media.ErrScheme) || k != step.KindPermanent {
			t.Errorf("%s: %v (%v), want a permanent ErrScheme", u, err, k)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "aria2c.env")); err == nil {
		t.Error("aria2c was run")
	}
}
