//go:build !unix

package push

import "os"

// lockFile: serve runs on Linux; elsewhere the inbox is not locked.
func lockFile(*os.File) error { return nil }
