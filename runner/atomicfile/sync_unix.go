//go:build unix

package atomicfile

// ignorableSyncErr: on Unix a failed directory sync is a real failure.
func ignorableSyncErr(error) bool { return false }
