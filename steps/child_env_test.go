package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meetpipe/runner/step"
)

// fakeTools puts scripts named like the tools first on PATH; each writes its environment to dir/NAME.env
// and fails. The steps then run them exactly as they run the real ones.
func fakeTools(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		script := "#!/bin/sh\n/usr/bin/env > '" + filepath.Join(dir, n+".env") + "'\nexit 1\n"
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

// Secrets passed to the runner through its environment (systemd EnvironmentFile, envFrom) must not
// reach aria2c, ffmpeg or ffprobe.
func TestToolsGetAnAllowListedEnvironment(t *testing.T) {
	t.Setenv("KIMI_API_KEY", "sk-env-SECRET-1")
	t.Setenv("DB_PASS", "db-env-SECRET-2")
	t.Setenv("https_proxy", "http://proxy.example:3128")
	dir := fakeTools(t, "aria2c", "ffmpeg", "ffprobe")

	dl, _, _ := newTestDownload(t, "{connections: 1}")
	dl.Process(context.Background(), filesItem(t, "rec", listedFile{FileID: "f", Size: 10, URL: "https://example.invalid/f"}))

	media := filepath.Join(t.TempDir(), "a.mp4")
	if err := os.WriteFile(media, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustTestAudio(t, "").Process(context.Background(), mediaItem(t, media))

	for _, tool := range []string{"aria2c", "ffprobe"} {
		b, err := os.ReadFile(filepath.Join(dir, tool+".env"))
		if err != nil {
			t.Fatalf("%s was not run: %v", tool, err)
		}
		env := string(b)
		if strings.Contains(env, "SECRET") {
			t.Errorf("%s inherited a secret:\n%s", tool, env)
		}
		if !strings.Contains(env, "PATH=") {
			t.Errorf("%s lost PATH:\n%s", tool, env)
		}
		if wantProxy := tool == "aria2c"; strings.Contains(env, "https_proxy=") != wantProxy {
			t.Errorf("%s: proxy passed = %v, want %v", tool, !wantProxy, wantProxy)
		}
	}
}

// The preflight's and doctor's probes of the tools (-version, -encoders) get the same allow-listed
// environment as the real runs.
func TestToolChecksGetAnAllowListedEnvironment(t *testing.T) {
	t.Setenv("KIMI_API_KEY", "sk-env-SECRET-1")
	t.Setenv("DB_PASS", "db-env-SECRET-2")
	dir := fakeTools(t, "aria2c", "ffmpeg", "ffprobe")
	dl, _, _ := newTestDownload(t, "{connections: 1}")
	dl.Check(context.Background(), step.CheckOptions{Preflight: true})
	mustTestAudio(t, "").Check(context.Background(), step.CheckOptions{Preflight: true})
	for _, tool := range []string{"aria2c", "ffmpeg", "ffprobe"} {
		b, err := os.ReadFile(filepath.Join(dir, tool+".env"))
		if err != nil {
			t.Fatalf("%s was not probed: %v", tool, err)
		}
		if env := string(b); strings.Contains(env, "SECRET") || !strings.Contains(env, "PATH=") {
			t.Errorf("%s's probe got:\n%s", tool, env)
		}
	}
}
