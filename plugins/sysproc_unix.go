//go:build unix

package plugins

import (
	"errors"
	"os"
	"syscall"
)

// killGroup kills the process group led by p. A group already gone is not an error.
func killGroup(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
