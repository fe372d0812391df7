package runner

import (
	"context"
	"errors"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fillDisk is a step that, on the item numbered at, fills the file system under dir (as another program
// writing there would) before answering.
type fillDisk struct {
	dir string
	at  int
	did atomic.Bool
}

func (f *fillDisk) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	var n int
	if err := in.Get("n", &n); err != nil {
		return nil, err
	}
	if n == f.at && f.did.CompareAndSwap(false, true) {
		fh, err := os.Create(filepath.Join(f.dir, "junk"))
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := fh.Write(buf); err != nil {
				break
			}
		}
	}
	return step.Fields{"filled": n}, nil
}

// A disk under state_dir filling mid-run defers the item whose result cannot be kept (no item fails), stops
// the run, and the pending list is still written — from the space reserved for it — naming every item
// not done; once space is freed the next run, with a window that has moved on, finishes them all.
func TestStateDirFillingMidRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })

	h := newHarness(t)
	h.dir = dir
	fill := &fillDisk{dir: dir, at: 2}
	h.reg.Register(step.Define(step.Spec{Name: "fill", Version: "1", SideEffects: true, Reads: []string{"n"}, Writes: []step.Field{{Name: "filled", Sample: 0}}}, struct{}{}, func(struct{}, *step.Build) (any, error) { return fill, nil }))
	p := h.load("steps:\n  - uses: nums\n    with: {count: 6}\n  - uses: fill\n")
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || sum == nil || sum.Status != step.RunFailed || !strings.Contains(err.Error(), "disk full under state_dir") {
		t.Fatalf("run on a filling disk: %+v %v", sum, err)
	}
	if sum.Failed != 0 || sum.Done+sum.Pending != 6 || sum.PendingLost != "" {
		t.Fatalf("want no failed item and every undone one pending, kept: %+v", sum)
	}
	st, _ := state.Open(dir, true)
	pend, perr := st.Pending()
	if perr != nil || len(pend) != sum.Pending {
		t.Fatalf("pending.json names %d items (%v), the summary %d pending", len(pend), perr, sum.Pending)
	}
	if _, err := os.Stat(filepath.Join(dir, "junk")); err != nil {
		t.Fatal(err)
	}

	if _, err := os.Stat(filepath.Join(dir, "reserve")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the reserve was not used to write the pending list on the full disk: %v", err)
	}

	os.Remove(filepath.Join(dir, "junk"))
	sum, err, _ = h.run(p, RunOptions{})
	if err != nil || sum.Done != 6 || sum.Failed != 0 {
		t.Fatalf("after space was freed: %+v %v", sum, err)
	}
	if pend, _ := st.Pending(); len(pend) != 0 {
		t.Fatalf("still pending: %+v", pend)
	}
	if _, err := os.Stat(filepath.Join(dir, "reserve")); err != nil {
		t.Errorf("the reserve was not made again: %v", err)
	}
}

// A state_dir already full when the run starts (no reserve could be made) lists nothing and says so: the
// window cannot be recorded, so nothing is taken that could be forgotten.
func TestStateDirFullFromTheStart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	(&fillDisk{dir: dir}).Process(context.Background(), mustItem(t))
	h := newHarness(t)
	h.dir = dir
	p := h.load("steps:\n  - uses: nums\n    with: {count: 3}\n  - uses: double\n")
	sum, err, _ := h.run(p, RunOptions{})
	if err == nil || sum == nil || sum.Status != step.RunFailed || !strings.Contains(err.Error(), "record the window before listing it") || h.listed.Load() != 0 {
		t.Fatalf("full from the start: %+v %v, %d listed", sum, err, h.listed.Load())
	}
}

func mustItem(t *testing.T) *step.Item {
	it, err := step.NewItem("x", step.Fields{"n": 0})
	if err != nil {
		t.Fatal(err)
	}
	return it
}
