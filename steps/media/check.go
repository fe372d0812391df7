package media

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"meetpipe/runner/finding"
)

// Lazy finds a tool on PATH on first use and remembers the answer, so that loading and validating a
// pipeline need nothing installed: only a run or a check acquires the tools.
type Lazy struct {
	Tool string

	mu   sync.Mutex
	path string
}

// Path returns the tool's path, or a *MissingToolError. A missing tool is looked up again next time, so
// installing it during a long run helps the items that follow.
func (l *Lazy) Path() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path != "" {
		return l.path, nil
	}
	p, err := LookTool(l.Tool)
	if err != nil {
		return "", err
	}
	l.path = p
	return p, nil
}

// CheckTool reports whether tool is installed, with its version line.
func CheckTool(ctx context.Context, tool string) (finding.Finding, string) {
	p, err := LookTool(tool)
	if err != nil {
		return finding.Fail(tool, "not found on PATH", fmt.Sprintf("install it with `apt-get install %s` (or run `just deps`)", Packages[tool])), ""
	}
	cmd := exec.CommandContext(ctx, p, versionFlag(tool))
	cmd.Env = childEnv() // the probe gets what the real runs get, not the runner's secrets
	out, err := cmd.Output()
	if err != nil {
		return finding.Fail(tool, fmt.Sprintf("%s does not run: %v", p, err), fmt.Sprintf("reinstall it with `apt-get install --reinstall %s`", Packages[tool])), ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(line); len(f) > 3 {
		line = strings.Join(f[:3], " ") // "ffmpeg version 5.1.6-0+deb12u1", without the copyright
	}
	return finding.OK(tool, p+" ("+strings.TrimSpace(line)+")"), p
}

func versionFlag(tool string) string {
	if strings.HasPrefix(tool, "ff") {
		return "-version"
	}
	return "--version"
}

// Encoders maps the codecs of Encoding to the ffmpeg encoder each needs.
var Encoders = map[string]string{"flac": "flac", "opus": "libopus", "mp3": "libmp3lame"}

// CheckFFmpeg checks ffmpeg and ffprobe, and that ffmpeg has the encoders of codecs (`ffmpeg -encoders`).
// The whole-recording audio is always FLAC, so flac is checked whatever the chunks use.
func CheckFFmpeg(ctx context.Context, codecs ...string) []finding.Finding {
	ff, ffPath := CheckTool(ctx, "ffmpeg")
	fp, _ := CheckTool(ctx, "ffprobe")
	out := []finding.Finding{ff, fp}
	if ffPath == "" {
		return out
	}
	enc := exec.CommandContext(ctx, ffPath, "-hide_banner", "-encoders")
	enc.Env = childEnv()
	b, err := enc.Output()
	if err != nil {
		return append(out, finding.Fail("ffmpeg encoders", fmt.Sprintf("ffmpeg -encoders: %v", err), "reinstall ffmpeg with `apt-get install --reinstall ffmpeg`"))
	}
	have := encoderNames(b)
	seen := map[string]bool{}
	for _, c := range append([]string{"flac"}, codecs...) {
		enc := Encoders[c]
		if enc == "" || seen[enc] {
			continue
		}
		seen[enc] = true
		if have[enc] {
			out = append(out, finding.OK("ffmpeg encoder "+enc, "for "+c))
		} else {
			out = append(out, finding.Fail("ffmpeg encoder "+enc, "this ffmpeg cannot encode "+c,
				fmt.Sprintf("install an ffmpeg built with %s (Debian's ffmpeg package has it) or set codec: flac", enc)))
		}
	}
	return out
}

// encoderNames reads the names of `ffmpeg -encoders`: lines " A....D flac   FLAC (Free Lossless Audio Codec)"
// below the " ------" separator.
func encoderNames(b []byte) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	started := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case !started:
			started = len(f) == 1 && strings.HasPrefix(f[0], "---")
		case len(f) >= 2:
			names[f[1]] = true
		}
	}
	return names
}

// NightBytes is the disk space assumed for one recording of a night: a one-hour Tencent cloud recording
// (720p MP4) is a few hundred MB, its FLAC audio about 100 MB.
const NightBytes = 600 << 20
