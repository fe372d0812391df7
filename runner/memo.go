package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"

	"meetpipe/runner/step"
)

// volatile maps a field name to the sub-paths of it that are left out of keys and state ("a.b": "a" → ["b"]; an
// empty sub-path is the whole field).
type volatile map[string][][]string

func volatileOf(stages []*stage) volatile {
	v := volatile{}
	for _, s := range stages {
		for _, p := range s.spec.Volatile {
			parts := strings.Split(p, ".")
			v[parts[0]] = append(v[parts[0]], parts[1:])
		}
	}
	return v
}

// strip returns raw without the volatile sub-paths of field.
func (v volatile) strip(field string, raw json.RawMessage) json.RawMessage {
	paths, ok := v[field]
	if !ok || raw == nil {
		return raw
	}
	for _, p := range paths {
		if len(p) == 0 {
			return nil // the whole field is volatile: absent and present must give the same key
		}
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return raw
	}
	for _, p := range paths {
		if len(p) == 0 {
			return json.RawMessage("null")
		}
		doc = deletePath(doc, p)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return raw
	}
	return out
}

func deletePath(doc any, p []string) any {
	switch d := doc.(type) {
	case []any:
		for i := range d {
			d[i] = deletePath(d[i], p)
		}
	case map[string]any:
		if len(p) == 1 {
			delete(d, p[0])
		} else if c, ok := d[p[0]]; ok {
			d[p[0]] = deletePath(c, p[1:])
		}
	}
	return doc
}

// memoKey fingerprints what a step's output depends on: its name and version, its configuration without
// secrets, and the fields it reads. It also returns a short hash per input so that --explain can say what
// changed.
func memoKey(s *stage, in *step.Item, vol volatile) (string, map[string]string) {
	h := sha256.New()
	inputs := make(map[string]string, len(s.spec.Reads)+1)
	h.Write([]byte("meetpipe/v1\x00" + s.uses + "\x00" + s.spec.Version + "\x00"))
	h.Write(s.configJSON)
	inputs["(config)"] = short(s.spec.Version + "\x00" + string(s.configJSON))
	reads := append(append([]string(nil), s.spec.Reads...), s.exprReads...)
	sort.Strings(reads)
	for _, r := range reads {
		raw := compact(vol.strip(r, in.Raw(r)))
		h.Write([]byte("\x00" + r + "="))
		h.Write(raw)
		inputs[r] = short(string(raw))
	}
	return hex.EncodeToString(h.Sum(nil)), inputs
}

func short(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// changed names what differs between a record's inputs and the current ones.
func changed(old, cur map[string]string) []string {
	var out []string
	for k, v := range cur {
		if old[k] != v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// compact makes the key independent of how a value's JSON happens to be spaced.
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}
