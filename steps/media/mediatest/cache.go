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

// The generated media are cached by their inputs: espeak-ng and ffmpeg cost about a second a meeting,
// and the suite asks for the same meetings again and again. The cache lives under the user's cache
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
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(append([]byte(cacheVersion+"\x00"), b...))
	return hex.EncodeToString(sum[:12])
}

// cached copies spec's meeting from the cache into dir, making it with gen first on a miss.
func cached(dir string, spec MeetingSpec, gen func(string, MeetingSpec) (Meeting, error)) (Meeting, error) {
	root := cacheDir()
	if root == "" || os.MkdirAll(root, 0o755) != nil {
		return gen(dir, spec) // no place for a cache: generate every time
	}
	entry := filepath.Join(root, cacheKey(spec))
	m, err := readEntry(entry)
	if err != nil {
		if m, err = fill(root, entry, spec, gen); err != nil {
			return Meeting{}, err
		}
	}
	dst := filepath.Join(dir, spec.Name)
	if err := copyFile(m.Path, dst); err != nil {
		return Meeting{}, fmt.Errorf("mediatest: copy from the cache: %w", err)
	}
	m.Path = dst
	return m, nil
}

// readEntry reads a complete cache entry: its description, pointing at its media file.
func readEntry(entry string) (Meeting, error) {
	b, err := os.ReadFile(filepath.Join(entry, "meeting.json"))
	if err != nil {
		return Meeting{}, err
	}
	var m Meeting
	if err := json.Unmarshal(b, &m); err != nil {
		return Meeting{}, err
	}
	m.Path = filepath.Join(entry, filepath.Base(m.Path)) // kept relative to the entry
	if _, err := os.Stat(m.Path); err != nil {
		return Meeting{}, err
	}
	return m, nil
}

// fill generates an entry in a temporary directory and renames it into place, so that test processes
// running at once never see half an entry; when another got there first, its entry is used.
func fill(root, entry string, spec MeetingSpec, gen func(string, MeetingSpec) (Meeting, error)) (Meeting, error) {
	tmp, err := os.MkdirTemp(root, ".fill-*")
	if err != nil {
		return Meeting{}, err
	}
	defer os.RemoveAll(tmp)
	spec.Name = "media" + filepath.Ext(spec.Name)
	m, err := gen(tmp, spec)
	if err != nil {
		return Meeting{}, err
	}
	m.Path = spec.Name
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(tmp, "meeting.json"), b, 0o644); err != nil {
		return Meeting{}, err
	}
	if err := os.Rename(tmp, entry); err != nil {
		if m, err := readEntry(entry); err == nil {
			return m, nil
		}
		return Meeting{}, fmt.Errorf("mediatest: cache entry: %w", err)
	}
	return readEntry(entry)
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
