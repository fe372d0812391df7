package step

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Fields are named item values. Values are anything encoding/json can marshal; the engine stores them as
// JSON so that expressions, state files, dry-run output and plugins all see the same document.
type Fields map[string]any

// Item is one unit of work (one meeting recording) as it flows through the steps. A step sees the item
// read-only; it returns the fields it writes and the engine merges them.
type Item struct {
	id     string
	fields map[string]json.RawMessage
}

// NewItem builds an item from fields, marshalling each value to JSON. It is what a source's Emit does and
// what step tests use to make an input.
func NewItem(id string, f Fields) (*Item, error) {
	it := &Item{id: id, fields: make(map[string]json.RawMessage, len(f))}
	if err := it.merge(f); err != nil {
		return nil, err
	}
	return it, nil
}

// ID is the item's stable identity (for meetings, the meeting_record_id).
func (it *Item) ID() string { return it.id }

// Has reports whether the item has the field.
func (it *Item) Has(name string) bool { _, ok := it.fields[name]; return ok }

// Get decodes the field into v. A missing field is an error naming it.
func (it *Item) Get(name string, v any) error {
	raw, ok := it.fields[name]
	if !ok {
		return fmt.Errorf("item %s has no field %q", it.id, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("item %s field %q: %w", it.id, name, err)
	}
	return nil
}

// Raw returns the field's JSON, or nil.
func (it *Item) Raw(name string) json.RawMessage { return it.fields[name] }

// Names lists the item's fields in sorted order.
func (it *Item) Names() []string { return slices.Sorted(maps.Keys(it.fields)) }

// Clone returns a copy that shares no map with it (raw values are immutable by convention).
func (it *Item) Clone() *Item {
	return &Item{id: it.id, fields: maps.Clone(it.fields)}
}

// MarshalJSON encodes the item as {"id":…, "fields":{…}}.
func (it *Item) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID     string                     `json:"id"`
		Fields map[string]json.RawMessage `json:"fields"`
	}{it.id, it.fields})
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (it *Item) UnmarshalJSON(b []byte) error {
	var v struct {
		ID     string                     `json:"id"`
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	it.id, it.fields = v.ID, v.Fields
	if it.fields == nil {
		it.fields = map[string]json.RawMessage{}
	}
	return nil
}

func (it *Item) merge(f Fields) error {
	for k, v := range f {
		raw, err := MarshalField(v)
		if err != nil {
			return fmt.Errorf("item %s field %q: %w", it.id, k, err)
		}
		it.fields[k] = raw
	}
	return nil
}

// SetRaw merges already encoded fields into the item: the engine restores a step's stored output this way.
func (it *Item) SetRaw(f map[string]json.RawMessage) {
	maps.Copy(it.fields, f)
}

// MarshalField encodes a field value as the item keeps it (json.RawMessage values are checked, not re-encoded).
func MarshalField(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("invalid JSON")
		}
		return raw, nil
	}
	return json.Marshal(v)
}

// Window is the span of time a source lists, plus the items it reported as not ready in earlier runs, which
// it must look at again even when they fall outside the window.
type Window struct {
	Since, Until time.Time
	Pending      []Pending
	// Targeted asks the source for the Pending items alone, not for Since..Until: the run was started
	// for named items (RunOptions.Targets, e.g. a push event naming a recording).
	Targeted bool
}

// Pending is an item a source reported as not ready (a recording still transcoding).
type Pending struct {
	ID     string          `json:"id"`
	Hint   json.RawMessage `json:"hint,omitempty"` // what the source needs to find it again
	Reason string          `json:"reason"`
	// Problem is true when the item is pending for a problem (its source could not read it), not merely
	// because it is not ready yet.
	Problem   bool      `json:"problem,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Span is a part of a window that still has to be listed.
type Span struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Asked is when a run first asked for (part of) it: a span older than pending_max_age is given up.
	Asked time.Time `json:"asked"`
}

func (s Span) String() string {
	return s.Since.Format(time.RFC3339) + ".." + s.Until.Format(time.RFC3339)
}

// RedactionsField is the item field where the engine counts what it redacted: {field: {pattern: n}}. A
// step that stores recordings may read it (it is written by the engine, not declared by a step).
const RedactionsField = "redactions"
