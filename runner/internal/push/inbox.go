// Package push is the host side of `runner serve`: the durable inbox of accepted webhook events under
// state_dir, the HTTP handler that verifies and accepts them, and the service's metrics. The engine
// knows nothing of it; Tencent's wire format is in steps/tencent/webhook.
package push

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"meetpipe/runner/atomicfile"
	"meetpipe/steps/tencent/webhook"
)

// Dir is the inbox's folder under state_dir.
const Dir = "push"

// seenFor is how long dedupe keys are remembered; seenMax bounds them (memory stays bounded).
const (
	seenFor = 30 * 24 * time.Hour
	seenMax = 50000
)

// Entry is one accepted event as stored: the decrypted event JSON and when it arrived.
type Entry struct {
	ID       string          `json:"-"` // the file's name
	Received time.Time       `json:"received"`
	Event    json.RawMessage `json:"event"`
}

// Inbox keeps accepted events durably until they are processed: one file per event, written through a
// synced temporary file, a rename and a synced directory before the receiver answers 200, so an
// acknowledged event survives a crash and is replayed at the next start. One serve process owns it (a
// lock under the folder); `runner run` does not touch it.
type Inbox struct {
	dir  string
	lock *os.File

	mu   sync.Mutex
	seen map[string]time.Time // dedupe keys: trace ids and (event, record_file_id)
	n    int                  // entries not yet done
}

// ErrInboxLocked is returned when another serve process owns the inbox.
var ErrInboxLocked = errors.New("another `runner serve` owns this state directory's push inbox")

// OpenInbox opens (creating) the inbox under stateDir and locks it.
func OpenInbox(stateDir string) (*Inbox, error) {
	dir := filepath.Join(stateDir, Dir)
	if err := os.MkdirAll(filepath.Join(dir, "inbox"), 0o750); err != nil {
		return nil, fmt.Errorf("push inbox: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("push inbox lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s)", ErrInboxLocked, dir)
	}
	b := &Inbox{dir: dir, lock: f, seen: map[string]time.Time{}}
	if err := b.loadSeen(); err != nil {
		f.Close()
		return nil, err
	}
	pending, err := b.Pending()
	if err != nil {
		f.Close()
		return nil, err
	}
	// An entry written just before a crash may have missed the seen file: its keys count as seen.
	for _, e := range pending {
		if ev, err := webhook.Parse(e.Event); err == nil {
			for _, k := range keys(ev) {
				b.seen[k] = e.Received
			}
		}
	}
	b.n = len(pending)
	return b, nil
}

// Close releases the lock.
func (b *Inbox) Close() error { return b.lock.Close() }

// Len is the number of accepted events not yet processed.
func (b *Inbox) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// keys are an event's dedupe keys: its trace_id, and each record_file_id under the event's name (the
// same file arrives through retries and several events; tencent-meeting-api.md §10.1.5).
func keys(ev *webhook.Event) []string {
	var out []string
	if ev.TraceID != "" {
		out = append(out, "trace:"+ev.TraceID)
	}
	for _, id := range ev.RecordFileIDs() {
		out = append(out, "file:"+ev.Name+":"+id)
	}
	return out
}

// Accept stores an event durably unless it is a duplicate: its trace_id was seen, or every one of its
// record_file_ids was seen under the same event name. It returns whether it was a duplicate.
func (b *Inbox) Accept(ev *webhook.Event, js []byte, now time.Time) (dup bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ks := keys(ev)
	if ev.TraceID != "" {
		if _, ok := b.seen["trace:"+ev.TraceID]; ok {
			return true, nil
		}
	}
	if files := ks[min(len(ks), boolInt(ev.TraceID != "")):]; len(files) > 0 {
		all := true
		for _, k := range files {
			if _, ok := b.seen[k]; !ok {
				all = false
			}
		}
		if all {
			return true, nil
		}
	}
	rnd := make([]byte, 4)
	rand.Read(rnd) //nolint:errcheck // crypto/rand does not fail
	id := fmt.Sprintf("%020d-%s.json", now.UnixNano(), hex.EncodeToString(rnd))
	body, err := json.Marshal(Entry{Received: now.UTC(), Event: js})
	if err != nil {
		return false, fmt.Errorf("push inbox: %w", err)
	}
	if err := writeDurable(filepath.Join(b.dir, "inbox", id), body); err != nil {
		return false, err
	}
	b.n++
	for _, k := range ks {
		b.seen[k] = now
	}
	// The entry is safe; the seen file only saves a duplicate run (which the pipeline absorbs anyway).
	if err := b.saveSeen(now); err != nil {
		return false, nil //nolint:nilerr // the event is stored; a lost dedupe key costs at most a memoized rerun
	}
	return false, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Pending returns the stored events, oldest first.
func (b *Inbox) Pending() ([]Entry, error) {
	dir := filepath.Join(b.dir, "inbox")
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("push inbox: %w", err)
	}
	var out []Entry
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("push inbox: %w", err)
		}
		var e Entry
		if err := json.Unmarshal(raw, &e); err != nil {
			// Written atomically, so only a foreign file gets here: set it aside rather than loop on it.
			os.Rename(filepath.Join(dir, name), filepath.Join(b.dir, name+".unreadable")) //nolint:errcheck // best effort
			continue
		}
		e.ID = name
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, c Entry) int { return strings.Compare(a.ID, c.ID) })
	return out, nil
}

// Done removes a processed event.
func (b *Inbox) Done(id string) error {
	if strings.ContainsAny(id, `/\`) {
		return fmt.Errorf("push inbox: bad id %q", id)
	}
	err := os.Remove(filepath.Join(b.dir, "inbox", id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("push inbox: %w", err)
	}
	if err == nil {
		b.mu.Lock()
		b.n--
		b.mu.Unlock()
	}
	return atomicfile.SyncDir(filepath.Join(b.dir, "inbox"))
}

type seenFile struct {
	Keys map[string]time.Time `json:"keys"`
}

func (b *Inbox) loadSeen() error {
	raw, err := os.ReadFile(filepath.Join(b.dir, "seen.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("push inbox: %w", err)
	}
	var s seenFile
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil // a damaged dedupe file costs at most duplicate (idempotent) runs; start afresh
	}
	for k, t := range s.Keys {
		b.seen[k] = t
	}
	return nil
}

// saveSeen drops keys older than seenFor (and the oldest beyond seenMax) and writes the rest.
func (b *Inbox) saveSeen(now time.Time) error {
	for k, t := range b.seen {
		if now.Sub(t) > seenFor {
			delete(b.seen, k)
		}
	}
	if len(b.seen) > seenMax {
		type kt struct {
			k string
			t time.Time
		}
		all := make([]kt, 0, len(b.seen))
		for k, t := range b.seen {
			all = append(all, kt{k, t})
		}
		slices.SortFunc(all, func(a, c kt) int { return a.t.Compare(c.t) })
		for _, x := range all[:len(all)-seenMax] {
			delete(b.seen, x.k)
		}
	}
	raw, err := json.Marshal(seenFile{Keys: b.seen})
	if err != nil {
		return err
	}
	return writeDurable(filepath.Join(b.dir, "seen.json"), raw)
}

// writeDurable writes path atomically, synced with its directory.
func writeDurable(path string, b []byte) error { return atomicfile.Write(path, b) }
