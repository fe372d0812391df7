package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"meetpipe/runner/finding"

	"github.com/go-sql-driver/mysql"
)

// Privileges each kind of work needs on the database.
var (
	MigratePrivileges = []string{"CREATE", "ALTER", "INDEX"}
	UpsertPrivileges  = []string{"SELECT", "INSERT", "UPDATE", "DELETE"}
)

// CheckOptions say what Check expects of the database.
type CheckOptions struct {
	// Migrate is true when the caller applies migrations itself (mysql_upsert's migrate setting): pending
	// migrations are then fine if the user may run them.
	Migrate bool
	// Preflight skips what only informs (time zone, clock).
	Preflight bool
}

// Check connects with c and reports what stands in the way of migrating and writing: the connection, the
// user's privileges on the database, pending migrations, and the server's time zone and clock. It
// changes nothing. Findings never contain the password.
func Check(ctx context.Context, c Config, o CheckOptions) []finding.Finding {
	where := c.Describe()
	subject := "database " + where
	db, err := New(c)
	if err != nil {
		return []finding.Finding{finding.Configuration(subject, Scrub(err, c.Secrets()...).Error(), "fix the "+
			"database settings (DB_DSN, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME)")}
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return []finding.Finding{finding.Fail(subject, Scrub(err, c.Secrets()...).Error(), connectRemedy(err, c))}
	}
	out := []finding.Finding{finding.OK(subject, "connected")}
	privs, enforced, err := privileges(ctx, db)
	var pending []string
	if err == nil {
		pending, err = PendingMigrations(ctx, db)
	}
	if err != nil {
		return append(out, finding.Fail(subject+" privileges", Scrub(err, c.Secrets()...).Error(),
			"grant the user SELECT on information_schema and the database, or check the server's log"))
	}
	user := userOf(c)
	name := dbName(c)
	switch {
	case !enforced:
		out = append(out, finding.OK("privileges", "the server does not enforce privileges (skip-grant-tables)"))
	default:
		out = append(out, privilegeFinding("privileges for writes", privs, UpsertPrivileges, user, name, true))
		out = append(out, privilegeFinding("privileges for migrations", privs, MigratePrivileges, user, name, len(pending) > 0))
	}
	if len(pending) > 0 {
		detail := fmt.Sprintf("%d migration(s) not applied: %s", len(pending), strings.Join(pending, ", "))
		canMigrate := !enforced || missing(privs, MigratePrivileges) == nil
		switch {
		case o.Migrate && canMigrate:
			out = append(out, finding.OK("schema version", detail+" (applied before the first write)"))
		default:
			out = append(out, finding.Warn("schema version", detail, "run `runner migrate` (as a user with CREATE, ALTER and INDEX)"))
		}
	} else {
		out = append(out, finding.OK("schema version", "every migration applied"))
	}
	if !o.Preflight {
		out = append(out, clockFinding(ctx, db))
	}
	return out
}

// connectRemedy says what to do about a failed connection.
func connectRemedy(err error, c Config) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1049: // ER_BAD_DB_ERROR
			return fmt.Sprintf("create it as an administrator: CREATE DATABASE `%s` CHARACTER SET utf8mb4; then run `runner migrate`", dbName(c))
		case 1045: // ER_ACCESS_DENIED_ERROR
			return "check DB_USER and DB_PASS, and that the user may connect from this host"
		case 1044: // ER_DBACCESS_DENIED_ERROR
			return fmt.Sprintf("grant the user access: GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON `%s`.* TO '%s'@'%%'", dbName(c), userOf(c))
		}
	}
	return "check that the server runs and DB_HOST and DB_PORT reach it from this machine"
}

// privileges returns the user's privileges that cover the connection's database (global or on it), and
// whether the server enforces privileges at all.
func privileges(ctx context.Context, db *sql.DB) (map[string]bool, bool, error) {
	var cur string
	if err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&cur); err != nil {
		return nil, false, fmt.Errorf("read the current user: %w", err)
	}
	user, host, ok := strings.Cut(cur, "@")
	if !ok || user == "" && host == "" {
		return nil, false, nil
	}
	grantee := "'" + user + "'@'" + host + "'"
	rows, err := db.QueryContext(ctx, `
		SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?
		UNION ALL
		SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
		 WHERE GRANTEE = ? AND DATABASE() LIKE TABLE_SCHEMA`, grantee, grantee)
	if err != nil {
		return nil, false, fmt.Errorf("read privileges: %w", err)
	}
	defer rows.Close()
	privs := map[string]bool{}
	n := 0
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, false, fmt.Errorf("read privileges: %w", err)
		}
		privs[strings.ToUpper(p)] = true
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read privileges: %w", err)
	}
	// Every account has at least USAGE: no row at all means the grant tables are not in use.
	return privs, n > 0, nil
}

func missing(have map[string]bool, want []string) []string {
	var out []string
	for _, p := range want {
		if !have[p] {
			out = append(out, p)
		}
	}
	return out
}

func privilegeFinding(subject string, have map[string]bool, want []string, user, db string, needed bool) finding.Finding {
	miss := missing(have, want)
	if len(miss) == 0 {
		return finding.OK(subject, strings.Join(want, ", "))
	}
	f := finding.Fail(subject, "missing "+strings.Join(miss, ", "),
		fmt.Sprintf("as an administrator: GRANT %s ON `%s`.* TO '%s'@'%%'", strings.Join(miss, ", "), db, user))
	if !needed {
		f.Status = finding.StatusWarn // migrations already applied: only a later migration needs these
	}
	return f
}

// clockFinding reports the server's time zone (sessions use UTC, so it does not change what is stored)
// and how far its clock is from this machine's.
func clockFinding(ctx context.Context, db *sql.DB) finding.Finding {
	var sysTZ, globalTZ string
	var utc time.Time
	if err := db.QueryRowContext(ctx, "SELECT @@system_time_zone, @@global.time_zone, UTC_TIMESTAMP(6)").Scan(&sysTZ, &globalTZ, &utc); err != nil {
		return finding.Warn("server time zone", err.Error(), "check that the user may read server variables")
	}
	skew := time.Since(utc.UTC()).Round(time.Second)
	detail := fmt.Sprintf("system %s, default %s (sessions use UTC), clock %s from this machine", sysTZ, globalTZ, skew)
	if skew > time.Minute || skew < -time.Minute {
		return finding.Warn("server time zone", detail, "synchronise the clocks of this machine and the database server (NTP)")
	}
	return finding.OK("server time zone", detail)
}

func dbName(c Config) string {
	if mc, err := c.driverConfig(); err == nil {
		return mc.DBName
	}
	return c.Database
}

func userOf(c Config) string {
	if mc, err := c.driverConfig(); err == nil {
		return mc.User
	}
	return c.User
}
