package media

import "syscall"

// childAttr makes the kernel kill a tool when the runner dies, so that a killed run leaves no aria2c or
// ffmpeg writing into files the next run resumes or replaces.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
