package runner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// TestMain lets the test binary act as a runner process that the crash test kills with SIGKILL.
func TestMain(m *testing.M) {
	if dir := os.Getenv("RUNNER_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

const crashPipeline = `
steps:
  - uses: nums
    with: {count: 40}
  - uses: effect
    id: first
    concurrency: 3
  - uses: effect
    id: second
    concurrency: 2
`

// effectRegistry adds a step that leaves a file (its side effect) and logs each execution.
func effectRegistry(dir string) *step.Registry {
	reg := testRegistry(&calls{n: map[string]int{}}, new(atomicInt), nil)
	reg.Register(step.Define(step.Spec{Name: "effect", Version: "1", SideEffects: true, Reads: []string{"n"},
		Writes: []step.Field{{Name: "effects", Sample: []string{}}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			var prev []string
			if in.Has("effects") {
				in.Get("effects", &prev)
			}
			time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
			name := filepath.Join(dir, "effects", in.ID()+"-"+b.StepID)
			f, err := os.OpenFile(filepath.Join(dir, "executions.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(f, "%s %s\n", in.ID(), b.StepID)
			f.Close()
			if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
				return nil, err
			}
			return step.Fields{"effects": append(prev, b.StepID)}, nil
		}), nil
	}))
	return reg
}

type atomicInt = atomic.Int64

func crashChild(dir string) {
	p, err := LoadBytes("crash.yaml", []byte(crashPipeline), LoadOptions{Registry: effectRegistry(dir), Env: map[string]string{}, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := p.Run(context.Background(), RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestKillNineResumes kills a running runner at random instants; the runs after it must finish every item,
// never trust a step that did not finish, and never redo a step whose record says done.
func TestKillNineResumes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "effects"), 0o755)
	kills := 0
	for round := 0; round < 8; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "RUNNER_CRASH_CHILD="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: child failed: %v", round, err)
			}
			round = 99
		case <-time.After(time.Duration(20+rand.IntN(60)) * time.Millisecond):
			cmd.Process.Kill()
			<-done
			kills++
		}
	}
	// A final clean run finishes whatever is left.
	reg := effectRegistry(dir)
	p, err := LoadBytes("crash.yaml", []byte(crashPipeline), LoadOptions{Registry: reg, Env: map[string]string{}, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background(), RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil || sum.Done != 40 {
		t.Fatalf("final run: %+v %v", sum, err)
	}
	st, _ := state.Open(filepath.Join(dir, "state"), true)
	log, _ := os.ReadFile(filepath.Join(dir, "executions.log"))
	execs := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		execs[l]++
	}
	for i := range 40 {
		id := fmt.Sprintf("rec%03d", i)
		for _, step := range []string{"first", "second"} {
			rec, _ := st.Record(id, step)
			if rec == nil || rec.Status != "done" {
				t.Fatalf("%s/%s not done after the final run", id, step)
			}
			if _, err := os.Stat(filepath.Join(dir, "effects", id+"-"+step)); err != nil {
				t.Fatalf("%s/%s marked done but its effect is missing", id, step)
			}
			// A step may run again only when a kill struck between its effect and its record.
			if n := execs[id+" "+step]; n < 1 || n > 1+kills {
				t.Fatalf("%s/%s ran %d times with %d kills", id, step, n, kills)
			}
		}
	}
	// And a further run redoes nothing.
	before := len(strings.Split(strings.TrimSpace(string(log)), "\n"))
	if _, err := p.Run(context.Background(), RunOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	log, _ = os.ReadFile(filepath.Join(dir, "executions.log"))
	if after := len(strings.Split(strings.TrimSpace(string(log)), "\n")); after != before {
		t.Fatalf("a rerun executed %d steps", after-before)
	}
	t.Logf("%d kills", kills)
}
