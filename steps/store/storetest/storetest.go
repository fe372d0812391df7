// Package storetest gives tests a MySQL database of their own: a fresh database on a reachable server,
// or on a throwaway MariaDB the package starts itself, and whole throwaway servers that a test may kill
// and restart.
//
// The server used by DB is, in order: MEETPIPE_TEST_DSN (must be reachable), root without a password at
// 127.0.0.1:3306, or a mariadbd started once per test binary in a temporary directory. MariaDB must be
// installed for the last two (`just deps`).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvDSN names the variable that points tests at a server of the caller's choice, e.g.
// "root:pw@tcp(127.0.0.1:3306)/" (a database in it is ignored: each test gets its own).
const EnvDSN = "MEETPIPE_TEST_DSN"

const defaultDSN = "root@tcp(127.0.0.1:3306)/"

// shared is the server DB uses. It is chosen once per test binary because starting a server costs a
// second and every test of the binary can share it: each gets its own database.
var shared struct {
	once sync.Once
	dsn  string // server DSN without a database
	err  error
}

// DB creates an empty database for t, dropped when t ends, and returns its DSN
// ("root@tcp(127.0.0.1:3306)/mp_test_…"; store.Open adds the connection settings it needs).
func DB(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.dsn, _, shared.err = chooseServer(os.Getenv(EnvDSN), defaultDSN) })
	if shared.err != nil {
		t.Fatalf("storetest: %v", shared.err)
	}
	return NewDatabase(t, shared.dsn)
}

// chooseServer returns the DSN of the server DB uses: configured (which must answer), else fallback if it
// answers, else a throwaway server (returned too) that lives as long as the test binary.
func chooseServer(configured, fallback string) (string, *Server, error) {
	if configured != "" {
		if err := ping(configured, 5*time.Second); err != nil {
			return "", nil, fmt.Errorf("%s is set but its server does not answer: %v", EnvDSN, redact(err, configured))
		}
		return configured, nil, nil
	}
	if ping(fallback, 2*time.Second) == nil {
		return fallback, nil, nil
	}
	s, err := startDetached()
	if err != nil {
		return "", nil, fmt.Errorf("no MySQL at 127.0.0.1:3306 and no throwaway MariaDB: %w", err)
	}
	return s.DSN(), s, nil
}

func ping(dsn string, timeout time.Duration) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("invalid DSN: %w", err)
	}
	cfg.Timeout = timeout
	cfg.DBName = ""
	db, err := openRaw(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return db.PingContext(ctx)
}

func openRaw(cfg *mysql.Config) (*sql.DB, error) {
	cfg = cfg.Clone()
	cfg.Logger = quiet{} // "closing bad idle connection" after a Kill is expected
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	return db, nil
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// NewDatabase creates an empty utf8mb4 database on the server of serverDSN for t, drops it when t ends,
// and returns a DSN that selects it.
func NewDatabase(t testing.TB, serverDSN string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(serverDSN)
	if err != nil {
		t.Fatalf("storetest: invalid server DSN: %v", redact(err, serverDSN))
	}
	cfg.DBName = ""
	cfg.Timeout = 10 * time.Second
	db, err := openRaw(cfg)
	if err != nil {
		t.Fatalf("storetest: %v", redact(err, serverDSN))
	}
	defer db.Close()

	var rnd [4]byte
	rand.Read(rnd[:])
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	name := "mp_test_" + base + "_" + hex.EncodeToString(rnd[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("storetest: create database %s: %v", name, redact(err, serverDSN))
	}
	t.Cleanup(func() {
		db, err := openRaw(cfg)
		if err != nil {
			t.Logf("storetest: drop database %s: %v", name, redact(err, serverDSN))
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Logf("storetest: drop database %s: %v", name, redact(err, serverDSN))
		}
	})
	db2 := *cfg
	db2.DBName = name
	return db2.FormatDSN()
}

type quiet struct{}

func (quiet) Print(...any) {}

// redact keeps a DSN's password out of a test log.
func redact(err error, dsn string) string {
	msg := err.Error()
	if cfg, e := mysql.ParseDSN(dsn); e == nil && cfg.Passwd != "" {
		msg = strings.ReplaceAll(msg, cfg.Passwd, "***")
	}
	return msg
}
