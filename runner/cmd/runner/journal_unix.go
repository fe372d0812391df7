//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// onJournal reports whether f is the stream systemd connected to journald: JOURNAL_STREAM holds its
// "device:inode" (systemd.exec(5) "Environment variables in spawned processes").
func onJournal(f *os.File) bool {
	want := os.Getenv("JOURNAL_STREAM")
	if want == "" {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && fmt.Sprintf("%d:%d", sys.Dev, sys.Ino) == want
}
