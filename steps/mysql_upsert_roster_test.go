package steps

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
)

// A roster maps a returning guest's name to a canonical id; a guest it does not know keeps the name id
// and flags the recording; editing the roster moves the stored rows at the next run, with no step re-run.
func TestMysqlUpsertRoster(t *testing.T) {
	t.Parallel() // its own servers, database and files
	dsn := storetest.DB(t)
	dir := t.TempDir()
	ros := filepath.Join(dir, "roster.yaml")
	os.WriteFile(ros, []byte("- id: S001\n  name: 李同学\n  aliases: [小李]\n"), 0o600)
	db := upsertTestPool(t, dsn)
	ctx := context.Background()

	s := newTestUpsert(t, "dsn: "+dsn+"\nroster: "+ros)
	for _, it := range [][]string{{"r1", "name:李同学:1200", "name:路人:60"}, {"r2", "name:小李:600"}} {
		if _, err := s.Process(ctx, upsertItem(t, it[0], 0, "简历优化", it[1:]...)); err != nil {
			t.Fatal(err)
		}
	}
	links := storetest.Dump(t, db, "recording_students")
	want := []string{"r1\tS001\t李同学\t1200", "r1\tname:路人\t路人\t60", "r2\tS001\t小李\t600"}
	if !slices.Equal(links, want) {
		t.Errorf("links %q, want %q", links, want)
	}
	var review bool
	db.QueryRow(`SELECT needs_review FROM recordings WHERE id = 'r1'`).Scan(&review)
	if !review {
		t.Error("r1 has a guest the roster does not know but is not flagged")
	}
	rep, err := store.Status(ctx, db, store.StatusOptions{})
	if err != nil || len(rep.UnmatchedGuests) != 1 || rep.UnmatchedGuests[0].SourceID != "name:路人" {
		t.Errorf("status unmatched guests %+v %v", rep.UnmatchedGuests, err)
	}
	var cnt, mins int
	db.QueryRow(`SELECT record_cnt, total_duration FROM student_stats WHERE student_id = 'S001'`).Scan(&cnt, &mins)
	if cnt != 2 || mins != 30 {
		t.Errorf("S001 stats %d recordings, %d min; want 2 and 30", cnt, mins)
	}
	s.Close()

	// The roster learns the passer-by and renames S001: the next run re-keys, nothing is re-processed.
	os.WriteFile(ros, []byte("- id: S009\n  name: 李同学\n  aliases: [小李]\n- id: S002\n  name: 路人\n"), 0o600)
	s = newTestUpsert(t, "dsn: "+dsn+"\nroster: "+ros)
	defer s.Close()
	if _, err := s.open(ctx); err != nil {
		t.Fatal(err)
	}
	links = storetest.Dump(t, db, "recording_students")
	want = []string{"r1\tS002\t路人\t60", "r1\tS009\t李同学\t1200", "r2\tS009\t小李\t600"}
	if !slices.Equal(links, want) {
		t.Errorf("after the edit links %q, want %q", links, want)
	}
	stats := storetest.Dump(t, db, "student_stats")
	if len(stats) != 2 {
		t.Errorf("stats rows %q, want S002 and S009 only", stats)
	}
	db.QueryRow(`SELECT needs_review FROM recordings WHERE id = 'r1'`).Scan(&review)
	if review {
		t.Error("r1 still flagged after its guest joined the roster")
	}
}
