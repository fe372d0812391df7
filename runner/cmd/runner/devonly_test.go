//go:build !dev

package main

import (
	"strings"
	"testing"
)

// Without the dev tag, demo and emulate keep their help but say where they are instead of running.
func TestDevCommandsSayWhereTheyAre(t *testing.T) {
	for _, args := range [][]string{{"demo"}, {"emulate", "tencent"}} {
		code, _, errOut := runCLI(args...)
		if code != 2 || !strings.Contains(errOut, "development build") || !strings.Contains(errOut, "just demo") {
			t.Errorf("runner %v: exit %d, want 2 saying where it is:\n%s", args, code, errOut)
		}
	}
	if code, out, _ := runCLI("demo", "-h"); code != 0 || !strings.Contains(out, "usage: runner demo") || !strings.Contains(out, "bin/runner-dev") {
		t.Errorf("demo -h: exit %d:\n%s", code, out)
	}
}
