package tencent

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

// followUps counts the calls a listing makes besides its pages.
func followUps(s *emulator.Server) map[string]int {
	out := map[string]int{}
	for _, ep := range []string{emulator.EndpointAddresses, emulator.EndpointParticipants, emulator.EndpointMeeting,
		emulator.EndpointCorpMeetings, emulator.EndpointHistory} {
		if n := s.Count(ep); n > 0 {
			out[ep] = n
		}
	}
	return out
}

// dirDigest names every file under dir with its size, modification time and content.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, _ := d.Info()
		data, _ := os.ReadFile(path)
		b.WriteString(path + " " + info.ModTime().String() + " " + string(data) + "\n")
		return nil
	})
	return b.String()
}

// listAll lists the coaching day (the recurring meeting included) with a fresh Lister over the cache,
// as a later run would.
func listAll(t *testing.T, c *Client, cache *Cache, now time.Time) *sink {
	t.Helper()
	out := newSink()
	l := newLister(t, c, ListerConfig{Cache: cache, Now: func() time.Time { return now }})
	if err := l.List(context.Background(), day, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameRecordings(t *testing.T, got, want *sink) {
	t.Helper()
	if !slices.Equal(got.order, want.order) {
		t.Fatalf("emitted %v, want %v", got.order, want.order)
	}
	for _, id := range want.order {
		if a, b := got.recording(t, id), want.recording(t, id); !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs:\n got %+v\nwant %+v", id, a, b)
		}
	}
}

func TestCacheMakesRerunsCostOnlyListingPages(t *testing.T) {
	later := base.Add(30 * 24 * time.Hour) // every recording of the day is settled
	s, c := newEnv(t, emulator.Options{})
	dir := filepath.Join(t.TempDir(), CacheDirName)

	first := listAll(t, c, NewCache(dir, "scope", false, quiet), later)
	// Ended meetings come from one page of /v1/corp/meetings for the window, not /v1/meetings/{id}.
	if got := followUps(s); got[emulator.EndpointParticipants] != 3 || got[emulator.EndpointCorpMeetings] != 1 || len(got) != 2 {
		t.Fatalf("cold listing made %v, want participants of 3 recordings, one ended-meetings page and no addresses", got)
	}
	entries, _ := os.ReadDir(dir)
	name := regexp.MustCompile(`^(participants|occurrence)-[0-9a-f]{40}\.json$`)
	if len(entries) != 6 {
		t.Errorf("%d cache files, want 6", len(entries))
	}
	for _, e := range entries {
		if !name.MatchString(e.Name()) {
			t.Errorf("cache file %q is not named by a hash", e.Name())
		}
	}

	s.Reset()
	second := listAll(t, c, NewCache(dir, "scope", false, quiet), later)
	if got := followUps(s); len(got) != 0 {
		t.Errorf("warm rerun made %v; want listing pages only", got)
	}
	if s.Count(emulator.EndpointCorpRecords) != 1 {
		t.Errorf("%d listing pages, want 1", s.Count(emulator.EndpointCorpRecords))
	}
	sameRecordings(t, second, first)
	// The recurring meeting's participants still come from its occurrence, now from the cache.
	if got := second.recording(t, "rec-weekly-2").StudentIDs; !slices.Equal(got, []string{"stu_new"}) {
		t.Errorf("recurring meeting students %v", got)
	}

	t.Run("another scope does not see the entries", func(t *testing.T) {
		s.Reset()
		listAll(t, c, NewCache(dir, "other enterprise", true, quiet), later)
		if got := followUps(s); got[emulator.EndpointParticipants] != 3 {
			t.Errorf("calls %v, want the API asked again", got)
		}
	})
	t.Run("corrupt entries are refetched and rewritten", func(t *testing.T) {
		for i, e := range entries {
			garbage := []string{"{not json", "", `{"v":1,"meeting_id":"someone else","rows":[]}`}[i%3]
			if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(garbage), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s.Reset()
		sameRecordings(t, listAll(t, c, NewCache(dir, "scope", false, quiet), later), first)
		if got := followUps(s); got[emulator.EndpointParticipants] != 3 || got[emulator.EndpointCorpMeetings] != 1 {
			t.Errorf("calls with corrupt cache %v, want everything refetched", got)
		}
		s.Reset()
		listAll(t, c, NewCache(dir, "scope", false, quiet), later)
		if got := followUps(s); len(got) != 0 {
			t.Errorf("after rewriting, a rerun made %v", got)
		}
	})
}

func TestCacheOnlySettledRecordings(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	dir := filepath.Join(t.TempDir(), CacheDirName)
	// 3 h after the first recording ended; the sales meeting ends 1 h later, the weekly one 3 h later.
	soon := base.Add(4 * time.Hour)
	listAll(t, c, NewCache(dir, "scope", false, quiet), soon)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 { // participants and occurrence of the first recording
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("cache files %v", names)
	}
	s.Reset()
	listAll(t, c, NewCache(dir, "scope", false, quiet), soon)
	if got := followUps(s); got[emulator.EndpointParticipants] != 2 {
		t.Errorf("rerun made %v; the two unsettled recordings must be asked again", got)
	}
}

func TestCacheReadOnlyNeverWrites(t *testing.T) {
	later := base.Add(30 * 24 * time.Hour)
	s, c := newEnv(t, emulator.Options{})
	state := t.TempDir()
	dir := filepath.Join(state, CacheDirName)

	// A dry run on a cold cache asks the API and leaves state_dir as it was: not even the directory.
	listAll(t, c, NewCache(dir, "scope", true, quiet), later)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("read-only cache created %s: %v", dir, err)
	}
	// It reads a warm cache.
	listAll(t, c, NewCache(dir, "scope", false, quiet), later)
	before := dirDigest(t, state)
	s.Reset()
	listAll(t, c, NewCache(dir, "scope", true, quiet), later)
	if got := followUps(s); len(got) != 0 {
		t.Errorf("read-only warm cache: calls %v", got)
	}
	if dirDigest(t, state) != before {
		t.Error("a read-only cache changed state_dir")
	}
	// Nor does it rewrite corrupt entries.
	entries, _ := os.ReadDir(dir)
	os.WriteFile(filepath.Join(dir, entries[0].Name()), []byte("{"), 0o600)
	before = dirDigest(t, state)
	listAll(t, c, NewCache(dir, "scope", true, quiet), later)
	if dirDigest(t, state) != before {
		t.Error("a read-only cache changed state_dir")
	}
}

func TestCacheMeetingKnowsOnlyEarlierOccurrences(t *testing.T) {
	ctx := context.Background()
	c := NewCache(t.TempDir(), "scope", false, quiet)
	info := &MeetingInfo{MeetingID: "m", MeetingType: 1, SubMeetings: []SubMeeting{{ID: "sub-1", Start: base, End: base.Add(time.Hour)}}}
	c.PutMeeting(ctx, "m", info, base.Add(3*time.Hour))
	if got, ok := c.Meeting(ctx, "m", base.Add(time.Hour)); !ok || !reflect.DeepEqual(got, info) {
		t.Errorf("details fetched after the recording ended: %+v %v", got, ok)
	}
	if _, ok := c.Meeting(ctx, "m", base.Add(7*24*time.Hour)); ok {
		t.Error("details fetched before next week's occurrence were used for it")
	}
	if _, ok := c.Meeting(ctx, "other", base); ok {
		t.Error("another meeting's details")
	}
	q := ParticipantsQuery{MeetingID: "m", SubMeetingID: "sub-1"}
	c.PutParticipants(ctx, q, nil, base)
	if rows, ok := c.Participants(ctx, q); !ok || rows == nil || len(rows) != 0 {
		t.Errorf("an empty answer is an answer: %v %v", rows, ok)
	}
	q.Since = base
	if _, ok := c.Participants(ctx, q); ok {
		t.Error("another join window hit the entry")
	}
}

func TestNoCacheAlwaysAsks(t *testing.T) {
	later := base.Add(30 * 24 * time.Hour)
	s, c := newEnv(t, emulator.Options{})
	listAll(t, c, nil, later)
	s.Reset()
	listAll(t, c, nil, later)
	if got := followUps(s); got[emulator.EndpointParticipants] != 3 || got[emulator.EndpointCorpMeetings] != 1 {
		t.Errorf("without a cache a rerun made %v, want the API asked again", got)
	}
}
