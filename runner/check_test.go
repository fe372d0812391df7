package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

type checkCfg struct {
	Token string `yaml:"token" secret:"true"`
}

// checkingStep reports one failed finding that quotes its secret, and what it was asked.
type checkingStep struct {
	stepFunc
	token string
	got   *step.CheckOptions
}

func (s checkingStep) Check(ctx context.Context, o step.CheckOptions) []step.Finding {
	*s.got = o
	return []step.Finding{step.Fail("service", "key "+s.token+" refused", "set TOKEN")}
}

func checkRegistry(got map[string]*step.CheckOptions) *step.Registry {
	reg := testRegistry(&calls{n: map[string]int{}}, new(atomic.Int64), nil)
	for _, side := range []bool{false, true} {
		name := "checked"
		if side {
			name = "checked_sink"
		}
		got[name] = &step.CheckOptions{}
		reg.Register(step.Define(step.Spec{Name: name, Version: "1", SideEffects: side, Reads: []string{"n"}}, checkCfg{}, func(cfg checkCfg, b *step.Build) (any, error) {
			return checkingStep{token: cfg.Token, got: got[name]}, nil
		}))
	}
	return reg
}

const checkPipeline = `
name: t
steps:
  - uses: nums
  - uses: checked
    with: {token: "${TOKEN}"}
  - uses: checked_sink
    with: {token: "${TOKEN}"}
`

func loadChecked(t *testing.T, stateDir string, got map[string]*step.CheckOptions) *Pipeline {
	t.Helper()
	p, err := LoadBytes("test.yaml", []byte(checkPipeline), LoadOptions{Registry: checkRegistry(got),
		Env: map[string]string{"TOKEN": "tok-SECRET-123"}, StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestPipelineCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	got := map[string]*step.CheckOptions{}
	p := loadChecked(t, dir, got)

	fs := p.Check(context.Background(), step.CheckOptions{Window: 24 * time.Hour})
	if len(fs) != 3 || fs[0].Subject != "state_dir" || fs[0].Status != step.StatusOK || !strings.Contains(fs[0].Detail, "will be created") {
		t.Fatalf("%+v", fs)
	}
	if !Failed(fs) || fs[1].Step != "checked" || fs[2].Step != "checked_sink" {
		t.Errorf("%+v", fs)
	}
	for _, f := range fs {
		if strings.Contains(f.Detail, "tok-SECRET-123") {
			t.Errorf("secret in %+v", f)
		}
	}
	if got["checked_sink"].StateDir != dir || got["checked_sink"].Window != 24*time.Hour {
		t.Errorf("options %+v", got["checked_sink"])
	}

	// The preflight checks only the steps with side effects.
	fs = p.Check(context.Background(), step.CheckOptions{Preflight: true})
	if len(fs) != 2 || fs[1].Step != "checked_sink" || !got["checked_sink"].Preflight {
		t.Errorf("preflight: %+v", fs)
	}
}

func TestPipelineCheckStateDir(t *testing.T) {
	base := t.TempDir()
	blocker := filepath.Join(base, "file")
	writeFile(t, blocker, "x")
	fs := loadChecked(t, filepath.Join(blocker, "state"), map[string]*step.CheckOptions{}).Check(context.Background(), step.CheckOptions{})
	if fs[0].Subject != "state_dir" || fs[0].Status != step.StatusFail || !strings.Contains(fs[0].Detail, "is not a folder") {
		t.Errorf("%+v", fs[0])
	}
}

// The estimate of a night scales the busiest recent run to the window.
func TestPipelineCheckRecentItems(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		items int
		span  time.Duration
		dry   bool
	}{{12, 24 * time.Hour, false}, {70, 7 * 24 * time.Hour, false}, {500, 24 * time.Hour, true}} {
		if err := st.PutRun(state.RunRecord{RunInfo: step.RunInfo{ID: "r" + string(rune('0'+i)), Since: until.Add(-r.span), Until: until, DryRun: r.dry},
			Summary: step.Summary{Items: r.items}}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	got := map[string]*step.CheckOptions{}
	loadChecked(t, dir, got).Check(context.Background(), step.CheckOptions{Window: 48 * time.Hour})
	if n := got["checked"].RecentItems; n != 24 {
		t.Errorf("RecentItems %d, want 24 (12 a day over two days; the 7-day run is 20, dry runs do not count)", n)
	}
	os.RemoveAll(filepath.Join(dir, "runs"))
}
