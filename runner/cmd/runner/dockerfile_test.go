package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No Docker engine runs where the tests run, so the Dockerfile is checked as far as it can be without one:
// the runtime image is Debian slim with aria2, ffmpeg and jq and runs as a non-root user, and the builder
// stage's own go build commands, run here as written, make a static runner that names the version and
// commit passed as build arguments.
func TestDockerfile(t *testing.T) {
	t.Parallel() // builds into its own temporary folder
	if testing.Short() {
		t.Skip("long: builds the runner and the plugin as the image does (static, trimmed)")
	}
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) != 2 || !regexp.MustCompile(`^debian:[a-z]+-slim$`).MatchString(froms[1][1]) {
		t.Errorf("runtime base %v, want debian:*-slim last", froms)
	}
	for _, pkg := range []string{"aria2", "ffmpeg", "jq", "ca-certificates"} {
		if !regexp.MustCompile(`install[^\n]*\b` + pkg + `\b`).MatchString(df) {
			t.Errorf("the image does not install %s", pkg)
		}
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "0") || strings.HasPrefix(users[len(users)-1][1], "root") {
		t.Errorf("the image runs as %v, want a non-root user", users)
	}
	if !strings.Contains(df, `ENTRYPOINT ["/opt/meetpipe/bin/runner"]`) {
		t.Error("no runner entrypoint")
	}

	// The builder's RUN line, with /out in a temporary folder and the build arguments filled in.
	run := regexp.MustCompile(`(?s)RUN (CGO_ENABLED=0 go build.*?)\n\n`).FindStringSubmatch(df)
	if run == nil {
		t.Fatal("no go build RUN line in the Dockerfile")
	}
	out := t.TempDir()
	script := strings.NewReplacer("\\\n", " ", "/out/", out+"/", "${VERSION}", "v9.9.9-test", "${COMMIT}", "0123abcd").Replace(run[1])
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build fails: %v\n%s", err, b)
	}
	v, err := exec.Command(filepath.Join(out, "bin", "runner"), "version").Output()
	if err != nil || !strings.Contains(string(v), "runner v9.9.9-test (commit 0123abcd") {
		t.Errorf("runner version = %q, %v", v, err)
	}
	// The production build: the emulators and the demo are not in it, and it says where they are.
	demo := exec.Command(filepath.Join(out, "bin", "runner"), "demo")
	if b, err := demo.CombinedOutput(); demo.ProcessState == nil || demo.ProcessState.ExitCode() != 2 || !strings.Contains(string(b), "development build") {
		t.Errorf("runner demo of the image: %v\n%s", err, b)
	}
	for _, p := range []string{"plugins/wecom_notify/wecom_notify", "plugins/tag_subject/tag.sh", "pipelines/meeting.yaml"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("the image would lack %s", p)
		}
	}
	if f, err := exec.Command("file", filepath.Join(out, "bin", "runner")).Output(); err == nil && !strings.Contains(string(f), "statically linked") {
		t.Errorf("runner is not static: %s", f)
	}
}
