//go:build unix && !linux

package plugins

import "syscall"

// groupAttr gives a plugin its own process group, so that a timeout kills the children it started as well.
// Only Linux can also have the kernel kill it when the runner dies.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
