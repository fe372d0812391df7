//go:build !unix

package main

import "os"

// onJournal is false where there is no journald.
func onJournal(*os.File) bool { return false }
