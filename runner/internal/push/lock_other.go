//go:build !unix

package push

import "os"

// lockFile: serve runs on Linux; elsewhere the inbox is not locked.
func lockFile(*os.File) error { return nil }

// syncDir: directories cannot be synced here; the rename is what is durable.
func syncDir(string) error { return nil }
