package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	schema "meetpipe/sql"
)

func TestMigrateFromEmptyAndAgain(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openEmpty(t)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, m := range ms {
		versions = append(versions, m.Version)
	}
	if pending, err := PendingMigrations(ctx, db); err != nil || !slices.Equal(pending, versions) {
		t.Fatalf("pending on an empty database = %v, %v; want %v", pending, err, versions)
	}

	applied, err := Migrate(ctx, db)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if !slices.Equal(applied, versions) {
		t.Fatalf("first migrate applied %v, want %v", applied, versions)
	}
	tables := []string{"item_failures", "pipeline_runs", "recording_students", "recordings", "schema_migrations", "student_stats"}
	schemaOf := func() []string {
		var out []string
		for _, tb := range tables {
			var name, ddl string
			if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+tb).Scan(&name, &ddl); err != nil {
				t.Fatalf("table %s after migrate: %v", tb, err)
			}
			if !strings.Contains(ddl, "utf8mb4") {
				t.Errorf("table %s is not utf8mb4:\n%s", tb, ddl)
			}
			out = append(out, ddl)
		}
		return out
	}
	before := schemaOf()

	again, err := Migrate(ctx, db)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second migrate applied %v, want nothing", again)
	}
	if after := schemaOf(); !slices.Equal(before, after) {
		t.Fatalf("schema changed on a second migrate")
	}
	if pending, err := PendingMigrations(ctx, db); err != nil || len(pending) != 0 {
		t.Fatalf("pending after migrate = %v, %v", pending, err)
	}
	var n int
	db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n)
	if n != len(versions) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(versions))
	}
}

func TestMigrateNewAndEditedFiles(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openEmpty(t)
	init, err := schema.FS.ReadFile("0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"0001_init.sql": {Data: init}}
	if _, err := MigrateFS(ctx, db, fsys); err != nil {
		t.Fatal(err)
	}

	fsys["0002_teacher_names.sql"] = &fstest.MapFile{Data: []byte(`
		-- a later migration; a semicolon in a comment; is not a statement end
		CREATE TABLE IF NOT EXISTS teachers (id VARCHAR(64) NOT NULL PRIMARY KEY,
			name VARCHAR(64) NOT NULL DEFAULT 'a;b') DEFAULT CHARSET=utf8mb4;
		INSERT INTO teachers (id) VALUES ('t1');`)}
	applied, err := MigrateFS(ctx, db, fsys)
	if err != nil || !slices.Equal(applied, []string{"0002_teacher_names"}) {
		t.Fatalf("adding a migration applied %v, %v; want only 0002_teacher_names", applied, err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT name FROM teachers WHERE id = 't1'").Scan(&name); err != nil || name != "a;b" {
		t.Fatalf("0002 ran wrongly: %q, %v", name, err)
	}

	fsys["0001_init.sql"] = &fstest.MapFile{Data: append(init, []byte("\n-- edited\n")...)}
	if _, err := MigrateFS(ctx, db, fsys); err == nil || !strings.Contains(err.Error(), "0001_init was applied with a different content") {
		t.Fatalf("an edited applied migration gave %v, want an error naming it", err)
	}

	bad := fstest.MapFS{"init.sql": {Data: []byte("SELECT 1")}}
	if _, err := MigrateFS(ctx, db, bad); err == nil {
		t.Fatal("a badly named migration was accepted")
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openEmpty(t)
	var wg sync.WaitGroup
	results := make([][]string, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Migrate(ctx, db)
		}()
	}
	wg.Wait()
	var all []string
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("migrate %d: %v", i, errs[i])
		}
		all = append(all, results[i]...)
	}
	ms, _ := Migrations()
	if len(all) != len(ms) {
		t.Fatalf("4 concurrent migrations applied %v in total, want each of %d migrations once", all, len(ms))
	}
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"two", "SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"no final semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"line comments", "-- a; b\nSELECT 1; # c; d\nSELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"block comment", "/* x; y */ SELECT 1;", []string{"SELECT 1"}},
		{"quotes", `SELECT 'a;b', "c;d", ` + "`e;f`" + `;`, []string{`SELECT 'a;b', "c;d", ` + "`e;f`"}},
		{"escaped quotes", `SELECT 'it''s;', 'a\';b';`, []string{`SELECT 'it''s;', 'a\';b'`}},
		{"comment text in a string", "SELECT '-- not; a comment';", []string{"SELECT '-- not; a comment'"}},
		{"empty", " ; \n -- only\n", nil},
		{"utf8", "CREATE TABLE t (c INT COMMENT '简历优化；面试');", []string{"CREATE TABLE t (c INT COMMENT '简历优化；面试')"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitStatements(tt.src)
			for i := range got {
				got[i] = strings.Join(strings.Fields(got[i]), " ")
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("SplitStatements(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

// A table of another shape under one of our names is not "migrated": the mismatch is named, the
// migration is not recorded, and running migrate again says so again instead of "up to date".
func TestMigrateRefusesForeignTable(t *testing.T) {
	t.Parallel() // its own database
	ctx := context.Background()
	db := openEmpty(t)
	if _, err := db.ExecContext(ctx, `CREATE TABLE recordings (id INT NOT NULL PRIMARY KEY, title VARCHAR(10))`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		applied, err := Migrate(ctx, db)
		var se *SchemaError
		if !errors.As(err, &se) || se.Table != "recordings" || !Environment(err) {
			t.Fatalf("migrate over a foreign recordings table: applied %v, err %v", applied, err)
		}
		for _, want := range []string{"column id is int, want varchar", "column meeting_id is missing", "runner migrate"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if pending, err := PendingMigrations(ctx, db); err != nil || !slices.Contains(pending, "0001_init") {
			t.Fatalf("0001_init recorded as applied over a foreign table: pending %v, %v", pending, err)
		}
	}
	// An older runner recorded it as applied: the check still runs.
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, checksum) SELECT ?, ?`,
		"0001_init", mustChecksum(t, "0001_init")); err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(ctx, db); err == nil || !strings.Contains(err.Error(), "column id is int") {
		t.Fatalf("a recorded migration over a foreign table: %v", err)
	}
}

func mustChecksum(t *testing.T, version string) string {
	t.Helper()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version == version {
			return m.Checksum
		}
	}
	t.Fatalf("no migration %s", version)
	return ""
}
