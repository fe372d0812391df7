package mediatest

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestGenerateIsDeterministicWithKnownSilences makes the meeting twice past the cache: the cache is only
// right because the same spec gives the same bytes.
func TestGenerateIsDeterministicWithKnownSilences(t *testing.T) {
	t.Parallel() // its own files, no cache
	spec := MeetingSpec{Silences: []time.Duration{2 * time.Second, 1500 * time.Millisecond, 3 * time.Second}}
	// Made twice at once, each in a directory of its own.
	var ms [2]Meeting
	var errs [2]error
	var wg sync.WaitGroup
	for i := range ms {
		dir := t.TempDir()
		wg.Go(func() { ms[i], errs[i] = generate(dir, defaults(spec)) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	a, b := ms[0], ms[1]
	da, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Error("the same spec gave different files")
	}
	if len(a.Silences) != 3 || len(a.Speech) != 4 {
		t.Fatalf("%d silences and %d utterances, want 3 and 4", len(a.Silences), len(a.Speech))
	}
	for i, s := range a.Silences {
		if got, want := s.End-s.Start, spec.Silences[i].Seconds(); math.Abs(got-want) > 1e-3 {
			t.Errorf("silence %d lasts %.3f s, want %.3f", i, got, want)
		}
	}

	// ffmpeg finds the same silences in the MP4's audio, and no other.
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", a.Path, "-af",
		"silencedetect=noise=-35dB:d=0.5", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	starts := regexp.MustCompile(`silence_start: ([0-9.]+)`).FindAllSubmatch(out, -1)
	ends := regexp.MustCompile(`silence_end: ([0-9.]+)`).FindAllSubmatch(out, -1)
	if len(starts) != len(a.Silences) || len(ends) != len(a.Silences) {
		t.Fatalf("ffmpeg found %d silences, want %d:\n%s", len(starts), len(a.Silences), out)
	}
	for i, s := range a.Silences {
		st, _ := strconv.ParseFloat(string(starts[i][1]), 64)
		en, _ := strconv.ParseFloat(string(ends[i][1]), 64)
		if math.Abs(st-s.Start) > 0.05 || math.Abs(en-s.End) > 0.05 {
			t.Errorf("silence %d detected at %.3f–%.3f, generated at %.3f–%.3f", i, st, en, s.Start, s.End)
		}
	}
}

func TestGenerateRepeat(t *testing.T) {
	t.Parallel() // its own copies of the cached media
	one := MustGenerate(t, MeetingSpec{Silences: []time.Duration{time.Second}})
	three := MustGenerate(t, MeetingSpec{Silences: []time.Duration{time.Second}, Repeat: 3})
	if len(three.Silences) != 3 || math.Abs(three.Duration-3*one.Duration) > 1e-9 {
		t.Fatalf("repeat 3: %d silences, %.3f s; want 3 and %.3f", len(three.Silences), three.Duration, 3*one.Duration)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
		"stream=duration", "-of", "csv=p=0", three.Path).Output()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := strconv.ParseFloat(string(bytes.TrimSpace(out)), 64)
	if math.Abs(d-three.Duration) > 0.2 {
		t.Errorf("looped audio lasts %.3f s, want %.3f", d, three.Duration)
	}
}

// TestGenerateCache: a spec is generated once; later calls get their own copy of the cached file, under
// their own name, and damaging a copy damages nothing else.
func TestGenerateCache(t *testing.T) {
	t.Parallel() // its own cache
	root := t.TempDir()
	made := 0
	gen := func(dir string, spec MeetingSpec) (Meeting, error) {
		made++
		return generate(dir, spec)
	}
	spec := defaults(MeetingSpec{Silences: []time.Duration{time.Second}, Name: "a.mp4"})
	a, err := cached(root, t.TempDir(), spec, gen)
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = "b.mp4"
	b, err := cached(root, t.TempDir(), spec, gen)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a.Path)
	db, _ := os.ReadFile(b.Path)
	if made != 1 || len(da) == 0 || !bytes.Equal(da, db) || filepath.Base(b.Path) != "b.mp4" || a.Duration != b.Duration || len(b.Silences) != 1 {
		t.Fatalf("generated %d times; copies %s (%d bytes) and %s (%d bytes)", made, a.Path, len(da), b.Path, len(db))
	}
	if err := os.Truncate(a.Path, 10); err != nil {
		t.Fatal(err)
	}
	c, err := cached(root, t.TempDir(), spec, gen)
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := os.ReadFile(c.Path); !bytes.Equal(dc, db) || made != 1 {
		t.Errorf("after a copy was damaged: %d bytes, generated %d times", len(dc), made)
	}
	other := spec
	other.Silences = []time.Duration{2 * time.Second}
	if _, err := cached(root, t.TempDir(), other, gen); err != nil || made != 2 {
		t.Errorf("another spec: %v, generated %d times, want 2", err, made)
	}
}

// A dialogue is cached like a meeting: made once, each caller getting its own copy with the same lines.
func TestGenerateDialogueCache(t *testing.T) {
	t.Parallel() // its own cache
	root := t.TempDir()
	made := 0
	spec := DialogueSpec{Lines: []Line{{Speaker: "teacher", Text: "你好", After: 500 * time.Millisecond},
		{Speaker: "student", Voice: StudentVoice, Text: "老师好"}}, Lead: time.Second}
	gen := func(name string) (Dialogue, error) {
		s := spec
		s.Name = name
		return fromCache(root, t.TempDir(), name, dialogueKey(s), dialoguePath, func(tmp, file string) (Dialogue, error) {
			made++
			s.Name = file
			return generateDialogue(tmp, s)
		})
	}
	a, err := gen("a.mp4")
	if err != nil {
		t.Fatal(err)
	}
	b, err := gen("b.mp4")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a.Path)
	db, _ := os.ReadFile(b.Path)
	if made != 1 || len(da) == 0 || !bytes.Equal(da, db) || filepath.Base(b.Path) != "b.mp4" || a.Duration != b.Duration ||
		len(b.Lines) != 2 || b.Lines[1] != a.Lines[1] || b.Lines[1].Start <= 1000 {
		t.Fatalf("generated %d times; %+v and %+v", made, a, b)
	}
	spec.Lead = 2 * time.Second
	if _, err := gen("c.mp4"); err != nil || made != 2 {
		t.Errorf("another spec: %v, generated %d times, want 2", err, made)
	}
}
