package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	schema "meetpipe/sql"
)

// Migration is one numbered schema file.
type Migration struct {
	Version  string // file name without .sql: "0001_init"
	Checksum string // sha256 of the file, hex
	SQL      string
}

var migrationName = regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) { return LoadMigrations(schema.FS) }

// LoadMigrations reads NNNN_name.sql files from the root of fsys, in order.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		if !migrationName.MatchString(e.Name()) {
			return nil, fmt.Errorf("migration %s: name must look like 0001_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: strings.TrimSuffix(e.Name(), ".sql"),
			Checksum: hex.EncodeToString(sum[:]), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return strings.Compare(a.Version, b.Version) })
	for i := 1; i < len(out); i++ {
		if out[i].Version[:4] == out[i-1].Version[:4] {
			return nil, fmt.Errorf("migrations %s and %s share a number", out[i-1].Version, out[i].Version)
		}
	}
	return out, nil
}

// Migrate applies the embedded migrations that the database has not seen yet and returns their versions
// (none when the schema is current). It is safe to call from several processes at once: a named server
// lock serialises them. An applied migration whose file has changed since is an error.
func Migrate(ctx context.Context, db *sql.DB) (applied []string, err error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	return MigrateWith(ctx, db, ms)
}

// MigrateFS is Migrate with the migrations of fsys.
func MigrateFS(ctx context.Context, db *sql.DB, fsys fs.FS) ([]string, error) {
	ms, err := LoadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	return MigrateWith(ctx, db, ms)
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  checksum   CHAR(64)     CHARACTER SET ascii NOT NULL,
  applied_at DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`

// MigrateWith applies ms (sorted by version) as Migrate does.
func MigrateWith(ctx context.Context, db *sql.DB, ms []Migration) (applied []string, err error) {
	// The lock belongs to a session, so everything runs on one connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	unlock, err := migrationLock(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if _, err := conn.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	done, err := appliedMigrations(ctx, conn)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if sum, ok := done[m.Version]; ok {
			if sum != m.Checksum {
				return applied, fmt.Errorf("migrate: %s was applied with a different content (checksum %.12s, file %.12s): "+
					"never edit an applied migration, add a new one", m.Version, sum, m.Checksum)
			}
			// Recorded as applied is not proof: an older runner recorded a foreign table as migrated.
			if err := verifyMigration(ctx, conn, m.Version, false); err != nil {
				return applied, fmt.Errorf("migrate: %s: %w", m.Version, err)
			}
			continue
		}
		if err := verifyMigration(ctx, conn, m.Version, true); err != nil {
			return applied, fmt.Errorf("migrate: %s: %w", m.Version, err)
		}
		for i, stmt := range SplitStatements(m.SQL) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return applied, fmt.Errorf("migrate: %s statement %d: %w", m.Version, i+1, err)
			}
		}
		// CREATE TABLE IF NOT EXISTS keeps a table of another shape: check before recording it as done.
		if err := verifyMigration(ctx, conn, m.Version, false); err != nil {
			return applied, fmt.Errorf("migrate: %s: %w", m.Version, err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, checksum) VALUES (?, ?)`,
			m.Version, m.Checksum); err != nil {
			return applied, fmt.Errorf("migrate: record %s: %w", m.Version, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// migrationLock takes a server-wide named lock for this database, so that two runners starting at once
// do not both apply a migration. The name is derived from the database because GET_LOCK is server-wide.
func migrationLock(ctx context.Context, conn *sql.Conn) (unlock func(), err error) {
	const name = "CONCAT('meetpipe.migrate.', LEFT(SHA1(DATABASE()), 32))"
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+name+", 60)").Scan(&got); err != nil {
		return nil, fmt.Errorf("migrate: take lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, errors.New("migrate: another process has held the migration lock for 60s")
	}
	return func() {
		// A fresh context: the lock must go even when ctx is done (closing the connection would too).
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.ExecContext(c, "DO RELEASE_LOCK("+name+")")
	}, nil
}

func appliedMigrations(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	done := map[string]string{}
	for rows.Next() {
		var v, sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		done[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return done, nil
}

// PendingMigrations returns the versions of the embedded migrations the database has not applied.
func PendingMigrations(ctx context.Context, db *sql.DB) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	exists, err := tableExists(ctx, db, "schema_migrations")
	if err != nil {
		return nil, err
	}
	done := map[string]string{}
	if exists {
		if done, err = appliedMigrations(ctx, db); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, m := range ms {
		if _, ok := done[m.Version]; !ok {
			out = append(out, m.Version)
		}
	}
	return out, nil
}

func tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name = ?`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// SplitStatements splits a migration into statements at semicolons outside quotes and comments, and
// drops comments and empty statements. The driver runs one statement per call (multiStatements stays off,
// since it would widen what an injected value could do).
func SplitStatements(src string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(src) {
				if src[j] == '\\' && c != '`' {
					j += 2
					continue
				}
				if src[j] == c {
					if j+1 < len(src) && src[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j, len(src)-1)
			cur.WriteString(src[i : j+1])
			i = j
		case c == '#' || (c == '-' && strings.HasPrefix(src[i:], "-- ")) || strings.HasPrefix(src[i:], "--\n"):
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				i = len(src)
			} else {
				i += j
				cur.WriteByte('\n')
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				i = len(src)
			} else {
				i += j + 3
				cur.WriteByte(' ')
			}
		case c == ';':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}
