package media

import (
	"fmt"
	"os/exec"
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
