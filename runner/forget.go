package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"meetpipe/runner/internal/logging"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

// ForgetReport is what forgetting one student did.
type ForgetReport struct {
	Student  string           // as given (the caller asked for it; print it only if the caller may)
	Stores   []step.Forgotten // per Forgetter step
	State    StateErased      // in state_dir
	LogLines int              // lines of log_file that named them
}

// StateErased counts what was removed from state_dir.
type StateErased struct {
	Items   int `json:"items"`   // item folders (memo entries) that named the student
	Pending int `json:"pending"` // pending-list entries that named them
	Files   int `json:"files"`   // other files that named them (run history, listing cache)
}

// Forget erases each student from every step that stores people and from state_dir: the memo of every
// item that names them (so no later run serves their data from it), pending entries and any other state
// file naming them; and the lines of log_file that name them. It holds the state lock, so no run is under
// way meanwhile. With dryRun it only counts.
func (p *Pipeline) Forget(ctx context.Context, students []string, actor string, now time.Time, dryRun bool) ([]ForgetReport, error) {
	st, err := state.Open(p.StateDir, dryRun)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []ForgetReport
	for _, id := range students {
		if strings.TrimSpace(id) == "" {
			return out, errors.New("forget: empty student id")
		}
		rep := ForgetReport{Student: id}
		needles := []string{id}
		for _, s := range p.stages {
			f, ok := s.impl.(step.Forgetter)
			if !ok {
				continue
			}
			got, err := f.Forget(ctx, step.ForgetOptions{Student: id, Actor: actor, Now: now, DryRun: dryRun})
			if err != nil {
				return out, fmt.Errorf("forget in step %s: %s", s.id, p.Secrets.Scrub(err.Error()))
			}
			needles = append(needles, got.Aliases...)
			rep.Stores = append(rep.Stores, got)
		}
		if rep.State, err = eraseState(p.StateDir, needles, dryRun); err != nil {
			return out, fmt.Errorf("forget in state_dir: %w", err)
		}
		if p.LogFile != "" {
			forms := needleForms(needles)
			if rep.LogLines, err = logging.FilterLines(p.LogFile, dryRun, func(l []byte) bool { return len(forms) > 0 && names(l, forms) }); err != nil {
				return out, fmt.Errorf("forget in log_file: %w", err)
			}
		}
		out = append(out, rep)
	}
	return out, nil
}

// needleForms are the byte strings under which a value appears in a JSON state file: as written, and
// JSON-escaped (a writer may escape non-ASCII). Values under two characters would match everywhere.
func needleForms(values []string) [][]byte {
	var out [][]byte
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len([]rune(v)) < 2 {
			continue
		}
		out = append(out, []byte(v))
		b, _ := json.Marshal(v)
		if esc := b[1 : len(b)-1]; !bytes.Equal(esc, []byte(v)) {
			out = append(out, esc)
		}
		var ascii strings.Builder
		for _, r := range v {
			if r < 0x80 {
				ascii.WriteRune(r)
			} else {
				fmt.Fprintf(&ascii, `\u%04x`, r)
			}
		}
		if ascii.String() != v {
			out = append(out, []byte(ascii.String()))
		}
	}
	return out
}

func names(b []byte, needles [][]byte) bool {
	for _, n := range needles {
		if bytes.Contains(b, n) {
			return true
		}
	}
	return false
}

// eraseState removes what names the student under dir: whole item folders, pending entries (the list and
// its backup are rewritten without them) and any other file.
func eraseState(dir string, values []string, dryRun bool) (StateErased, error) {
	var res StateErased
	needles := needleForms(values)
	if len(needles) == 0 {
		return res, nil
	}
	items := filepath.Join(dir, "items")
	var errs []error
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() {
			if filepath.Dir(path) == items {
				hit, err := dirNames(path, needles)
				if err != nil {
					errs = append(errs, err)
				} else if hit {
					res.Items++
					if !dryRun {
						errs = append(errs, os.RemoveAll(path))
					}
				}
				return fs.SkipDir
			}
			if base := e.Name(); path != dir && (base == "media" || base == "audio") {
				return fs.SkipDir // recordings, not text
			}
			return nil
		}
		switch e.Name() {
		case "lock":
			return nil
		case "pending.json", "pending.json.bak":
			n, err := erasePending(path, needles, dryRun)
			if e.Name() == "pending.json" {
				res.Pending += n
			}
			errs = append(errs, err)
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if names(b, needles) {
			res.Files++
			if !dryRun {
				errs = append(errs, os.Remove(path))
			}
		}
		return nil
	})
	return res, errors.Join(append(errs, err)...)
}

func dirNames(dir string, needles [][]byte) (bool, error) {
	hit := false
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || hit {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		hit = names(b, needles)
		return nil
	})
	return hit, err
}

func erasePending(path string, needles [][]byte, dryRun bool) (int, error) {
	list, err := state.ReadPendingFile(path)
	if err != nil || list == nil {
		return 0, err
	}
	kept := slices.DeleteFunc(slices.Clone(list), func(p step.Pending) bool {
		b, _ := json.Marshal(p)
		return names(b, needles)
	})
	n := len(list) - len(kept)
	if n == 0 || dryRun {
		return n, nil
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return n, err
	}
	return n, state.WriteFileAtomic(path, b)
}

// admitted asks every Admitter about a freshly listed item.
func (r *run) admitted(ctx context.Context, w *work) (bool, string) {
	for _, s := range r.p.stages[1:] {
		a, ok := s.impl.(step.Admitter)
		if !ok {
			continue
		}
		ok, reason, err := a.Admit(ctx, w.item.Clone())
		if err != nil {
			r.log.Warn("cannot check whether the item's people were erased; admitting it", "item", w.item.ID(), "step", s.id,
				"err", r.p.Secrets.Scrub(err.Error()))
			continue
		}
		if !ok {
			return false, fmt.Sprintf("step %s: %s", s.id, reason)
		}
	}
	return true, ""
}
