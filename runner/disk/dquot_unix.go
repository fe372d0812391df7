//go:build unix

package disk

import "syscall"

var errDQUOT error = syscall.EDQUOT
