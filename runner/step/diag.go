package step

import (
	"fmt"
	"sort"
	"strings"

	"meetpipe/runner/table"
)

// Diagnostic is a configuration error at a place in a pipeline file.
type Diagnostic struct {
	File      string `json:"file"`
	Line, Col int    // 1-based; 0 when unknown
	Msg       string `json:"message"`
}

func (d Diagnostic) Error() string {
	switch {
	case d.Line > 0 && d.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Col, d.Msg)
	case d.Line > 0:
		return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Msg)
	case d.File != "":
		return fmt.Sprintf("%s: %s", d.File, d.Msg)
	}
	return d.Msg
}

// Diagnostics gathers every problem of a file, not only the first.
type Diagnostics struct {
	List []Diagnostic
	src  map[string][]string // file → lines, for snippets
	// Secrets, when set, are scrubbed from the printed diagnostics (a secret can be echoed by a message
	// about the value it was interpolated into).
	Secrets *Secrets
}

// Add appends d.
func (ds *Diagnostics) Add(d Diagnostic) { ds.List = append(ds.List, d) }

// Addf appends a diagnostic at file:line:col.
func (ds *Diagnostics) Addf(file string, line, col int, format string, args ...any) {
	ds.Add(Diagnostic{File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// Err returns ds as an error, or nil when there is nothing to report.
func (ds *Diagnostics) Err() error {
	if ds == nil || len(ds.List) == 0 {
		return nil
	}
	return ds
}

// SetSource keeps the lines of file, for the snippets under its diagnostics.
func (ds *Diagnostics) SetSource(file string, src []byte) {
	if ds.src == nil {
		ds.src = map[string][]string{}
	}
	ds.src[file] = strings.Split(string(src), "\n")
}

// Sort orders the diagnostics by file, line and column.
func (ds *Diagnostics) Sort() {
	sort.SliceStable(ds.List, func(i, j int) bool {
		a, b := ds.List[i], ds.List[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Error prints every diagnostic as file:line:col: message, followed by the offending line and a caret.
func (ds *Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
		lines := ds.src[d.File]
		if d.Line > 0 && d.Line <= len(lines) {
			line := strings.ReplaceAll(lines[d.Line-1], "\t", " ")
			fmt.Fprintf(&b, "\n %4d | %s", d.Line, line)
			if d.Col > 0 {
				fmt.Fprintf(&b, "\n      | %s^", strings.Repeat(" ", caretOffset(line, d.Col)))
			}
		}
	}
	return ds.Secrets.Scrub(b.String())
}

// caretOffset turns a 1-based rune column into a display offset in terminal cells (CJK counts two).
func caretOffset(line string, col int) int {
	r := []rune(line)
	i := min(max(col-1, 0), len(r))
	return table.Width(string(r[:i])) + max(0, col-1-i)
}

// Lines are the lines of file as SetSource kept them.
func (ds *Diagnostics) Lines(file string) []string { return ds.src[file] }
