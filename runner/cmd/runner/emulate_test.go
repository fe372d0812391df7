//go:build dev

package main

import (
	"strings"
	"testing"
)

// The development build serves the emulators; an unknown one is a usage error naming those there are.
func TestEmulateNamesItsServices(t *testing.T) {
	code, _, errOut := runCLI("emulate", "tencnet")
	if code != 2 || !strings.Contains(errOut, "tencent, asr, moonshot, wecom") {
		t.Errorf("emulate tencnet: exit %d, want 2 naming the services:\n%s", code, errOut)
	}
	if code, out, _ := runCLI("emulate", "tencent", "-h"); code != 0 || !strings.Contains(out, "-fixture") {
		t.Errorf("emulate tencent -h: exit %d, want the emulator's flags:\n%s", code, out)
	}
}
