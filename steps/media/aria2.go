package media

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"meetpipe/steps/internal/fsx"
)

// Aria2 downloads files with aria2c: several connections per file, resumable through aria2's control file
// (<file>.aria2) so that an interrupted download continues where it stopped.
type Aria2 struct {
	Bin            string        // path of aria2c
	Connections    int           // connections per server (-x)
	Split          int           // pieces downloaded in parallel (-s)
	MinSplitSize   int64         // smallest piece in bytes; aria2 allows 1 MiB..1 GiB
	ConnectTimeout time.Duration // per connection attempt
	Timeout        time.Duration // of a stalled connection
	MaxTries       int           // aria2c's own retries of network errors, kept small: the runner retries too
	RetryWait      time.Duration
	LowestSpeed    int64 // bytes/s under which a connection is dropped and retried; 0: never
}

// NewAria2 finds aria2c on PATH and returns a driver with moderate defaults.
func NewAria2() (*Aria2, error) {
	bin, err := LookTool("aria2c")
	if err != nil {
		return nil, err
	}
	return &Aria2{Bin: bin, Connections: 8, Split: 8, MinSplitSize: 1 << 20, ConnectTimeout: 30 * time.Second,
		Timeout: 60 * time.Second, MaxTries: 3, RetryWait: 2 * time.Second}, nil
}

// ControlFile is where aria2c keeps the state of an unfinished download of path.
func ControlFile(path string) string { return path + ".aria2" }

// Complete reports whether path holds a finished download of size bytes (size <= 0: of unknown size): it
// exists, has that size, and aria2c left no control file saying it is unfinished.
func Complete(path string, size int64) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(ControlFile(path)); err == nil {
		return false, nil
	}
	return fi.Mode().IsRegular() && (size <= 0 || fi.Size() == size), nil
}

