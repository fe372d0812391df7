package mediatest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The generated media are cached by their inputs: espeak-ng and ffmpeg cost about a second a meeting
// (several for a dialogue), and the suite asks for the same media again and again. The cache lives under the user's cache
// directory (or $MEETPIPE_TEST_CACHE), shared by every test package and every run; delete it to start
// over. A test gets its own copy of the file, so one that damages its media damages nothing else.

// cacheVersion changes whenever generate makes different bytes for the same spec.
const cacheVersion = "mediatest-1"

// cacheDir is where generated media are kept, or "" when there is no place for them.
func cacheDir() string {
	if d := os.Getenv("MEETPIPE_TEST_CACHE"); d != "" {
		if d == "off" {
			return ""
		}
		return filepath.Join(d, "media")
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "meetpipe", "test", "media")
}

// cacheKey names a spec's output: every field but the file name, of which only the extension (the
// container ffmpeg writes) matters.
func cacheKey(spec MeetingSpec) string {
	spec.Name = filepath.Ext(spec.Name)
	return hashKey("", spec)
}

// dialogueKey is cacheKey for a dialogue.
func dialogueKey(spec DialogueSpec) string {
	spec.Name = filepath.Ext(spec.Name)
	return hashKey("dialogue", spec)
}

func hashKey(kind string, spec any) string {
	b, _ := json.Marshal(spec)
	prefix := cacheVersion + "\x00"
	if kind != "" {
		prefix += kind + "\x00"
	}
	sum := sha256.Sum256(append([]byte(prefix), b...))
	return hex.EncodeToString(sum[:12])
}

// cached copies spec's meeting from the cache under root into dir, making it with gen first on a miss.
func cached(root, dir string, spec MeetingSpec, gen func(string, MeetingSpec) (Meeting, error)) (Meeting, error) {
	return fromCache(root, dir, spec.Name, cacheKey(spec), meetingPath, func(tmp, name string) (Meeting, error) {
		spec.Name = name
		return gen(tmp, spec)
	})
}

func meetingPath(m *Meeting) *string   { return &m.Path }
func dialoguePath(d *Dialogue) *string { return &d.Path }

// fromCache copies the media kept under key in the cache root (cacheDir, or "" for none) into dir as
// name, making them with gen (into a directory, under a name) first on a miss. path points at the
// file's path in M.
func fromCache[M any](root, dir, name, key string, path func(*M) *string, gen func(string, string) (M, error)) (M, error) {
	var zero M
	if root == "" || os.MkdirAll(root, 0o755) != nil {
		return gen(dir, name) // no place for a cache: generate every time
	}
	entry := filepath.Join(root, key)
	m, err := readEntry(entry, path)
	if err != nil {
		if m, err = fill(root, entry, name, path, gen); err != nil {
			return zero, err
		}
	}
	dst := filepath.Join(dir, name)
	if err := copyFile(*path(&m), dst); err != nil {
		return zero, fmt.Errorf("mediatest: copy from the cache: %w", err)
	}
	*path(&m) = dst
	return m, nil
}

// readEntry reads a complete cache entry: its description, pointing at its media file.
func readEntry[M any](entry string, path func(*M) *string) (M, error) {
	var m M
	b, err := os.ReadFile(filepath.Join(entry, "meeting.json"))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, err
	}
	p := path(&m)
	*p = filepath.Join(entry, filepath.Base(*p)) // kept relative to the entry
	if _, err := os.Stat(*p); err != nil {
		return m, err
	}
	return m, nil
}

// fill generates an entry in a temporary directory and renames it into place, so that test processes
// running at once never see half an entry; when another got there first, its entry is used.
func fill[M any](root, entry, name string, path func(*M) *string, gen func(string, string) (M, error)) (M, error) {
	var zero M
	tmp, err := os.MkdirTemp(root, ".fill-*")
	if err != nil {
		return zero, err
	}
	defer os.RemoveAll(tmp)
	file := "media" + filepath.Ext(name)
	m, err := gen(tmp, file)
	if err != nil {
		return zero, err
	}
	*path(&m) = file
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(tmp, "meeting.json"), b, 0o644); err != nil {
		return zero, err
	}
	if err := os.Rename(tmp, entry); err != nil {
		if m, err := readEntry(entry, path); err == nil {
			return m, nil
		}
		return zero, fmt.Errorf("mediatest: cache entry: %w", err)
	}
	return readEntry(entry, path)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
