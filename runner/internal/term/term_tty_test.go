package term

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressHelper is the program TestProgressLineFitsTerminal runs inside tmux: a status line far wider
// than the terminal, redrawn around every log line.
func TestProgressHelper(t *testing.T) {
	if os.Getenv("MEETPIPE_PROGRESS_HELPER") == "" {
		t.Skip("run by TestProgressLineFitsTerminal")
	}
	tm := NewTerminal(os.Stderr)
	n := 0
	tm.SetStatus(func() string {
		n++
		return strings.Repeat(fmt.Sprintf("tencent_list %d✓ 2▶ 1✗ │ ", n), 8)
	})
	for i := range 20 {
		fmt.Fprintf(tm, "log line %d\n", i)
	}
	tm.mu.Lock()
	tm.draw()
	tm.mu.Unlock()
	tm.stop <- struct{}{} // stop redrawing, keep the last status on screen
	fmt.Fprint(os.Stderr, "\nHELPER DONE")
	select {} // tmux captures the pane while the helper lives
}

// The live status line is cut to the terminal's width: at 80 columns a redraw never leaves a wrapped
// piece behind, so the screen holds the log lines and one status line.
func TestProgressLineFitsTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("no tmux")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	cmd := fmt.Sprintf("MEETPIPE_PROGRESS_HELPER=1 %q -test.run '^TestProgressHelper$'", exe)
	if out, err := exec.Command(tmux, "-S", sock, "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "40", cmd).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	defer exec.Command(tmux, "-S", sock, "kill-server").Run()
	var pane string
	for range 200 { // wait for the helper to finish drawing (not a timing assertion)
		out, err := exec.Command(tmux, "-S", sock, "capture-pane", "-p").Output()
		if err == nil && strings.Contains(string(out), "HELPER DONE") {
			pane = string(out)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pane == "" {
		t.Fatal("the helper did not finish")
	}
	var status, logs int
	for _, l := range strings.Split(pane, "\n") {
		switch {
		case strings.HasPrefix(l, "log line "):
			if l != strings.TrimRight(l, " ") || len(strings.Fields(l)) != 3 {
				t.Errorf("a log line shares its row with status leftovers: %q", l)
			}
			logs++
		case strings.Contains(l, "✓"):
			status++
			if !strings.HasSuffix(strings.TrimRight(l, " "), "…") {
				t.Errorf("status line not cut with an ellipsis: %q", l)
			}
		}
	}
	if logs != 20 || status != 1 {
		t.Errorf("%d log lines (want 20), %d status rows (want 1):\n%s", logs, status, pane)
	}
}