// CheckControlFile reports why the control file of path cannot be resumed from, or nil when it is
// absent or well formed. After a full disk aria2c leaves it empty or cut short, and then fails every later
// run with "Failed to read from the segment file". The layout is that of the aria2 manual, Technical
// Notes, "Control File (*.aria2) Format": version 0 (host order) or 1 (big endian), extension, info hash,
// piece length, total and upload length, bitfield, in-flight pieces.
func CheckControlFile(path string) error {
	b, err := os.ReadFile(ControlFile(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unreadable control file: %w", err)
	}
	if len(b) < 2 {
		return fmt.Errorf("control file is %d bytes", len(b))
	}
	var order binary.ByteOrder
	switch {
	case b[0] == 0 && b[1] == 1:
		order = binary.BigEndian
	case b[0] == 0 && b[1] == 0:
		order = binary.LittleEndian
	default:
		return fmt.Errorf("control file version %02x%02x is not one aria2 writes", b[0], b[1])
	}
	off := 2
	next := func(n int) ([]byte, bool) {
		if n < 0 || off+n > len(b) {
			return nil, false
		}
		p := b[off : off+n]
		off += n
		return p, true
	}
	u32 := func() (int, bool) {
		p, ok := next(4)
		if !ok {
			return 0, false
		}
		return int(order.Uint32(p)), true
	}
	skip := func(n int) bool { _, ok := next(n); return ok }
	ok := skip(4) // extension
	if n, k := u32(); ok && k {
		ok = skip(n) // info hash
	} else {
		ok = false
	}
	ok = ok && skip(4+8+8) // piece length, total length, upload length
	if n, k := u32(); ok && k {
		ok = skip(n) // bitfield
	} else {
		ok = false
	}
	if pieces, k := u32(); ok && k {
		for i := 0; ok && i < pieces; i++ {
			ok = skip(4 + 4) // index, length
			if n, k := u32(); ok && k {
				ok = skip(n) // piece bitfield
			} else {
				ok = false
			}
		}
	} else {
		ok = false
	}
	if !ok {
		return fmt.Errorf("control file is cut short (%d bytes)", len(b))
	}
	return nil
}

// RemovePartial deletes path and its control file, so that the next download starts from scratch.
func RemovePartial(path string) error {
	var errs []error
	for _, p := range []string{path, ControlFile(path)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DownloadError is a failed aria2c run. Its text never contains a URL's query (signed URLs are secrets).
type DownloadError struct {
	Exit   int    // aria2c's exit status
	Status int    // the HTTP status that made it give up, when it said
	Detail string // aria2c's last error message, URLs redacted
}

func (e *DownloadError) Error() string {
	msg := fmt.Sprintf("aria2c exit %d (%s)", e.Exit, exitMeaning(e.Exit))
	if e.Status != 0 {
		msg += fmt.Sprintf(", HTTP %d", e.Status)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// DiskFull reports whether aria2c gave up because the disk is full (exit status 9).
func (e *DownloadError) DiskFull() bool { return e.Exit == 9 }

// Expired reports whether the server refused the address (HTTP 403), which for a signed URL means it has
// expired: fetching a fresh address is the cure.
func (e *DownloadError) Expired() bool { return e.Status == 403 }

func exitMeaning(code int) string {
	switch code {
	case 1:
		return "unknown error"
	case 2:
		return "timeout"
	case 3:
		return "resource not found"
	case 5:
		return "too slow"
	case 6:
		return "network problem"
	case 7:
		return "unfinished"
	case 8:
		return "server cannot resume"
	case 9:
		return "not enough disk space"
	case 13:
		return "file already exists"
	case 19:
		return "name resolution failed"
	case 22:
		return "bad HTTP response"
	case 24:
		return "authorization failed"
	}
	return "see aria2c(1) EXIT STATUS"
}

var (
	readoutRE = regexp.MustCompile(`\[#[0-9a-f]+ (\d+)B/(\d+)B`)
	statusRE  = regexp.MustCompile(`status=(\d{3})`)
	errCodeRE = regexp.MustCompile(`errorCode=\d+ (.*)$`)
	urlRE     = regexp.MustCompile(`(?i)\b(?:https?|ftp|sftp)://[^\s"'<>]+`)
)

// redactURLs replaces every URL in s by its redacted form.
func redactURLs(s string) string {
	return urlRE.ReplaceAllStringFunc(s, fsx.RedactURL)
}

// ErrScheme is a download address that is not http(s): aria2c would read a local file (file://) or
// speak a protocol no recording is served by.
var ErrScheme = errors.New("download address is not http or https")

// CheckURL refuses an address aria2c must not be given.
func CheckURL(raw string) error {
	u, err := neturl.Parse(raw)
	if err != nil {
		return fmt.Errorf("download address does not parse: %v", redactURLs(err.Error()))
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" || u.Host == "" {
		return fmt.Errorf("%w: %s", ErrScheme, fsx.RedactURL(raw))
	}
	return nil
}

// Download fetches url into path. A partial download of an earlier call resumes. progress (may be nil)
// receives the bytes fetched by this call as they arrive. The URL is handed to aria2c on its standard
// input, so it shows in no process listing, and no error or log line carries its query.
func (a *Aria2) Download(ctx context.Context, url, path string, progress func(int64)) error {
	if strings.ContainsFunc(url, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// aria2c reads options from the lines after a URI; a URL with a line break could add some.
		return errors.New("download address contains whitespace or control characters")
	}
	if err := CheckURL(url); err != nil {
		return err
	}
	dir, name := filepath.Split(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var base int64 // what is on disk already: not this call's progress
	if fi, err := os.Stat(path); err == nil {
		base = fi.Size()
	}
	args := []string{
		"--no-conf=true", "--input-file=-",
		"--continue=true", "--auto-file-renaming=false", "--allow-overwrite=false", "--file-allocation=none",
		// a server that cannot resume gets the file from the start rather than failing the download
		"--always-resume=false", "--max-resume-failure-tries=0",
		"--max-connection-per-server=" + strconv.Itoa(max(a.Connections, 1)),
		"--split=" + strconv.Itoa(max(a.Split, 1)),
		"--min-split-size=" + strconv.FormatInt(max(a.MinSplitSize, 1<<20), 10),
		"--connect-timeout=" + secs(a.ConnectTimeout), "--timeout=" + secs(a.Timeout),
		"--max-tries=" + strconv.Itoa(max(a.MaxTries, 1)), "--retry-wait=" + strconv.Itoa(int(a.RetryWait.Seconds())),
		"--lowest-speed-limit=" + strconv.FormatInt(a.LowestSpeed, 10),
		"--auto-save-interval=2", "--remote-time=false", "--conditional-get=false",
		"--stop-with-process=" + strconv.Itoa(os.Getpid()),
		"--summary-interval=1", "--human-readable=false", "--enable-color=false", "--console-log-level=error",
		"--download-result=hide",
	}
	cmd := exec.CommandContext(ctx, a.Bin, args...)
	cmd.SysProcAttr = childAttr()
	cmd.Env = childEnv(proxyEnv...)
	// Options given with a URI in the input file; aria2c ignores --out for input-file URIs.
	cmd.Stdin = strings.NewReader(url + "\n  dir=" + dir + "\n  out=" + name + "\n")
	// On cancel, ask aria2c to stop: it then writes its control file, so the next call resumes.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 15 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start aria2c: %w", err)
	}
	var reported, status int64
	var detail string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if m := readoutRE.FindStringSubmatch(line); m != nil {
			done, _ := strconv.ParseInt(m[1], 10, 64)
			if d := done - base - reported; d > 0 && progress != nil {
				progress(d)
				reported += d
			}
			continue
		}
		if m := statusRE.FindStringSubmatch(line); m != nil {
			status, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := errCodeRE.FindStringSubmatch(line); m != nil {
			detail = strings.TrimSpace(m[1])
		}
	}
	_, _ = io.Copy(io.Discard, out)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return fmt.Errorf("aria2c stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("aria2c: %w", err)
		}
		return &DownloadError{Exit: ee.ExitCode(), Status: int(status), Detail: redactURLs(strings.ReplaceAll(detail, url, fsx.RedactURL(url)))}
	}
	if fi, err := os.Stat(path); err == nil && progress != nil {
		if d := fi.Size() - base - reported; d > 0 {
			progress(d)
		}
	}
	return nil
}

func secs(d time.Duration) string {
	return strconv.Itoa(max(int(d.Seconds()), 1))
}
