package runner

import (
	"os"
	"strings"
	"testing"
)

// A broken env file line is a diagnostic at its line, printed without the line (it may be a secret).
func TestEnvFileErrorAtItsLine(t *testing.T) {
	f := t.TempDir() + "/.env"
	if err := os.WriteFile(f, []byte("A=1\n\nsk-SECRET-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadBytes("t.yaml", []byte("steps:\n  - uses: nums\n"), LoadOptions{Registry: testRegistry(&calls{n: map[string]int{}}, nil, nil), EnvFile: f})
	if err == nil || !strings.HasPrefix(err.Error(), f+":3:1: want KEY=VALUE") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("got %v", err)
	}
}
