// Package store is meetpipe's MySQL access: connections, schema migrations, the recordings upsert that
// keeps student statistics exact, run records, and the status report.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config says how to reach the database: either DSN (go-sql-driver form,
// "user:pass@tcp(host:3306)/db") or the separate DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME.
// Settings that keep the data right (UTC, utf8mb4, strict mode) are forced either way.
type Config struct {
	DSN      string
	Host     string // default 127.0.0.1
	Port     int    // default 3306
	User     string // default root
	Password string
	Database string
	// TLS is false, true, skip-verify or preferred (go-sql-driver's names). Empty keeps the DSN's choice.
	TLS string

	MaxOpen         int           // connections in the pool; default 4
	MaxIdle         int           // idle connections kept; default MaxOpen
	ConnMaxLifetime time.Duration // default 5m, under typical server wait_timeout and proxies' idle cuts
	ConnectTimeout  time.Duration // dial timeout; default 10s
	ReadTimeout     time.Duration // per read on the socket; default 60s
	WriteTimeout    time.Duration // default 60s
	LockWait        time.Duration // innodb_lock_wait_timeout for the session; default 20s
}

// ConfigFromEnv reads DB_DSN, or DB_HOST, DB_PORT, DB_USER, DB_PASS, DB_NAME (the Python pipeline's names) and
// DB_TLS, through lookup (os.Getenv or the CLI's merged environment).
func ConfigFromEnv(lookup func(string) string) (Config, error) {
	c := Config{
		DSN:      lookup("DB_DSN"),
		Host:     lookup("DB_HOST"),
		User:     lookup("DB_USER"),
		Password: lookup("DB_PASS"),
		Database: lookup("DB_NAME"),
		TLS:      lookup("DB_TLS"),
	}
	if p := lookup("DB_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return c, fmt.Errorf("DB_PORT %q is not a port number", p)
		}
		c.Port = n
	}
	return c, nil
}

// Secrets returns the values that must never be printed: the password, wherever it came from.
func (c Config) Secrets() []string {
	var out []string
	if c.Password != "" {
		out = append(out, c.Password)
	}
	if c.DSN != "" {
		if mc, err := mysql.ParseDSN(c.DSN); err == nil && mc.Passwd != "" {
			out = append(out, mc.Passwd)
		}
		out = append(out, c.DSN)
	}
	var esc []string
	for _, s := range out {
		if q := url.QueryEscape(s); q != s {
			esc = append(esc, q)
		}
	}
	return append(out, esc...)
}

// Describe says where c points without the password ("app@tcp(db:3306)/meetpipe"), for logs and errors.
func (c Config) Describe() string {
	mc, err := c.driverConfig()
	if err != nil {
		return "(invalid database configuration)"
	}
	return fmt.Sprintf("%s@%s(%s)/%s", mc.User, mc.Net, mc.Addr, mc.DBName)
}

// driverConfig builds go-sql-driver's configuration. Errors never quote the DSN: it holds the password.
func (c Config) driverConfig() (*mysql.Config, error) {
	var mc *mysql.Config
	if c.DSN != "" {
		var err error
		if mc, err = mysql.ParseDSN(c.DSN); err != nil {
			return nil, fmt.Errorf("database dsn is invalid (value not shown): %s", scrubText(err.Error(), c.Secrets()))
		}
	} else {
		mc = mysql.NewConfig()
		host, port, user := c.Host, c.Port, c.User
		if host == "" {
			host = "127.0.0.1"
		}
		if port == 0 {
			port = 3306
		}
		if user == "" {
			user = "root"
		}
		if c.Database == "" {
			return nil, errors.New("database: no database name (DB_NAME) and no DSN (DB_DSN)")
		}
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(host, strconv.Itoa(port))
		mc.User, mc.Passwd, mc.DBName = user, c.Password, c.Database
	}
	if mc.DBName == "" {
		return nil, errors.New("database: the DSN names no database")
	}
	switch c.TLS {
	case "":
	case "false", "true", "skip-verify", "preferred":
		mc.TLSConfig = c.TLS
	default:
		return nil, fmt.Errorf("database tls %q: want false, true, skip-verify or preferred", c.TLS)
	}
	// Times are stored and read as UTC whatever the server's zone; ids, names and transcripts are
	// utf8mb4 (Chinese, emoji); strict mode turns silent truncation into an error that names the column.
	mc.ParseTime = true
	mc.Loc = time.UTC
	if err := mc.Apply(mysql.Charset("utf8mb4", "utf8mb4_unicode_ci")); err != nil {
		return nil, fmt.Errorf("database charset: %w", err)
	}
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	mc.Params["time_zone"] = "'+00:00'"
	mc.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'"
	mc.Params["innodb_lock_wait_timeout"] = strconv.Itoa(int(max(1, durOr(c.LockWait, 20*time.Second)/time.Second)))
	mc.Timeout = durOr(c.ConnectTimeout, 10*time.Second)
	mc.ReadTimeout = durOr(c.ReadTimeout, 60*time.Second)
	mc.WriteTimeout = durOr(c.WriteTimeout, 60*time.Second)
	mc.Logger = driverLogger{}
	return mc, nil
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Open returns a connection pool for c after checking that the server answers. Its errors never contain
// the password or the DSN.
func Open(ctx context.Context, c Config) (*sql.DB, error) {
	db, err := New(c)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, Scrub(fmt.Errorf("connect to %s: %w", c.Describe(), err), c.Secrets()...)
	}
	return db, nil
}

// New is Open without the check: it connects on first use.
func New(c Config) (*sql.DB, error) {
	mc, err := c.driverConfig()
	if err != nil {
		return nil, Scrub(err, c.Secrets()...)
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, Scrub(fmt.Errorf("database %s: %w", c.Describe(), err), c.Secrets()...)
	}
	db := sql.OpenDB(conn)
	open := c.MaxOpen
	if open <= 0 {
		open = 4
	}
	idle := c.MaxIdle
	if idle <= 0 || idle > open {
		idle = open
	}
	db.SetMaxOpenConns(open)
	db.SetMaxIdleConns(idle)
	db.SetConnMaxLifetime(durOr(c.ConnMaxLifetime, 5*time.Minute))
	return db, nil
}

// driverLogger sends go-sql-driver's own messages ("closing bad idle connection") to slog instead of the
// standard logger. They never carry the password.
type driverLogger struct{}

func (driverLogger) Print(v ...any) {
	slog.Default().Warn(strings.TrimSpace(fmt.Sprint(v...)), "component", "mysql")
}

// Scrub returns err with every secret replaced by "***" in its text; errors.Is and errors.As still see
// the original chain (a *mysql.MySQLError stays classifiable).
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := scrubText(msg, secrets)
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

func scrubText(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}
