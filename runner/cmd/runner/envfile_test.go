package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A named env file that does not exist is a usage error naming it; the default .env may be absent.
func TestMissingEnvFileExits2NamingIt(t *testing.T) {
	file, _, _ := tinyFixture(t, "")
	missing := filepath.Join(t.TempDir(), "prod.env")
	for _, cmd := range []string{"validate", "doctor"} {
		var out, errOut bytes.Buffer
		code := cli(context.Background(), []string{cmd, file, "--env-file", missing}, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), missing) {
			t.Errorf("%s with a missing --env-file: exit %d, want 2 naming %s:\n%s", cmd, code, missing, errOut.String())
		}
	}
	t.Chdir(t.TempDir()) // no .env here: fine, the pipeline needs no variable
	var out, errOut bytes.Buffer
	if code := cli(context.Background(), []string{"validate", file}, &out, &errOut); code != 0 {
		t.Errorf("validate with no .env and nothing to interpolate: exit %d:\n%s", code, errOut.String())
	}
}

// With no env file at all, the production pipeline's unset variables make one message that points at
// .env.example, not one error per variable.
func TestNoEnvAtAllGivesOneMessage(t *testing.T) {
	pipe, err := filepath.Abs("../../../pipelines/meeting.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"TEACHER_WHITELIST", "TQM_SECRET_ID", "TQM_SECRET_KEY", "ENTERPRISE_ID", "ASR_BASE_URL", "KIMI_API_KEY", "TQM_TEACHERS"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Skipf("%s is set in this environment", k)
		}
	}
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	code := cli(context.Background(), []string{"validate", pipe}, &out, &errOut)
	msg := strings.TrimSpace(errOut.String())
	if code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "cp .env.example") && !strings.Contains(msg, "copy .env.example to .env") {
		t.Fatalf("exit %d, want 2 and one line pointing at .env.example:\n%s", code, msg)
	}
	if !strings.Contains(msg, "TQM_SECRET_KEY") || strings.Contains(msg, "%7B") {
		t.Errorf("the message should name the unset variables, and nothing URL-encoded:\n%s", msg)
	}
}

// A Tencent key with a stray space is refused at load naming its variable (and never printed).
func TestKeyWithWhitespaceRefusedNamingItsVariable(t *testing.T) {
	file, _, envFile := tinyFixture(t, "")
	src, _ := os.ReadFile(file)
	src = bytes.Replace(src, []byte("secret_key: key-SECRET-42"), []byte(`secret_key: "${TQM_SECRET_KEY}"`), 1)
	if err := os.WriteFile(file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{`"key-SECRET-42 "`, `" key-SECRET-42"`, "\"key-SECRET-42\t\""} {
		if err := os.WriteFile(envFile, []byte("TQM_SECRET_KEY="+v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := cli(context.Background(), []string{"validate", file, "--env-file", envFile}, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), "TQM_SECRET_KEY") || !strings.Contains(errOut.String(), "white space") {
			t.Errorf("TQM_SECRET_KEY=%s: exit %d, want 2 naming the variable:\n%s", v, code, errOut.String())
		}
		if strings.Contains(errOut.String(), "key-SECRET-42") {
			t.Errorf("the key was printed:\n%s", errOut.String())
		}
	}
	if err := os.WriteFile(envFile, []byte("TQM_SECRET_KEY=key-SECRET-42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := cli(context.Background(), []string{"validate", file, "--env-file", envFile}, &out, &errOut); code != 0 {
		t.Errorf("a clean key: exit %d:\n%s", code, errOut.String())
	}
}

// An empty teacher whitelist exits 2 naming TEACHER_WHITELIST; the forms people type load.
func TestEmptyWhitelistExits2(t *testing.T) {
	file, _, envFile := tinyFixture(t, "vars:\n  teachers: !list ${TEACHER_WHITELIST}\n")
	for v, want := range map[string]int{"": 2, `" "`: 2, `"，"`: 2, `"teacher_001， teacher_002 "`: 0, `"teacher_001、teacher_002"`: 0, `'["teacher_001"]'`: 0} {
		if err := os.WriteFile(envFile, []byte("TEACHER_WHITELIST="+v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := cli(context.Background(), []string{"validate", file, "--env-file", envFile}, &out, &errOut)
		if code != want || want == 2 && !strings.Contains(errOut.String(), "TEACHER_WHITELIST") {
			t.Errorf("TEACHER_WHITELIST=%s: exit %d, want %d:\n%s", v, code, want, errOut.String())
		}
	}
}
