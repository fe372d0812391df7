package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/internal/demo"
	"meetpipe/steps/store/storetest"
	tencentemu "meetpipe/steps/tencent/emulator"

	"github.com/go-sql-driver/mysql"
)

// doctor runs `runner doctor` on the demo's settings and returns its exit code and output.
func (e *e2e) doctor(args ...string) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"doctor", e.pipeline, "--env-file", e.envFile, "--plugins", filepath.Join(e.root, "plugins")}, args...)
	cmd := exec.CommandContext(ctx, e.bin, full...)
	cmd.Dir = e.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return code, out.String()
}

func (e *e2e) noSecrets(out string) {
	e.t.Helper()
	for _, s := range []string{demo.KimiKey, demo.ASRKey, tencentemu.DefaultSecretKey, tencentemu.DefaultSecretID} {
		if strings.Contains(out, s) {
			e.t.Errorf("a secret in the output:\n%s", out)
		}
	}
}

func TestDoctor(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	dsn := storetest.DB(t)
	e := newE2E(t, dsn, 1, demo.ServerOptions{})

	t.Run("the demo's settings are green and cost nothing", func(t *testing.T) {
		code, out := e.doctor()
		if code != 0 || strings.Contains(out, "fail ") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{"ok    state_dir", "ok    tencent_list: Tencent corp listing as admin", "ok    aria2_download: aria2c",
			"ok    ffmpeg_audio: ffmpeg encoder flac", "ok    kimi_asr: ASR server", "ok    kimi_classify: Moonshot model moonshot-v1-128k",
			"ok    kimi_classify: Moonshot balance", "ok    mysql_upsert: privileges", "mysql_upsert: schema version"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in:\n%s", want, out)
			}
		}
		e.noSecrets(out)
		if c := e.counts(); c.asr != 0 || c.chat != 0 || c.bytes != 0 {
			t.Errorf("doctor spent: %+v", c)
		}
	})

	t.Run("--output json, and --spend transcribes a second", func(t *testing.T) {
		code, out := e.doctor("--output", "json", "--spend")
		var fs []runner.StepFinding
		if err := json.Unmarshal([]byte(out), &fs); err != nil || code != 0 {
			t.Fatalf("exit %d, %v:\n%s", code, err, out)
		}
		found := false
		for _, f := range fs {
			found = found || f.Step == "kimi_asr" && f.Subject == "ASR transcription" && f.Status == "ok"
		}
		if !found {
			t.Errorf("no ASR transcription finding in %+v", fs)
		}
		if c := e.srv.ASR.Counters(); c.Transcribed != 1 {
			t.Errorf("--spend transcribed %d times", c.Transcribed)
		}
		e.noSecrets(out)
	})

	t.Run("an unknown model fails with exit 1", func(t *testing.T) {
		e.setEnv(t, "KIMI_MODEL", "moonshot-v9")
		defer e.setEnv(t, "KIMI_MODEL", "moonshot-v1-128k")
		code, out := e.doctor()
		if code != 1 || !strings.Contains(out, "fail  kimi_classify: Moonshot model moonshot-v9") || !strings.Contains(out, "set KIMI_MODEL to one of") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}

// A database that does not exist stops the run before anything is listed, downloaded, transcribed or
// classified: exit 1 (the environment, not the configuration) and the finding, and zero calls on the emulators' counters.
func TestRunPreflightStopsBeforeSpending(t *testing.T) {
	t.Parallel() // its own database, emulators and state
	cfg, err := mysql.ParseDSN(storetest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName += "_missing"
	e := newE2E(t, cfg.FormatDSN(), 1, demo.ServerOptions{})
	code, _, stderr := e.run()
	if code != 1 || !strings.Contains(stderr, "preflight failed") || !strings.Contains(stderr, "CREATE DATABASE `"+cfg.DBName+"`") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if c := e.counts(); c.asr != 0 || c.chat != 0 || c.bytes != 0 {
		t.Errorf("the run spent before failing: %+v", c)
	}
	if n := len(e.srv.Tencent.Requests("")); n != 0 {
		t.Errorf("%d Tencent requests before the preflight stopped the run", n)
	}
	e.noSecrets(stderr)

	// --no-preflight skips it: the run goes on and fails at the write instead.
	code, _, stderr = e.run("--no-preflight")
	if code != 1 || e.counts().asr == 0 {
		t.Fatalf("--no-preflight: exit %d, counters %+v:\n%s", code, e.counts(), stderr)
	}
}

// validate and a dry run need nothing installed: tools are looked up when a run or a check acquires them.
func TestValidateNeedsNoTools(t *testing.T) {
	t.Parallel() // its own env file; the process it starts has its own PATH
	e := &e2e{t: t, root: repoRoot(t), bin: runnerBinary(t)}
	env := filepath.Join(t.TempDir(), "test.env")
	os.WriteFile(env, []byte("TQM_SECRET_ID=id\nTQM_SECRET_KEY=key\nENTERPRISE_ID=1\nTEACHER_WHITELIST=t1\nASR_BASE_URL=http://127.0.0.1:1\nKIMI_API_KEY=k\n"), 0o600)
	cmd := exec.Command(e.bin, "validate", filepath.Join(e.root, "pipelines", "meeting.yaml"), "--env-file", env, "--plugins", filepath.Join(e.root, "plugins"))
	cmd.Env = []string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir(), e2eMainEnv + "=1"} // no aria2c, ffmpeg or ffprobe
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok (9 steps") {
		t.Fatalf("validate without tools: %v\n%s", err, out)
	}
}
