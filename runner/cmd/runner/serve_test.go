package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meetpipe/runner/internal/demo"
	"meetpipe/runner/internal/push"
	"meetpipe/steps/store/storetest"
	"meetpipe/steps/tencent"
	tencentemu "meetpipe/steps/tencent/emulator"
)

// The serve tests run the built binary as a service against the emulators (which push to it, signed and
// encrypted as documented), real aria2c, ffmpeg and MariaDB.

const (
	serveToken = "TOKEN0123456789abcdefghij"
	serveAES   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

type served struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
	base           string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newServeE2E starts the emulators pushing to addr and writes the webhook secrets into the env file.
func newServeE2E(t *testing.T, dsn, addr string, o demo.ServerOptions) *e2e {
	t.Helper()
	o.Push = tencentemu.PushOptions{URL: "http://" + addr + push.Path, Token: serveToken, EncodingAESKey: serveAES}
	e := newE2E(t, dsn, 1, o)
	e.setEnv(t, "TQM_WEBHOOK_TOKEN", serveToken)
	e.setEnv(t, "TQM_WEBHOOK_AES_KEY", serveAES)
	e.setEnv(t, "LOG_LEVEL", "info") // the tests wait on serve's "run started" lines
	return e
}

// serve starts `runner serve`, with env added to its environment, and waits until it listens.
func (e *e2e) serve(t testing.TB, addr string, env ...string) *served {
	t.Helper()
	cmd := exec.Command(e.bin, "serve", e.pipeline, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins"),
		"--listen", addr, "--log-format", "json", "--grace", "20s")
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), env...)
	s := &served{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1), base: "http://" + addr}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	waitFor(t, 30*time.Second, "serve to listen", func() bool { return strings.Contains(s.stdout.String(), "listening on") }, s)
	return s
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool, s *served) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; serve's log:\n%s", what, tail(s.stderr.String(), 4000))
		}
		select {
		case err := <-s.done:
			t.Fatalf("serve exited (%v) while waiting for %s:\n%s", err, what, tail(s.stderr.String(), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func rowCount(t testing.TB, db *sql.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM recordings "+where, args...).Scan(&n); err != nil {
		if strings.Contains(err.Error(), "doesn't exist") {
			return 0 // not migrated yet: nothing stored
		}
		t.Fatal(err)
	}
	return n
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe: the STS round trip, the URL handshake, a pushed recording stored once through the same
// pipeline (filter included), duplicates, a later `runner run` that stores the rest exactly once, and
// SIGTERM.
func TestServe(t *testing.T) {
	t.Parallel() // its own database, emulators, state and port
	dsn := storetest.DB(t)
	addr := freeAddr(t)
	e := newServeE2E(t, dsn, addr, demo.ServerOptions{})
	db := openDB(t, dsn)
	s := e.serve(t, addr)
	ctx := context.Background()
	stateDir := filepath.Join(e.dir, "state")

	// STS: serve asks at start; the emulator pushes common.sts-token; serve keeps it, mode 0600.
	store := tencent.NewSTSStore(stateDir)
	waitFor(t, 30*time.Second, "the STS token", func() bool { _, ok, _ := store.Load(time.Now()); return ok }, s)
	tok, _, _ := store.Load(time.Now())
	if !e.srv.Tencent.STSValid(tok.Token) || e.srv.Tencent.STSRequests() != 1 {
		t.Fatalf("stored STS token not the emulator's (requests %d)", e.srv.Tencent.STSRequests())
	}
	if st, err := os.Stat(store.Path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("STS token file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	reqs := e.srv.Tencent.Requests(tencentemu.EndpointSTS)
	var body map[string]any
	if len(reqs) != 1 || json.Unmarshal(reqs[0].Body, &body) != nil || body["operator_id"] != "admin" || body["valid_time"] != float64(24) {
		t.Fatalf("STS request: %+v", reqs)
	}

	// The console's URL check.
	if err := e.srv.Tencent.VerifyURL(ctx); err != nil {
		t.Fatal(err)
	}

	// A pushed recording of a whitelisted teacher is stored; one of another teacher is filtered out.
	const rec, other = "1964787070499246101", "1964787070499246105"
	if err := e.srv.Tencent.PushRecording(ctx, "recording.completed", rec); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Tencent.PushRecording(ctx, "recording.completed", other); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "the pushed recording's row", func() bool { return rowCount(t, db, "WHERE id = ?", rec) == 1 }, s)
	// Nothing else was listed: the run targeted the event's recordings, not a window.
	waitFor(t, time.Minute, "the inbox to drain", func() bool {
		_, m := get(t, s.base+"/metrics")
		return strings.Contains(m, "meetpipe_push_queue_depth 0") && strings.Contains(m, `meetpipe_items_total{outcome="skipped"} 1`)
	}, s)
	if n := rowCount(t, db, ""); n != 1 {
		t.Fatalf("%d rows after one stored push, want 1", n)
	}
	// Tencent retries and a second event for the same file: acknowledged, not processed again.
	if err := e.srv.Tencent.PushRecording(ctx, "recording.completed", rec); err != nil {
		t.Fatal(err)
	}
	if _, m := get(t, s.base+"/metrics"); !strings.Contains(m, `meetpipe_push_events_duplicate_total{event="recording.completed"} 1`) ||
		!strings.Contains(m, `meetpipe_push_events_received_total{event="recording.completed"} 2`) ||
		!strings.Contains(m, "meetpipe_push_event_to_row_seconds_count") {
		t.Fatalf("metrics after a duplicate:\n%s", m)
	}
	if code, _ := get(t, s.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, body := get(t, s.base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	// `runner run` still works beside an idle serve, and stores the rest exactly once.
	if code, _, stderr := e.run(); code != 0 {
		t.Fatalf("runner run beside serve exited %d:\n%s", code, stderr)
	}
	assertDB(t, db, demo.Expected(1))

	// SIGTERM: drains and exits 0.
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\n%s", err, tail(s.stderr.String(), 3000))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit within grace after SIGTERM")
	}
	s.done <- nil // for the cleanup
	for _, secret := range []string{serveToken, serveAES, tok.Token} {
		if strings.Contains(s.stderr.String(), secret) {
			t.Fatal("serve's log shows a secret")
		}
	}
}

// TestServeCrashAfterAck kills serve with SIGKILL after it acknowledged an event and before it processed
// it (Tencent is slow to answer the lookup); the restarted service replays the event from state_dir.
func TestServeCrashAfterAck(t *testing.T) {
	t.Parallel() // its own database, emulators, state and port
	dsn := storetest.DB(t)
	addr := freeAddr(t)
	e := newServeE2E(t, dsn, addr, demo.ServerOptions{TencentLatency: time.Second})
	db := openDB(t, dsn)
	s := e.serve(t, addr)
	const rec = "1964787070499246103"
	if err := e.srv.Tencent.PushRecording(context.Background(), "recording.completed", rec); err != nil {
		t.Fatal(err) // acknowledged: 200 with the ack body
	}
	s.cmd.Process.Kill() // SIGKILL: no chance to finish or save anything more
	<-s.done
	s.done <- nil
	inbox := filepath.Join(e.dir, "state", push.Dir, "inbox")
	des, err := os.ReadDir(inbox)
	if err != nil || len(des) != 1 {
		t.Fatalf("after the kill the inbox holds %d entries (%v), want the acknowledged event", len(des), err)
	}
	if n := rowCount(t, db, ""); n != 0 {
		t.Fatalf("the event was processed before the kill (%d rows); the test proves nothing", n)
	}
	s = e.serve(t, addr)
	// While serve processes the state directory, a `runner run` on it exits 1 and says why.
	waitFor(t, time.Minute, "serve's run to start", func() bool { return strings.Contains(s.stderr.String(), `"msg":"run started"`) }, s)
	if code, _, stderr := e.run(); code != 1 || !strings.Contains(stderr, "locked by another run") {
		t.Fatalf("runner run while serve works: exit %d, want 1 naming the lock:\n%s", code, stderr)
	}
	waitFor(t, 3*time.Minute, "the replayed event's row", func() bool { return rowCount(t, db, "WHERE id = ?", rec) == 1 }, s)
	waitFor(t, time.Minute, "the inbox to drain", func() bool { d, _ := os.ReadDir(inbox); return len(d) == 0 }, s)
	if n := rowCount(t, db, ""); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}

	// SIGTERM while a pushed recording is in flight: exit 0 within grace; the recording is either stored
	// or its event is still in the inbox for the next start, never lost.
	const next = "1964787070499246104"
	runs := strings.Count(s.stderr.String(), `"msg":"run started"`)
	if err := e.srv.Tencent.PushRecording(context.Background(), "recording.completed", next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the second run to start", func() bool { return strings.Count(s.stderr.String(), `"msg":"run started"`) > runs }, s)
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve after SIGTERM while busy: %v\n%s", err, tail(s.stderr.String(), 3000))
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not exit within grace after SIGTERM")
	}
	s.done <- nil
	d, _ := os.ReadDir(inbox)
	if stored := rowCount(t, db, "WHERE id = ?", next); stored+len(d) != 1 {
		t.Fatalf("after SIGTERM: %d rows for %s and %d inbox entries; want exactly one of them", stored, next, len(d))
	}
}

// TestServeRunsTheCatchUp: at the schedule's time, serve runs the window itself, as the nightly timer did.
func TestServeRunsTheCatchUp(t *testing.T) {
	t.Parallel() // its own database, emulators, state and port
	dsn := storetest.DB(t)
	addr := freeAddr(t)
	e := newServeE2E(t, dsn, addr, demo.ServerOptions{})
	db := openDB(t, dsn)
	// serve's local time is a zone whose next minute begins in a few seconds, not in up to a minute.
	shipped := e.pipeline
	var s *served
	for try := 1; ; try++ {
		zone, at, minute := zoneWithMinuteIn(t, 10*time.Second)
		e.pipeline = shipped
		e.editPipeline(t, `  at: "03:00"
  since: 26h`, `  at: "`+at+`"
  since: 31d`)
		s = e.serve(t, addr, "TZ="+zone)
		if time.Now().Before(minute) || try == 3 {
			break
		}
		// Listening after the minute (a loaded machine): its catch-up may wait for tomorrow. Again.
		t.Logf("serve listened only after %s; starting it again with a later minute", minute.Format(time.TimeOnly))
		s.cmd.Process.Kill()
		<-s.done
		s.done <- nil // for the cleanup
	}
	waitFor(t, 2*time.Minute, "the catch-up run", func() bool {
		_, m := get(t, s.base+"/metrics")
		return strings.Contains(m, `meetpipe_runs_total{kind="catchup",status="ok"} 1`)
	}, s)
	// The demo's sessions from 31 days back are stored without any push.
	if n := rowCount(t, db, ""); n == 0 {
		t.Fatal("the catch-up run stored nothing")
	}
	if e.srv.Tencent.Count(tencentemu.EndpointCorpRecords) == 0 {
		t.Fatal("the catch-up run did not list the window")
	}
}

// zoneWithMinuteIn writes a time zone file (TZif version 1, RFC 8536: one local time type, no
// transitions) whose clock starts a whole minute about d from now, and returns its path, that minute as
// HH:MM (for TZ) and the instant it begins. d must outlast serve's start, or its schedule waits for
// tomorrow.
func zoneWithMinuteIn(t *testing.T, d time.Duration) (path, at string, minute time.Time) {
	t.Helper()
	target := time.Now().Add(d).Truncate(time.Second)
	offset := -int32(target.Unix() % 60) // seconds east of UTC that make the target's seconds zero
	var b bytes.Buffer
	b.WriteString("TZif")
	b.Write(make([]byte, 16))                      // version 1, then reserved
	for _, n := range []uint32{0, 0, 0, 0, 1, 4} { // isut, isstd, leap, transition counts; 1 type; 4 bytes of names
		binary.Write(&b, binary.BigEndian, n)
	}
	binary.Write(&b, binary.BigEndian, offset)
	b.Write([]byte{0, 0}) // not daylight saving time; its name at byte 0
	b.WriteString("TST\x00")
	loc, err := time.LoadLocationFromTZData("TST", b.Bytes())
	if err != nil {
		t.Fatalf("zone file: %v", err)
	}
	path = filepath.Join(t.TempDir(), "zone")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, target.In(loc).Format("15:04"), target
}
