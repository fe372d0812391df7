package steps

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"meetpipe/runner/step"
	"meetpipe/steps/media"
	"meetpipe/steps/media/mediatest"
)

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
