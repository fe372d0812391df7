package media

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Packages maps each tool to the Debian package that provides it.
var Packages = map[string]string{
	"aria2c":    "aria2",
	"ffmpeg":    "ffmpeg",
	"ffprobe":   "ffmpeg",
	"espeak-ng": "espeak-ng",
}

// MissingToolError says that a tool is not installed and how to install it.
type MissingToolError struct {
	Tool    string
	Package string
}

func (e *MissingToolError) Error() string {
	return fmt.Sprintf("%s not found on PATH: install it with `apt-get install %s` (or run `just deps`)", e.Tool, e.Package)
}

// LookTool finds tool on PATH. A missing tool is a *MissingToolError naming its apt package.
func LookTool(tool string) (string, error) {
	p, err := exec.LookPath(tool)
	if err != nil {
		pkg := Packages[tool]
		if pkg == "" {
			pkg = tool
		}
		return "", &MissingToolError{Tool: tool, Package: pkg}
	}
	return p, nil
}

// toolEnv are the environment variables ffmpeg and ffprobe inherit, as exec plugins do (plugins/exec.go):
// the runner's environment carries every key and DSN of the pipeline (systemd EnvironmentFile,
// Kubernetes envFrom), and no tool needs them.
var toolEnv = []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE"}

// proxyEnv are read by aria2c itself (aria2c(1), ENVIRONMENT): a download behind a proxy needs them.
var proxyEnv = []string{"http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY", "NO_PROXY"}

// childEnv returns the allow-listed part of the runner's environment, plus extra names.
func childEnv(extra ...string) []string {
	env := []string{}
	for _, k := range append(append([]string{}, toolEnv...), extra...) {
		if v, ok := os.LookupEnv(k); ok && !strings.ContainsRune(k, '=') {
			env = append(env, k+"="+v)
		}
	}
	return env
}
