package storetest

import "syscall"

// sysProcAttr makes the kernel kill mariadbd when the test binary dies, so that a crashed or killed test
// leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
