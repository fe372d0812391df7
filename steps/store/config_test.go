package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/store/storetest"

	"github.com/go-sql-driver/mysql"
)

const secretPassword = "s3cr3t-P@ss;word/中"

// closedPort returns a port on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestPasswordNeverInErrors(t *testing.T) {
	t.Parallel() // its own database
	port := closedPort(t)
	server, err := mysql.ParseDSN(storetest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	withPassword := *server
	withPassword.Passwd = secretPassword
	tests := []struct {
		name string
		cfg  Config
	}{
		{"refused, separate settings", Config{Host: "127.0.0.1", Port: port, User: "app", Password: secretPassword,
			Database: "meetpipe", ConnectTimeout: time.Second}},
		{"refused, dsn", Config{DSN: fmt.Sprintf("app:%s@tcp(127.0.0.1:%d)/meetpipe", secretPassword, port)}},
		{"invalid dsn", Config{DSN: "app:" + secretPassword + "@tcp(127.0.0.1:3306/meetpipe"}},
		{"unknown dsn parameter value", Config{DSN: "app:" + secretPassword + "@tcp(127.0.0.1:3306)/meetpipe?parseTime=maybe"}},
		{"bad tls", Config{DSN: "app:" + secretPassword + "@tcp(127.0.0.1:3306)/meetpipe", TLS: "bogus"}},
		{"wrong password on a real server", Config{}},
		{"wrong password, separate settings", Config{Host: strings.Split(server.Addr, ":")[0],
			Port: atoiPort(server.Addr), Password: secretPassword, Database: server.DBName}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The wrong-password cases log in as a user of their own, whose password is another.
			if strings.HasPrefix(tt.name, "wrong password") {
				user := userWithPassword(t, server, "pw-right-"+fmt.Sprint(time.Now().UnixNano()))
				if tt.cfg.Host == "" {
					withPassword.User = user
					tt.cfg.DSN = withPassword.FormatDSN()
				} else {
					tt.cfg.User = user
				}
			}
			db, err := Open(ctx, tt.cfg)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if strings.HasPrefix(tt.name, "wrong password") && !strings.Contains(err.Error(), "Access denied") {
				t.Errorf("error %q: want the server's Access denied", err)
			}
			for _, leak := range tt.cfg.Secrets() {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q contains the secret %q", err, leak)
				}
			}
			if strings.Contains(err.Error(), "P@ss") || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error %q contains part of the password", err)
			}
			t.Logf("%v", err)
		})
	}
}

// userWithPassword creates a user of server with a random name and the given password, dropped when t
// ends. Only a server with grant tables checks passwords: it skips, saying so, on one without
// (storetest's own mariadbd runs --skip-grant-tables).
func userWithPassword(t *testing.T, server *mysql.Config, password string) string {
	t.Helper()
	db, err := New(Config{DSN: server.FormatDSN()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	name := fmt.Sprintf("mp_pw_%d", time.Now().UnixNano()%1e9)
	if _, err := db.Exec(fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, password)); err != nil {
		t.Skipf("needs a server with grants (root at 127.0.0.1:3306, or %s): CREATE USER: %v", storetest.EnvDSN, err)
	}
	t.Cleanup(func() { db.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", name)) })
	if _, err := db.Exec(fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", server.DBName, name)); err != nil {
		t.Fatal(err)
	}
	return name
}

func atoiPort(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func TestScrubKeepsTheErrorChain(t *testing.T) {
	base := &mysql.MySQLError{Number: 1045, Message: "Access denied; password " + secretPassword}
	err := Scrub(fmt.Errorf("connect: %w", base), secretPassword)
	if strings.Contains(err.Error(), secretPassword) {
		t.Fatalf("scrubbed error %q still has the password", err)
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("the scrubbed error lost its *mysql.MySQLError")
	}
	if Scrub(nil, "x") != nil {
		t.Fatal("Scrub(nil) is not nil")
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"DB_HOST": "db.internal", "DB_PORT": "3307", "DB_USER": "app", "DB_PASS": "pw",
		"DB_NAME": "meetpipe", "DB_TLS": "skip-verify"}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Describe(), "app@tcp(db.internal:3307)/meetpipe"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	mc, err := c.driverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mc.TLSConfig != "skip-verify" || !mc.ParseTime || mc.Loc != time.UTC || mc.Params["time_zone"] != "'+00:00'" {
		t.Errorf("driver config misses forced settings: %+v", mc)
	}
	env["DB_PORT"] = "x"
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Error("a bad DB_PORT was accepted")
	}
	if _, err := (Config{Host: "h"}).driverConfig(); err == nil {
		t.Error("a config without database was accepted")
	}
	d, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"DB_DSN": "u:p@tcp(h:1)/d", "DB_HOST": "ignored"}[k]
	})
	if err != nil || d.Describe() != "u@tcp(h:1)/d" {
		t.Errorf("DB_DSN: %q, %v", d.Describe(), err)
	}
}

func TestTemporary(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&mysql.MySQLError{Number: 1213, Message: "Deadlock found"}, true},
		{&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"}, true},
		{&mysql.MySQLError{Number: 2006}, true},
		{&mysql.MySQLError{Number: 2013}, true},
		{&mysql.MySQLError{Number: 1406, Message: "Data too long for column 'x' at row 1"}, false},
		{&mysql.MySQLError{Number: 1366}, false},
		{&mysql.MySQLError{Number: 1045}, false},
		{&mysql.MySQLError{Number: 1146}, false},
		{mysql.ErrInvalidConn, true},
		{fmt.Errorf("commit: %w", mysql.ErrInvalidConn), true},
		{context.DeadlineExceeded, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{errors.New("something else"), false},
	}
	for _, tt := range tests {
		if got := Temporary(tt.err); got != tt.want {
			t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	// A real refused connection.
	_, err := Open(context.Background(), Config{Host: "127.0.0.1", Port: closedPort(t), Database: "x"})
	if err == nil || !Temporary(err) {
		t.Errorf("refused connection: %v, temporary %v", err, Temporary(err))
	}
}
