package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWholeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b.json")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	des, _ := os.ReadDir(filepath.Dir(path))
	if len(des) != 1 {
		t.Fatalf("left %d entries, want only the file", len(des))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 (state may hold tokens)", fi.Mode().Perm())
	}
}

func TestWriteIntoAFileAsDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "f", "x"), []byte("x")); err == nil {
		t.Fatal("want an error writing under a regular file")
	}
}

// A directory where the file should be: the rename fails, the error names the path, and the temporary
// file does not stay behind.
func TestWriteOverADirectoryFailsAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "blocked"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "blocked"), []byte("x")); err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("got %v, want an error naming the path", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("left %v, want only the directory", left)
	}
}
