package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"meetpipe/runner/internal/logging"
	"meetpipe/runner/step"

	"gopkg.in/yaml.v3"
)

func (d *decoder) retention(n *yaml.Node) *step.Retention {
	r := step.KeepAll
	d.fields(n, "retention", []string{"transcripts", "media", "run_history", "logs"}, func(key string, _, v *yaml.Node) {
		dur := step.Keep
		if v.Kind != yaml.ScalarNode || (v.Value != "keep" && v.Value != "") {
			dur = d.duration(v, "retention."+key, 0, 100*365*24*time.Hour)
		}
		switch key {
		case "transcripts":
			r.Transcripts = dur
		case "media":
			r.Media = dur
		case "run_history":
			r.RunHistory = dur
		case "logs":
			r.Logs = dur
		}
	})
	return &r
}

// Retain enforces the pipeline's retention at now: in state_dir, in the log file and in every step that
// keeps data (Retainer). With dryRun it only counts. It is what the end of every run calls.
func (p *Pipeline) Retain(ctx context.Context, now time.Time, dryRun bool) ([]step.Expired, error) {
	pol := p.Retention
	var out []step.Expired
	var errs []error
	add := func(where, what string, n int, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("retention %s %s: %w", where, what, err))
		}
		if n > 0 {
			out = append(out, step.Expired{Where: where, What: what, Count: n})
		}
	}
	if pol.Transcripts >= 0 {
		n, err := expireItems(filepath.Join(p.StateDir, "items"), now.Add(-pol.Transcripts), dryRun)
		add("state_dir", "memo entries", n, err)
	}
	if pol.Media >= 0 {
		for _, sub := range []string{"media", "audio"} {
			n, err := expireFiles(filepath.Join(p.StateDir, sub), now.Add(-pol.Media), dryRun)
			add("state_dir", sub+" files", n, err)
		}
	}
	if pol.RunHistory >= 0 {
		n, err := expireFiles(filepath.Join(p.StateDir, "runs"), now.Add(-pol.RunHistory), dryRun)
		add("state_dir", "run history", n, err)
	}
	if pol.Logs >= 0 && p.LogFile != "" {
		n, err := logging.TrimLog(p.LogFile, now.Add(-pol.Logs), dryRun)
		add("log_file", "log lines", n, err)
	}
	for _, s := range p.stages {
		if rt, ok := s.impl.(step.Retainer); ok {
			ex, err := rt.Retain(ctx, step.RetainOptions{Now: now, Policy: pol, DryRun: dryRun})
			if err != nil {
				errs = append(errs, fmt.Errorf("retention step %s: %s", s.id, p.Secrets.Scrub(err.Error())))
			}
			out = append(out, ex...)
		}
	}
	return out, errors.Join(errs...)
}

// expireItems deletes the state of items last touched before cutoff: their memo holds the transcript.
func expireItems(dir string, cutoff time.Time, dryRun bool) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(dir, e.Name())
		last, err := newest(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !last.Before(cutoff) {
			continue
		}
		n++
		if !dryRun {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return n, errors.Join(errs...)
}

// newest is the latest modification time of the files under dir.
func newest(dir string) (time.Time, error) {
	var t time.Time
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := e.Info(); err == nil && !e.IsDir() && info.ModTime().After(t) {
			t = info.ModTime()
		}
		return nil
	})
	return t, err
}

// expireFiles deletes the files under dir modified before cutoff (a cutoff of now: all of them), and
// the folders that leaves empty.
func expireFiles(dir string, cutoff time.Time, dryRun bool) (int, error) {
	n := 0
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == dir {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if e.IsDir() {
			if path != dir {
				dirs = append(dirs, path)
			}
			return nil
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return err
		}
		n++
		if dryRun {
			return nil
		}
		return os.Remove(path)
	})
	if !dryRun {
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i]) // only an empty folder goes
		}
	}
	return n, err
}

// retain enforces the retention at the end of a run; a dry run prints what would go instead. A failure is
// logged, never fatal: the run's items are stored, and the next run tries again.
func (r *run) retain() {
	ex, err := r.p.Retain(r.workCtx, time.Now(), r.o.DryRun)
	if err != nil {
		r.log.Error("retention incomplete", "err", err)
	}
	for _, e := range ex {
		if r.o.DryRun {
			r.reportRetention(e)
			continue
		}
		r.log.Info("retention deleted", "where", e.Where, "what", e.What, "count", e.Count)
	}
}

func (r *run) reportRetention(e step.Expired) {
	if r.o.Report == nil {
		return
	}
	var line string
	if r.o.JSON {
		b, _ := json.Marshal(struct {
			Retention step.Expired `json:"retention"`
		}{e})
		line = string(b)
	} else {
		line = fmt.Sprintf("retention: would delete %d %s (%s)", e.Count, e.What, e.Where)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(r.o.Report, line)
}
