package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openRaw(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDBIsFreshAndDropped(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		dsn := DB(t)
		db := open(t, dsn)
		if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		var n int
		db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n)
		if !strings.HasPrefix(name, "mp_test_") || n != 0 {
			t.Fatalf("database %q with %d tables, want a fresh mp_test_ one", name, n)
		}
		if _, err := db.Exec("CREATE TABLE t (s VARCHAR(8)) DEFAULT CHARSET=utf8mb4"); err != nil {
			t.Fatal(err)
		}
	})
	cfg, _ := mysql.ParseDSN(shared.dsn)
	db, _ := openRaw(cfg)
	defer db.Close()
	var n int
	db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n)
	if n != 0 {
		t.Fatalf("database %s still exists after its test", name)
	}
}

func TestServerKillRestart(t *testing.T) {
	t.Parallel() // its own server
	// A temporary table of another server's running query, in the machine's temporary folder.
	other, err := os.CreateTemp("", "#sql-temptable-other-*.MAI")
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	t.Cleanup(func() { os.Remove(other.Name()) })
	s := StartServer(t)
	dsn := s.NewDatabase(t)
	db := open(t, dsn)
	for _, q := range []string{"CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(16)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		"INSERT INTO t VALUES (1, '简历😀')"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Kill()
	if err := db.Ping(); err == nil {
		t.Fatal("ping succeeded on a killed server")
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Fatal("the killed server still accepts connections")
	}
	s.Restart()
	var got string
	if err := db.QueryRowContext(context.Background(), "SELECT s FROM t WHERE id = 1").Scan(&got); err != nil || got != "简历😀" {
		t.Fatalf("after restart: %q, %v; want the committed row", got, err)
	}
	if _, err := os.Stat(other.Name()); err != nil {
		t.Errorf("starting the server deleted another server's temporary table: %v", err)
	}
}

func TestFallsBackToAThrowawayServer(t *testing.T) {
	t.Parallel() // its own server
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("root@tcp(%s)/", l.Addr())
	l.Close()
	if _, _, err := chooseServer(closed, defaultDSN); err == nil || !strings.Contains(err.Error(), EnvDSN) {
		t.Fatalf("an unreachable %s gave %v, want an error naming it", EnvDSN, err)
	}
	dsn, s, err := chooseServer("", closed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	if dsn == closed {
		t.Fatal("chose the unreachable server")
	}
	db := open(t, NewDatabase(t, dsn))
	if err := db.Ping(); err != nil {
		t.Fatalf("throwaway server: %v", err)
	}
}
