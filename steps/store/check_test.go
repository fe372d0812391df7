package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"meetpipe/runner/finding"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"

	"github.com/go-sql-driver/mysql"
)

// limitedUser creates a user with a random name and password holding grants on db, dropped when t ends.
// It needs a server that enforces grants and an account that may create users (root at 127.0.0.1:3306, or
// MEETPIPE_TEST_DSN); it skips, saying why, when there is none.
func limitedUser(t *testing.T, db string, grants string) (user, pass string) {
	t.Helper()
	admin := os.Getenv(storetest.EnvDSN)
	if admin == "" {
		admin = "root@tcp(127.0.0.1:3306)/"
	}
	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = ""
	conn, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var rnd [6]byte
	rand.Read(rnd[:])
	user, pass = "mp_doc_"+hex.EncodeToString(rnd[:3]), "pw-"+hex.EncodeToString(rnd[3:])+"-secret"
	ctx := context.Background()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", user, pass)); err != nil {
		t.Skipf("a limited user cannot be tested: no server with grants (CREATE USER as %s@%s: %v)", cfg.User, cfg.Addr, err)
	}
	t.Cleanup(func() { conn.ExecContext(ctx, fmt.Sprintf("DROP USER '%s'@'127.0.0.1'", user)) })
	if grants != "" {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("GRANT %s ON `%s`.* TO '%s'@'127.0.0.1'", grants, db, user)); err != nil {
			t.Fatal(err)
		}
	}
	return user, pass
}

func dbOf(t *testing.T, dsn string) (addr, name string) {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Addr, cfg.DBName
}

func configFor(t *testing.T, addr, user, pass, db string) store.Config {
	host, port, _ := strings.Cut(addr, ":")
	var p int
	fmt.Sscan(port, &p)
	return store.Config{Host: host, Port: p, User: user, Password: pass, Database: db}
}

// byStatus indexes findings by subject, failing t when one leaks the password.
func bySubject(t *testing.T, fs []finding.Finding, secret string) map[string]finding.Finding {
	t.Helper()
	m := map[string]finding.Finding{}
	for _, f := range fs {
		if secret != "" && strings.Contains(f.Subject+f.Detail+f.Remedy, secret) {
			t.Errorf("finding shows the password: %+v", f)
		}
		m[f.Subject] = f
	}
	return m
}

func TestCheckLimitedUserCannotMigrate(t *testing.T) {
	t.Parallel() // its own database
	addr, name := dbOf(t, storetest.DB(t))
	user, pass := limitedUser(t, name, "SELECT, INSERT, UPDATE, DELETE")
	fs := bySubject(t, store.Check(context.Background(), configFor(t, addr, user, pass, name), store.CheckOptions{Migrate: true}), pass)
	if f := fs["privileges for writes"]; f.Status != "ok" {
		t.Errorf("writes: %+v", f)
	}
	f := fs["privileges for migrations"]
	if f.Status != "fail" || !strings.Contains(f.Detail, "CREATE, ALTER, INDEX") || !strings.Contains(f.Remedy, "GRANT CREATE, ALTER, INDEX ON `"+name+"`.* TO '"+user+"'") {
		t.Errorf("migrations: %+v", f)
	}
	if f := fs["schema version"]; f.Status != "warn" || !strings.Contains(f.Remedy, "runner migrate") {
		t.Errorf("schema: %+v", f)
	}
}

func TestCheckReadOnlyUserCannotWrite(t *testing.T) {
	t.Parallel() // its own database
	dsn := storetest.DB(t)
	addr, name := dbOf(t, dsn)
	db, err := store.Open(context.Background(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	user, pass := limitedUser(t, name, "SELECT")
	fs := bySubject(t, store.Check(context.Background(), configFor(t, addr, user, pass, name), store.CheckOptions{Migrate: true}), pass)
	if f := fs["privileges for writes"]; f.Status != "fail" || f.Detail != "missing INSERT, UPDATE, DELETE" {
		t.Errorf("writes: %+v", f)
	}
	// Nothing is pending, so missing migration rights only matter for a later migration.
	if f := fs["privileges for migrations"]; f.Status != "warn" {
		t.Errorf("migrations: %+v", f)
	}
	if f := fs["schema version"]; f.Status != "ok" {
		t.Errorf("schema: %+v", f)
	}
	if f := fs["server time zone"]; f.Status == "fail" || !strings.Contains(f.Detail, "sessions use UTC") {
		t.Errorf("time zone: %+v", f)
	}
}

func TestCheckFullUserIsGreen(t *testing.T) {
	t.Parallel() // its own database
	addr, name := dbOf(t, storetest.DB(t))
	user, pass := limitedUser(t, name, "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX")
	fs := store.Check(context.Background(), configFor(t, addr, user, pass, name), store.CheckOptions{Migrate: true})
	for _, f := range fs {
		if f.Status != "ok" {
			t.Errorf("%+v", f)
		}
	}
	if len(fs) < 5 {
		t.Errorf("only %d findings: %+v", len(fs), fs)
	}
}

func TestCheckMissingDatabaseAndBadPassword(t *testing.T) {
	t.Parallel() // its own database
	addr, name := dbOf(t, storetest.DB(t))
	user, pass := limitedUser(t, name, "SELECT, INSERT, UPDATE, DELETE")
	fs := store.Check(context.Background(), configFor(t, addr, "root", "", name+"_missing"), store.CheckOptions{})
	if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Remedy, "CREATE DATABASE `"+name+"_missing`") {
		t.Errorf("missing database: %+v", fs)
	}
	fs = store.Check(context.Background(), configFor(t, addr, user, pass+"x", name), store.CheckOptions{})
	bySubject(t, fs, pass)
	if len(fs) != 1 || fs[0].Status != "fail" || !strings.Contains(fs[0].Remedy, "DB_USER and DB_PASS") {
		t.Errorf("bad password: %+v", fs)
	}
}
