// Package state keeps what runs of a pipeline leave in state_dir: step records (the memo), item states,
// the pending list, the uncovered windows and run history, behind one lock per directory.
package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"meetpipe/runner/atomicfile"
	"meetpipe/runner/step"
)

// State is the run's memory on local disk: one record per item and step, the items a source must look at
// again, and the run history. Every file is written whole to a temporary name and renamed, so a process
// killed at any instant leaves either the old file or the new one.
type State struct {
	dir      string
	readOnly bool
	lock     *os.File
}

// Record is what the state keeps of one step on one item.
type Record struct {
	Step     string                     `json:"step"`
	Key      string                     `json:"key"`
	Status   Outcome                    `json:"status"` // done, failed
	Attempts int                        `json:"attempts"`
	Error    string                     `json:"error,omitempty"`
	Output   map[string]json.RawMessage `json:"output,omitempty"`
	Inputs   map[string]string          `json:"inputs,omitempty"` // per-input hashes, to explain a key change
	Started  time.Time                  `json:"started"`
	Finished time.Time                  `json:"finished"`
	Run      string                     `json:"run"`
}

// ItemState is the last outcome of an item.
type ItemState struct {
	ID      string    `json:"id"`
	Status  Outcome   `json:"status"` // done, skipped, failed, pending, would-run
	Step    string    `json:"step,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Run     string    `json:"run"`
	Updated time.Time `json:"updated"`
}

// ErrLocked is returned when another run holds the state directory.
var ErrLocked = errors.New("state directory is locked by another run")

// Open opens dir. A writable state takes an exclusive lock that the kernel drops when the process
// dies, so a crashed run never blocks the next one; a read-only state (dry run) takes none and creates
// nothing.
func Open(dir string, readOnly bool) (*State, error) {
	s := &State{dir: dir, readOnly: readOnly}
	if readOnly {
		return s, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "items"), 0o750); err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		return nil, fmt.Errorf("%w (%s): %s", ErrLocked, dir, strings.TrimSpace(string(holder)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d since %s\n", os.Getpid(), time.Now().Format(time.RFC3339))
	s.lock = f
	s.keepReserve()
	return s, nil
}

// Close releases the lock.
func (s *State) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// itemDir names an item's folder. Ids come from remote APIs and are never trusted as paths: anything but
// a short plain id is hashed.
func (s *State) itemDir(id string) string {
	name := id
	if !safeID.MatchString(id) {
		h := sha256.Sum256([]byte(id))
		name = "h-" + hex.EncodeToString(h[:12])
	}
	return filepath.Join(s.dir, "items", name)
}

// Record returns the record of step on item, or nil when there is none.
func (s *State) Record(item, step string) (*Record, error) {
	var r Record
	ok, err := s.read(filepath.Join(s.itemDir(item), stepFile(step)), &r)
	if !ok || err != nil {
		return nil, err
	}
	return &r, nil
}

// PutRecord stores a record.
func (s *State) PutRecord(item string, r *Record) error {
	return s.write(filepath.Join(s.itemDir(item), stepFile(r.Step)), r)
}

// Item returns an item's last outcome, or nil.
func (s *State) Item(id string) (*ItemState, error) {
	var st ItemState
	ok, err := s.read(filepath.Join(s.itemDir(id), "item.json"), &st)
	if !ok || err != nil {
		return nil, err
	}
	return &st, nil
}

// PutItem stores an item's outcome.
func (s *State) PutItem(st *ItemState) error {
	return s.write(filepath.Join(s.itemDir(st.ID), "item.json"), st)
}

// ErrPendingCorrupt says that the pending list and its backup are both unreadable: continuing with an
// empty list would silently forget the recordings it names.
var ErrPendingCorrupt = errors.New("pending list is corrupt")

// Pending returns the items sources must look at again.
func (s *State) Pending() ([]step.Pending, error) {
	p, _, err := s.LoadPending()
	return p, err
}

// LoadPending returns the pending list. A missing, empty or undecodable pending.json is replaced by its
// backup generation (pending.json.bak), and note then says so; when neither decodes, the error says how
// to proceed. Only a state directory that never had a list yields an empty one.
func (s *State) LoadPending() (list []step.Pending, note string, err error) {
	main := filepath.Join(s.dir, "pending.json")
	list, merr := ReadPendingFile(main)
	if merr == nil && list != nil {
		return list, "", nil
	}
	bak, berr := ReadPendingFile(main + ".bak")
	switch {
	case merr == nil && berr == nil && bak == nil: // a fresh state directory
		return []step.Pending{}, "", nil
	case berr == nil && bak != nil:
		why := "missing"
		if merr != nil {
			why = merr.Error()
		}
		return bak, fmt.Sprintf("%s: %s; using its backup %s.bak (%d items)", main, why, filepath.Base(main), len(bak)), nil
	case merr == nil: // pending.json missing, backup unreadable
		merr = errors.New("missing")
	}
	if berr == nil {
		berr = errors.New("missing")
	}
	return nil, "", fmt.Errorf("%w: %s: %v, and its backup %s.bak: %v; the recordings it named would be forgotten. "+
		"Repair the file (a JSON list), or remove both to start with an empty list and widen --since to find "+
		"unfinished recordings again", ErrPendingCorrupt, main, merr, filepath.Base(main), berr)
}

// ReadPendingFile decodes a pending file; (nil, nil) when it does not exist.
func ReadPendingFile(path string) ([]step.Pending, error) {
	return readList[step.Pending](path, "a pending list")
}

// readList decodes a JSON list kept under state_dir; (nil, nil) when the file does not exist. An empty
// file or `null` is damage, not the empty list a run writes ([]): the file was cut short or written by hand.
func readList[T any](path, what string) ([]T, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, errors.New("empty")
	}
	var list []T
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("not %s: %v", what, err)
	}
	if list == nil {
		return nil, fmt.Errorf("null, not %s", what)
	}
	return list, nil
}

// PutPending replaces the pending list, first keeping the current one (when it decodes) as the backup
// generation pending.json.bak: a list damaged later, on disk or by hand, can then be recovered.
func (s *State) PutPending(p []step.Pending) error {
	if p == nil {
		p = []step.Pending{}
	}
	main := filepath.Join(s.dir, "pending.json")
	if s.readOnly {
		return errors.New("state is read-only (dry run)")
	}
	return s.withReserve(func() error {
		// Only a list that reads back replaces the backup: a damaged one must not overwrite the good generation.
		if cur, err := ReadPendingFile(main); err == nil && cur != nil {
			b, err := os.ReadFile(main)
			if err != nil {
				return fmt.Errorf("back up the pending list: %w", err)
			}
			if err := WriteFileAtomic(main+".bak", b); err != nil {
				return fmt.Errorf("back up the pending list: %w", err)
			}
		}
		return s.write(main, p)
	})
}

// RunRecord is one run in the history.
type RunRecord struct {
	step.RunInfo

	Summary step.Summary `json:"summary"`
}

// PutRun stores a run's summary in the history.
func (s *State) PutRun(r RunRecord) error {
	return s.write(filepath.Join(s.dir, "runs", r.ID+".json"), r)
}

func stepFile(step string) string {
	if safeID.MatchString(step) {
		return "step-" + step + ".json"
	}
	h := sha256.Sum256([]byte(step))
	return "step-h-" + hex.EncodeToString(h[:8]) + ".json"
}

func (s *State) read(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		// A file that does not decode was not written by us whole; treat it as absent so the work is
		// redone rather than trusted.
		return false, nil
	}
	return true, nil
}

func (s *State) write(path string, v any) error {
	if s.readOnly {
		return errors.New("state is read-only (dry run)")
	}
	// Not indented: MarshalIndent would re-indent the raw JSON of outputs, and outputs must come back
	// byte for byte as the step wrote them.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return WriteFileAtomic(path, b)
}

// WriteFileAtomic writes b to path atomically and durably (atomicfile.Write).
func WriteFileAtomic(path string, b []byte) error {
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}
