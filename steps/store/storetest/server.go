package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a throwaway MariaDB: its own data directory and port on 127.0.0.1, no grant tables (root
// without a password). Kill and Restart let a test take it away mid-run.
type Server struct {
	dir  string // data directory, socket, pid file and log
	port int
	t    testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has exited
}

// StartServer starts a throwaway MariaDB for t and stops it and removes its files when t ends. Its data
// lives under the system temp directory (never the shared server's). It fails t when MariaDB is not
// installed: run `just deps`.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	s.t = t
	t.Cleanup(s.close)
	return s
}

// DSN is the server's address for root, without a database ("root@tcp(127.0.0.1:PORT)/").
func (s *Server) DSN() string { return fmt.Sprintf("root@tcp(127.0.0.1:%d)/", s.port) }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// NewDatabase creates a database on s for t (dropped when t ends, if s is up) and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return NewDatabase(t, s.DSN())
}

// Kill stops the server with SIGKILL, as a crash would, and waits until it is gone. Connections break
// mid-statement; committed transactions survive (InnoDB recovers them on Restart).
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exit
	s.cmd = nil
}

// Restart starts the server again on the same data and port and waits until it answers. When the server
// cannot come back it marks the test failed (with the server's log) and returns the error; it may be
// called from any goroutine.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	if err := s.launch(); err != nil {
		err = fmt.Errorf("storetest: restart MariaDB: %w", err)
		if s.t != nil {
			s.t.Errorf("%v", err)
		}
		return err
	}
	return nil
}

func (s *Server) close() {
	s.Kill()
	os.RemoveAll(s.dir)
}

// Log returns the server's error log, for a failing test to show.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	return string(b)
}

// binaries finds mariadbd and mariadb-install-db (or their older mysqld/mysql_install_db names).
func binaries() (server, install string, err error) {
	find := func(names ...string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
			for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/bin"} {
				p := filepath.Join(dir, n)
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
					return p
				}
			}
		}
		return ""
	}
	server, install = find("mariadbd", "mysqld"), find("mariadb-install-db", "mysql_install_db")
	if server == "" || install == "" {
		return "", "", errors.New("MariaDB is not installed (need mariadbd and mariadb-install-db): run `just deps`")
	}
	return server, install, nil
}

// serverFlags are shared by the install and every start. They keep the server small and quick to start,
// and independent of the machine's my.cnf (--no-defaults must come first). The server's temporary folder
// is its own: a starting mariadbd deletes every #sql* file in its tmpdir, and in /tmp those are the
// temporary tables of the other servers' running queries ("Error on delete of '/tmp/#sql-temptable-…'").
func serverFlags(dir string) []string {
	return []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--tmpdir=" + filepath.Join(dir, "tmp"),
		"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M",
		// Native AIO (io_uring/libaio) is often forbidden in containers; threads work everywhere.
		"--innodb-use-native-aio=0", "--skip-name-resolve"}
}

func start() (*Server, error) {
	_, install, err := binaries()
	if err != nil {
		return nil, err
	}
	sweepStale()
	// A short path under /tmp: the socket path must stay under ~100 bytes, which t.TempDir() can exceed.
	dir, err := os.MkdirTemp("", "meetpipe-mariadb-")
	if err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := append(serverFlags(dir), "--auth-root-authentication-method=normal", "--skip-test-db")
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(install, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %v\n%s", filepath.Base(install), err, tail(out.String(), 2000))
	}
	s := &Server{dir: dir}
	// The free port is found by listening and closing, so another process may take it before mariadbd
	// binds: try a few.
	for range 5 {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.launch(); err == nil || !strings.Contains(s.Log(), "already in use") {
			break
		}
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launch starts mariadbd on s.dir and s.port and waits until it accepts connections. s.mu is held (or s is
// not shared yet).
func (s *Server) launch() error {
	server, _, err := binaries()
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(s.dir, "error.log"))
	args := append(serverFlags(s.dir),
		"--port="+strconv.Itoa(s.port), "--bind-address=127.0.0.1", "--skip-networking=0",
		"--socket="+filepath.Join(s.dir, "mysqld.sock"), "--pid-file="+filepath.Join(s.dir, "mysqld.pid"),
		"--log-error="+filepath.Join(s.dir, "error.log"),
		"--skip-grant-tables", "--max-connections=200", "--skip-log-bin")
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(server, args...)
	cmd.SysProcAttr = sysProcAttr() // dies with the test binary, even on a crash
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", server, err)
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	s.cmd, s.exit = cmd, exit

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exit:
			s.cmd = nil
			return fmt.Errorf("mariadbd exited during start:\n%s", tail(s.Log(), 3000))
		default:
		}
		if ping(s.DSN(), time.Second) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("mariadbd did not answer within 60s:\n%s", tail(s.Log(), 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDetached starts the server DB shares. It lives as long as the test binary (the kernel kills it
// with the binary); its directory is removed by the next binary that starts one (sweepStale).
func startDetached() (*Server, error) { return start() }

// sweepStale removes the directories of throwaway servers whose test binary has exited.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "meetpipe-mariadb-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(d)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
