package fsx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:pw@cos.example.com/a/b.mp4?q-sign=SECRET#frag": "https://cos.example.com/a/b.mp4?…",
		"https://cos.example.com/a/b.mp4":                         "https://cos.example.com/a/b.mp4",
		"::not a url?sign=SECRET":                                 "::not a url?…",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(RedactURL(in), "SECRET") || strings.Contains(RedactURL(in), "pw") {
			t.Errorf("RedactURL(%q) keeps a credential", in)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "f.json")
	for _, body := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != body {
			t.Fatalf("read %q, %v; want %q", b, err, body)
		}
	}
	left, _ := os.ReadDir(filepath.Dir(path))
	if len(left) != 1 {
		t.Errorf("temporary files left behind: %v", left)
	}
	// A directory in the way fails with the path named and nothing left behind.
	if err := os.Mkdir(filepath.Join(dir, "blocked"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "blocked"), []byte("x")); err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("got %v, want an error naming the path", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 2 {
		t.Errorf("left %v", left)
	}
}
