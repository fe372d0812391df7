// Package roster gives guest students one identity across meetings. Tencent's uuid holds for one meeting
// only (tencent-meeting-api.md, correction 2) and coaching students usually join as guests, so a guest is
// known by a normalised display name, and a roster file maps names and aliases to canonical student ids.
package roster

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// NamePrefix starts the id of a guest known only by name: "name:" + Normalize(display name).
const NamePrefix = "name:"

// Normalize folds a display name for comparison: trimmed, inner spaces collapsed to one, full-width ASCII
// and the ideographic space folded to their half-width forms, and case folded. "　Ｌｉ　Ｌｅｉ " and
// "li lei" are the same name.
func Normalize(name string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(name) {
		switch {
		case r == '\u3000':
			r = ' '
		case r >= '\uFF01' && r <= '\uFF5E': // full-width forms of ! .. ~
			r -= 0xFEE0
		}
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// GuestID is the id of a guest (no enterprise userid) named name: NamePrefix + its normalised name, or ""
// when the name is empty.
func GuestID(name string) string {
	if n := Normalize(name); n != "" {
		return NamePrefix + n
	}
	return ""
}

// Student is one roster entry.
type Student struct {
	ID      string   `yaml:"id"`
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	UserID  string   `yaml:"userid"` // enterprise userid, when the student has one
}

// Roster maps the ids a source gives (userids, name: ids) to canonical student ids.
type Roster struct {
	byKey map[string]string // source id → canonical id
	ids   map[string]bool
	hash  string
}

// Empty is a roster that knows nobody.
func Empty() *Roster { return &Roster{byKey: map[string]string{}, ids: map[string]bool{}} }

// Resolve maps a source id to its canonical id. ok is false when the roster does not know it; the id is
// then returned as given.
func (r *Roster) Resolve(sourceID string) (id string, ok bool) {
	if r == nil {
		return sourceID, false
	}
	if c, found := r.byKey[sourceID]; found {
		return c, true
	}
	if r.ids[sourceID] {
		return sourceID, true
	}
	return sourceID, false
}

// Len is the number of students.
func (r *Roster) Len() int {
	if r == nil {
		return 0
	}
	return len(r.ids)
}

// Hash identifies the roster's content (for memo keys and logs).
func (r *Roster) Hash() string {
	if r == nil {
		return ""
	}
	return r.hash
}

// Load reads a roster: YAML (.yaml, .yml: a list of {id, name, aliases, userid}) or CSV (header
// id,name,aliases,userid; aliases separated by "|"). Errors name the file and the line.
func Load(path string) (*Roster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	var list []Student
	var lines []int
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		list, lines, err = parseYAML(b)
	case ".csv":
		list, lines, err = parseCSV(b)
	default:
		return nil, fmt.Errorf("roster %s: want a .csv, .yaml or .yml file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	r, err := build(list, lines)
	if err != nil {
		return nil, fmt.Errorf("roster %s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	r.hash = hex.EncodeToString(sum[:8])
	return r, nil
}

func parseYAML(b []byte) ([]Student, []int, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil, nil
	}
	seq := doc.Content[0]
	if seq.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("line %d: want a list of students", seq.Line)
	}
	var list []Student
	var lines []int
	for _, n := range seq.Content {
		var s Student
		if err := n.Decode(&s); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i].Value; !slices.Contains([]string{"id", "name", "aliases", "userid"}, k) {
					return nil, nil, fmt.Errorf("line %d:%d: unknown key %q (want id, name, aliases, userid)", n.Content[i].Line, n.Content[i].Column, k)
				}
			}
		}
		list = append(list, s)
		lines = append(lines, n.Line)
	}
	return list, lines, nil
}

func parseCSV(b []byte) ([]Student, []int, error) {
	rd := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))) // spreadsheets add a BOM
	rd.FieldsPerRecord = -1
	rd.TrimLeadingSpace = true
	head, err := rd.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["id"]; !ok {
		return nil, nil, fmt.Errorf("line 1: the header has no id column (want id,name,aliases,userid)")
	}
	get := func(rec []string, k string) string {
		if i, ok := col[k]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var list []Student
	var lines []int
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return list, lines, nil
		}
		if err != nil {
			return nil, nil, err
		}
		line, _ := rd.FieldPos(0)
		s := Student{ID: get(rec, "id"), Name: get(rec, "name"), UserID: get(rec, "userid")}
		for _, a := range strings.Split(get(rec, "aliases"), "|") {
			if a = strings.TrimSpace(a); a != "" {
				s.Aliases = append(s.Aliases, a)
			}
		}
		list = append(list, s)
		lines = append(lines, line)
	}
}

// build indexes the students; a name, alias or userid claimed by two students is an error, since the
// roster could not say whom it means.
func build(list []Student, lines []int) (*Roster, error) {
	r := Empty()
	owner := map[string]string{}
	claim := func(key, id string, line int) error {
		if key == "" {
			return nil
		}
		if o, dup := owner[key]; dup && o != id {
			return fmt.Errorf("line %d: %q is claimed by both %s and %s", line, strings.TrimPrefix(key, NamePrefix), o, id)
		}
		owner[key] = id
		r.byKey[key] = id
		return nil
	}
	for i, s := range list {
		line := lines[i]
		s.ID = strings.TrimSpace(s.ID)
		if s.ID == "" {
			return nil, fmt.Errorf("line %d: a student has no id", line)
		}
		if strings.HasPrefix(s.ID, NamePrefix) {
			return nil, fmt.Errorf("line %d: id %q may not start with %q (kept for guests the roster does not know)", line, s.ID, NamePrefix)
		}
		if len(s.ID) > 128 {
			return nil, fmt.Errorf("line %d: id %q is longer than 128 bytes", line, s.ID)
		}
		if r.ids[s.ID] {
			return nil, fmt.Errorf("line %d: student id %s listed twice", line, s.ID)
		}
		r.ids[s.ID] = true
		for _, n := range append([]string{s.Name}, s.Aliases...) {
			if err := claim(GuestID(n), s.ID, line); err != nil {
				return nil, err
			}
		}
		if err := claim(strings.TrimSpace(s.UserID), s.ID, line); err != nil {
			return nil, err
		}
	}
	return r, nil
}
