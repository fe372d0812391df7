package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Dump returns every row of table as a line of tab-separated values, sorted, so that a test can compare
// the whole content of a table before and after something. NULL prints as \N.
func Dump(t testing.TB, db *sql.DB, table string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT * FROM `"+table+"`")
	if err != nil {
		t.Fatalf("storetest: dump %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatalf("storetest: dump %s: %v", table, err)
	}
	var out []string
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("storetest: dump %s: %v", table, err)
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				cells[i] = `\N`
			} else {
				cells[i] = fmt.Sprintf("%s", v)
			}
		}
		out = append(out, strings.Join(cells, "\t"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("storetest: dump %s: %v", table, err)
	}
	slices.Sort(out)
	return out
}
