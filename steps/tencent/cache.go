package tencent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"meetpipe/runner/atomicfile"
)

// CacheDirName is the directory under state_dir that holds the cache.
const CacheDirName = "tencent-cache"

// cacheVersion is written into every entry; entries of another version are ignored (refetched).
const cacheVersion = 1

// Cache keeps answers that no longer change: the participants of a settled recording (finished, and
// ended long enough ago that nobody can join any more) and the meeting details used to find its
// sub-meeting. Later runs read them instead of spending rate-limited calls on every recording of the
// window. File names are hashes, never API ids: ids come from the network and must not become paths.
// A Cache is safe for concurrent use (each entry is written atomically, and readers tolerate anything).
type Cache struct {
	dir      string
	scope    string
	readOnly bool
	log      *slog.Logger
}

// NewCache returns a cache in dir. Scope separates enterprises (or an emulator and production) sharing a
// state directory. A nil log means the run's logger. A read-only cache never writes, nor creates its
// directory: a dry run must not change a byte under state_dir.
func NewCache(dir, scope string, readOnly bool, log *slog.Logger) *Cache {
	return &Cache{dir: dir, scope: scope, readOnly: readOnly, log: log}
}

// logger is the given logger, else the run's.
func (c *Cache) logger(ctx context.Context) *slog.Logger {
	if c.log != nil {
		return c.log
	}
	return loggerFrom(ctx)
}

// participantsEntry is one cached participants answer. The ids and window are repeated in the entry so
// that a misplaced or colliding file is never taken for another meeting's.
type participantsEntry struct {
	V            int          `json:"v"`
	MeetingID    string       `json:"meeting_id"`
	SubMeetingID string       `json:"sub_meeting_id,omitempty"`
	Since        int64        `json:"since,omitempty"`
	Until        int64        `json:"until,omitempty"`
	Fetched      time.Time    `json:"fetched"`
	Rows         []Attendance `json:"rows"`
}

// meetingEntry is one cached meeting-details answer. Fetched tells which occurrences of a recurring
// meeting it can know: only those that had ended by then.
type meetingEntry struct {
	V         int          `json:"v"`
	MeetingID string       `json:"meeting_id"`
	Fetched   time.Time    `json:"fetched"`
	Info      *MeetingInfo `json:"info"`
}

// name is the file name of an entry: a hash of its kind, the scope and its key parts.
func (c *Cache) name(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte("meetpipe/tencent-cache\x00" + c.scope + "\x00" + kind))
	for _, p := range parts {
		h.Write([]byte("\x00" + p))
	}
	return filepath.Join(c.dir, kind+"-"+hex.EncodeToString(h.Sum(nil)[:20])+".json")
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (c *Cache) participantsPath(q ParticipantsQuery) (string, participantsEntry) {
	e := participantsEntry{V: cacheVersion, MeetingID: q.MeetingID, SubMeetingID: q.SubMeetingID,
		Since: unixOrZero(q.Since), Until: unixOrZero(q.Until)}
	return c.name("participants", e.MeetingID, e.SubMeetingID, strconv.FormatInt(e.Since, 10), strconv.FormatInt(e.Until, 10)), e
}

// Participants returns the cached attendance rows of q, if any.
func (c *Cache) Participants(ctx context.Context, q ParticipantsQuery) ([]Attendance, bool) {
	path, want := c.participantsPath(q)
	var e participantsEntry
	if !c.load(ctx, path, &e) {
		return nil, false
	}
	if e.V != want.V || e.MeetingID != want.MeetingID || e.SubMeetingID != want.SubMeetingID ||
		e.Since != want.Since || e.Until != want.Until || e.Rows == nil {
		c.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent cache entry does not match its name; refetching", slog.String("file", filepath.Base(path)))
		return nil, false
	}
	return e.Rows, true
}

// PutParticipants caches the attendance rows of q.
func (c *Cache) PutParticipants(ctx context.Context, q ParticipantsQuery, rows []Attendance, now time.Time) {
	path, e := c.participantsPath(q)
	e.Fetched, e.Rows = now.UTC(), rows
	if e.Rows == nil {
		e.Rows = []Attendance{}
	}
	c.store(ctx, path, e)
}

// Meeting returns the cached details of a meeting, if they can describe a recording that ended at end:
// details fetched before that may not know its occurrence of a recurring meeting.
func (c *Cache) Meeting(ctx context.Context, meetingID string, end time.Time) (*MeetingInfo, bool) {
	path := c.name("meeting", meetingID)
	var e meetingEntry
	if !c.load(ctx, path, &e) {
		return nil, false
	}
	if e.V != cacheVersion || e.MeetingID != meetingID || e.Info == nil {
		c.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent cache entry does not match its name; refetching", slog.String("file", filepath.Base(path)))
		return nil, false
	}
	if e.Fetched.Before(end) {
		return nil, false // older than the recording: a later occurrence is not in it
	}
	return e.Info, true
}

// PutMeeting caches a meeting's details.
func (c *Cache) PutMeeting(ctx context.Context, meetingID string, info *MeetingInfo, now time.Time) {
	c.store(ctx, c.name("meeting", meetingID), meetingEntry{V: cacheVersion, MeetingID: meetingID, Fetched: now.UTC(), Info: info})
}

// load reads an entry. A missing file is a miss; an unreadable or corrupt one is too (it is refetched
// and, outside dry runs, overwritten).
func (c *Cache) load(ctx context.Context, path string, v any) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent cache unreadable; refetching",
				slog.String("file", filepath.Base(path)), slog.String("error", err.Error()))
		}
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		c.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent cache entry corrupt; refetching",
			slog.String("file", filepath.Base(path)), slog.String("error", err.Error()))
		return false
	}
	return true
}

// store writes an entry atomically. Failing to cache costs calls on the next run, not this run's
// result, so it is only logged.
func (c *Cache) store(ctx context.Context, path string, v any) {
	if c.readOnly {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = atomicfile.Write(path, b)
	}
	if err != nil {
		c.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent cache not written", slog.String("file", filepath.Base(path)), slog.String("error", err.Error()))
	}
}

// occurrenceEntry is a settled recording's meeting occurrence (sub_meeting_id, creator), as matched in
// the ended-meeting listing: it no longer changes, and finding it again costs a listing.
type occurrenceEntry struct {
	V        int        `json:"v"`
	RecordID string     `json:"meeting_record_id"`
	Fetched  time.Time  `json:"fetched"`
	Occ      occurrence `json:"occurrence"`
}

// Occurrence returns the cached occurrence of a recording, if any.
func (c *Cache) Occurrence(ctx context.Context, recordID string) (occurrence, bool) {
	path := c.name("occurrence", recordID)
	var e occurrenceEntry
	if !c.load(ctx, path, &e) {
		return occurrence{}, false
	}
	if e.V != cacheVersion || e.RecordID != recordID {
		c.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "tencent cache entry does not match its name; refetching", slog.String("file", filepath.Base(path)))
		return occurrence{}, false
	}
	return e.Occ, true
}

// PutOccurrence caches a settled recording's occurrence.
func (c *Cache) PutOccurrence(ctx context.Context, recordID string, o occurrence, now time.Time) {
	c.store(ctx, c.name("occurrence", recordID), occurrenceEntry{V: cacheVersion, RecordID: recordID, Fetched: now.UTC(), Occ: o})
}
