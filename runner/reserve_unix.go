//go:build unix

package runner

import "syscall"

var errDQUOT error = syscall.EDQUOT
