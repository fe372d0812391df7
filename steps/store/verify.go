package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// SchemaError is a table that exists but has another shape than the migrations create: CREATE TABLE IF
// NOT EXISTS left a table of someone else's in place. Writing into it would fail for every item, or worse,
// store rows that mean something else.
type SchemaError struct {
	Table    string
	Problems []string // one per column or key, e.g. "column id is int, want varchar"
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("table %s does not have the shape meetpipe's migrations create: %s; rename or drop it "+
		"(or point the pipeline at another database), then run `runner migrate`", e.Table, strings.Join(e.Problems, "; "))
}

// column is what a migration promises of a column: a type family (information_schema DATA_TYPE values
// that both servers may report; MariaDB reports JSON as longtext) and, for strings, a least length.
type column struct {
	name   string
	types  []string
	minLen int64
}

var (
	tID   = []string{"varchar", "char"}
	tText = []string{"text", "mediumtext", "longtext", "varchar"}
	tJSON = []string{"json", "longtext"}
	tTime = []string{"datetime", "timestamp"}
	tInt  = []string{"int", "bigint", "mediumint", "smallint", "tinyint"}
)

// tableShape is a table as a migration leaves it: the columns the code reads and writes and the primary key.
type tableShape struct {
	name    string
	columns []column
	key     []string
}

// expectedTables lists, per migration, the tables it creates; a later migration that changes one of
// them adds its own entry with the new shape.
var expectedTables = map[string][]tableShape{
	"0001_init": {
		{"recordings", []column{{"id", tID, 64}, {"meeting_id", tID, 64}, {"meeting_code", tID, 9}, {"subject", tText, 0},
			{"teacher_id", tID, 64}, {"start_ts", tTime, 0}, {"end_ts", tTime, 0}, {"duration_min", tInt, 0},
			{"student_ids", tJSON, 0}, {"phase", tText, 0}, {"transcript", tText, 0}, {"transcript_segments", tJSON, 0},
			{"summary", tText, 0}, {"classification", tJSON, 0}, {"needs_review", tInt, 0}, {"files", tJSON, 0},
			{"play_url", tText, 0}, {"download_url", tText, 0}, {"status", tID, 7}, {"created_at", tTime, 0},
			{"updated_at", tTime, 0}}, []string{"id"}},
		{"recording_students", []column{{"recording_id", tID, 64}, {"student_id", tID, 64}, {"student_name", tText, 0},
			{"attended_seconds", tInt, 0}}, []string{"recording_id", "student_id"}},
		{"student_stats", []column{{"student_id", tID, 64}, {"record_cnt", tInt, 0}, {"total_duration", tInt, 0},
			{"last_record_at", tTime, 0}, {"updated_at", tTime, 0}}, []string{"student_id"}},
		{"pipeline_runs", []column{{"id", tID, 64}, {"pipeline", tID, 64}, {"host", tText, 0}, {"window_since", tTime, 0},
			{"window_until", tTime, 0}, {"status", tID, 11}, {"started_at", tTime, 0}, {"finished_at", tTime, 0},
			{"items", tInt, 0}, {"done", tInt, 0}, {"skipped", tInt, 0}, {"failed", tInt, 0}, {"pending", tInt, 0},
			{"memo", tInt, 0}, {"ran", tInt, 0}, {"steps", tJSON, 0}}, []string{"id"}},
		{"item_failures", []column{{"item_id", tID, 64}, {"run_id", tID, 64}, {"step", tID, 64}, {"kind", tID, 9},
			{"error", tText, 0}, {"failures", tInt, 0}, {"first_failed_at", tTime, 0}, {"last_failed_at", tTime, 0}},
			[]string{"item_id"}},
	},
}

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// verifyMigration checks the tables migration version promises. It returns a *SchemaError for the first
// table of another shape, naming every mismatch of that table. Before the migration runs (existing),
// only the tables already there are checked, so that a foreign table is named rather than tripping a
// later statement (a foreign key onto it).
func verifyMigration(ctx context.Context, q querier, version string, existing bool) error {
	for _, t := range expectedTables[version] {
		if err := verifyTable(ctx, q, t, existing); err != nil {
			return err
		}
	}
	return nil
}

func verifyTable(ctx context.Context, q querier, t tableShape, existing bool) error {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type, COALESCE(character_maximum_length, 0), column_key
		FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?
		ORDER BY ordinal_position`, t.name)
	if err != nil {
		return fmt.Errorf("verify table %s: %w", t.name, err)
	}
	defer rows.Close()
	type col struct {
		typ string
		len int64
	}
	have := map[string]col{}
	var key []string
	for rows.Next() {
		var name, typ, ck string
		var n int64
		if err := rows.Scan(&name, &typ, &n, &ck); err != nil {
			return fmt.Errorf("verify table %s: %w", t.name, err)
		}
		name = strings.ToLower(name)
		have[name] = col{strings.ToLower(typ), n}
		if ck == "PRI" {
			key = append(key, name)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify table %s: %w", t.name, err)
	}
	if len(have) == 0 && existing {
		return nil
	}
	if len(have) == 0 {
		return &SchemaError{Table: t.name, Problems: []string{"the table is missing"}}
	}
	var problems []string
	for _, c := range t.columns {
		h, ok := have[c.name]
		switch {
		case !ok:
			problems = append(problems, "column "+c.name+" is missing")
		case !slices.Contains(c.types, h.typ):
			problems = append(problems, fmt.Sprintf("column %s is %s, want %s", c.name, h.typ, strings.Join(c.types, " or ")))
		case c.minLen > 0 && h.len < c.minLen:
			problems = append(problems, fmt.Sprintf("column %s holds %d characters, want at least %d", c.name, h.len, c.minLen))
		}
	}
	slices.Sort(key)
	want := slices.Clone(t.key)
	slices.Sort(want)
	if !slices.Equal(key, want) {
		problems = append(problems, fmt.Sprintf("primary key is (%s), want (%s)", strings.Join(key, ", "), strings.Join(t.key, ", ")))
	}
	if len(problems) > 0 {
		return &SchemaError{Table: t.name, Problems: problems}
	}
	return nil
}
