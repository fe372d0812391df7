package plugins

import (
	"errors"
	"os"
	"syscall"
)

// Windows has no process groups to signal: a plugin's own children outlive a timeout there.
func groupAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) error {
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
