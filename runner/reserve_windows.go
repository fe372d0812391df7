package runner

import "syscall"

var errDQUOT error = syscall.ENOSPC
