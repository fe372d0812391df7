package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"meetpipe/runner/step"
)

const uncoveredFile = "uncovered.json"

// Uncovered returns the spans earlier runs asked for and did not list completely. Like the pending list,
// a damaged uncovered.json is replaced by its backup generation (note says so); when neither decodes,
// the error says how to proceed.
func (s *State) Uncovered() (spans []step.Span, note string, err error) {
	main := filepath.Join(s.dir, uncoveredFile)
	spans, merr := readSpans(main)
	if merr == nil && spans != nil {
		return spans, "", nil
	}
	bak, berr := readSpans(main + ".bak")
	switch {
	case merr == nil && berr == nil && bak == nil:
		return []step.Span{}, "", nil
	case berr == nil && bak != nil:
		why := "missing"
		if merr != nil {
			why = merr.Error()
		}
		return bak, fmt.Sprintf("%s: %s; using its backup %s.bak (%d spans)", main, why, uncoveredFile, len(bak)), nil
	case merr == nil:
		merr = errors.New("missing")
	}
	if berr == nil {
		berr = errors.New("missing")
	}
	return nil, "", fmt.Errorf("%s: %v, and its backup %s.bak: %v: the windows that earlier runs could not list "+
		"would be forgotten. Repair the file (a JSON list of {since, until, asked}), or remove both and run once "+
		"with a --since that reaches back to the last complete night", main, merr, uncoveredFile, berr)
}

func readSpans(path string) ([]step.Span, error) {
	spans, err := readList[step.Span](path, "a list of spans")
	if err != nil {
		return nil, err
	}
	for i, sp := range spans {
		if !sp.Since.Before(sp.Until) {
			return nil, fmt.Errorf("span %d: since %s is not before until %s", i, sp.Since.Format(time.RFC3339), sp.Until.Format(time.RFC3339))
		}
	}
	return spans, nil
}

// PutUncovered replaces the uncovered spans, keeping the current file (when it decodes) as the backup.
func (s *State) PutUncovered(spans []step.Span) error {
	if s.readOnly {
		return errors.New("state is read-only (dry run)")
	}
	if spans == nil {
		spans = []step.Span{}
	}
	main := filepath.Join(s.dir, uncoveredFile)
	return s.withReserve(func() error {
		if cur, err := readSpans(main); err == nil && cur != nil {
			b, err := os.ReadFile(main)
			if err != nil {
				return fmt.Errorf("back up the uncovered windows: %w", err)
			}
			if err := WriteFileAtomic(main+".bak", b); err != nil {
				return fmt.Errorf("back up the uncovered windows: %w", err)
			}
		}
		return s.write(main, spans)
	})
}
