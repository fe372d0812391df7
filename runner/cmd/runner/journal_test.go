//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Under systemd (JOURNAL_STREAM names stderr) the run logs plain lines with sd-daemon priority prefixes,
// without a time of its own; another stream keeps JSON.
func TestJournalPriorityPrefixes(t *testing.T) {
	file, _, envFile := tinyFixture(t, "")
	errPath := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	sys := st.Sys().(*syscall.Stat_t)
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", sys.Dev, sys.Ino))
	code := cli(context.Background(), []string{"run", file, "--env-file", envFile, "--log-level", "info", "--no-preflight"}, os.Stdout, f)
	b, _ := os.ReadFile(errPath)
	out := string(b)
	if code != 1 || !strings.Contains(out, "<3>msg=\"listing failed\"") || !strings.Contains(out, "<6>msg=\"run started\"") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "runner:") || strings.HasPrefix(l, "  *") {
			continue // main's own last words
		}
		if len(l) < 3 || l[0] != '<' || l[2] != '>' || strings.Contains(l, "time=") {
			t.Errorf("not a journal line: %q", l)
		}
	}
	if strings.Contains(out, "key-SECRET-42") {
		t.Error("a secret reached the journal")
	}

	t.Setenv("JOURNAL_STREAM", "1:1") // some other stream
	f2, _ := os.Create(errPath + "2")
	defer f2.Close()
	cli(context.Background(), []string{"run", file, "--env-file", envFile, "--no-preflight"}, os.Stdout, f2)
	if b, _ := os.ReadFile(errPath + "2"); !strings.HasPrefix(string(b), "{") {
		t.Errorf("not JSON on another stream:\n%s", b)
	}
}
