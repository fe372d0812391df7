package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate and run agree: what run refuses when it loads the pipeline, validate refuses, with the same
// message at the same place.
func TestValidateRefusesWhatRunRefuses(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "pipelines", "meeting.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const good = "TQM_SECRET_ID=id\nTQM_SECRET_KEY=key\nENTERPRISE_ID=1\nTEACHER_WHITELIST=t1\nASR_BASE_URL=http://127.0.0.1:1\nKIMI_API_KEY=k\nKIMI_BASE_URL=http://127.0.0.1:1/v1\n"
	model := "      model: ${KIMI_MODEL:-moonshot-v1-128k}"
	if !bytes.Contains(src, []byte(model)) {
		t.Fatalf("pipelines/meeting.yaml has no line %q", model)
	}
	for name, c := range map[string]struct{ env, pipeline, want string }{
		"empty KIMI_API_KEY":          {strings.Replace(good, "KIMI_API_KEY=k", "KIMI_API_KEY=", 1), "", "api_key is empty; set KIMI_API_KEY"},
		"ASR_BASE_URL with no scheme": {strings.Replace(good, "ASR_BASE_URL=http://127.0.0.1:1", "ASR_BASE_URL=gpu:8000/v1", 1), "", `base URL "gpu:8000/v1" is not an absolute http(s) URL`},
		"template naming no field": {good, strings.Replace(string(src), model, model+"\n      user: '{{.subject}} {{.nope}}'", 1),
			"user template: {{.nope}} names no field"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			env := filepath.Join(dir, ".env")
			os.WriteFile(env, []byte(c.env+"MEETPIPE_STATE_DIR="+filepath.Join(dir, "state")+"\nMEETPIPE_LOG_FILE="+filepath.Join(dir, "run.log")+"\n"), 0o600)
			file := filepath.Join(dir, "meeting.yaml")
			p := c.pipeline
			if p == "" {
				p = string(src)
			}
			os.WriteFile(file, []byte(p), 0o644)
			plugins := filepath.Join(root, "plugins")
			var msgs [2]string
			for i, args := range [][]string{
				{"validate", file, "--env-file", env, "--plugins", plugins},
				{"run", file, "--env-file", env, "--plugins", plugins, "--no-preflight"},
			} {
				var out, errOut bytes.Buffer
				if code := cli(context.Background(), args, &out, &errOut); code != 2 {
					t.Fatalf("runner %s: exit %d, want 2:\n%s%s", args[0], code, out.String(), errOut.String())
				}
				if !strings.Contains(errOut.String(), c.want) {
					t.Fatalf("runner %s does not say %q:\n%s", args[0], c.want, errOut.String())
				}
				for _, l := range strings.Split(errOut.String(), "\n") {
					if strings.Contains(l, c.want) {
						msgs[i] = l[strings.Index(l, "meeting.yaml:"):]
					}
				}
			}
			if msgs[0] != msgs[1] {
				t.Errorf("validate says %q, run says %q", msgs[0], msgs[1])
			}
		})
	}
}
