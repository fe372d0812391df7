package disk

import "syscall"

var errDQUOT error = syscall.ENOSPC
