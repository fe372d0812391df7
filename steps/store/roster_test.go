package store

import (
	"context"
	"maps"
	"testing"
)

// withSources gives r's students as sources mapped by resolve, and its students as their merge.
func withSources(r Recording, resolve Resolver) Recording {
	r.Sources = nil
	for _, a := range r.Students {
		id, un := resolve(a.StudentID)
		r.Sources = append(r.Sources, Source{SourceID: a.StudentID, StudentID: id, Name: a.Name, Seconds: a.Seconds, Unmatched: un})
	}
	r.Students = Merge(r.Sources)
	return r
}

func mapping(m map[string]string) Resolver {
	return func(src string) (string, bool) {
		if id, ok := m[src]; ok {
			return id, false
		}
		return src, m != nil && len(src) > 5 && src[:5] == "name:"
	}
}

// A roster edit moves stats exactly: merged guests become one student (their seconds summed where they
// share a recording), a renamed student's rows move to the new id, and removing the roster brings the
// name ids back. Nothing is left behind or counted twice; no upsert runs again.
func TestApplyRosterMovesStatsExactly(t *testing.T) {
	t.Parallel() // its own database
	db := openTest(t)
	ctx := context.Background()
	s := &Recordings{DB: db}
	raw := map[string]Recording{
		"r1": rec("r1", 0, "简历优化", "name:li:600", "name:xiao li:300", "stu_a:900"),
		"r2": rec("r2", 1, "项目深挖", "name:li:1200"),
		"r3": rec("r3", 2, "面试模拟", "name:wang:1800", "stu_a:60"),
	}
	apply := func(t *testing.T, m map[string]string) {
		t.Helper()
		if _, err := ApplyRoster(ctx, db, mapping(m)); err != nil {
			t.Fatal(err)
		}
		want := map[string]Recording{}
		for id, r := range raw {
			want[id] = withSources(r, mapping(m))
		}
		checkExact(t, db, want)
	}
	for _, r := range raw {
		if _, err := s.Upsert(ctx, withSources(r, mapping(nil))); err != nil {
			t.Fatal(err)
		}
	}
	checkExact(t, db, func() map[string]Recording {
		out := map[string]Recording{}
		for id, r := range raw {
			out[id] = withSources(r, mapping(nil))
		}
		return out
	}())

	t.Run("merge two names of one guest", func(t *testing.T) {
		apply(t, map[string]string{"name:li": "S001", "name:xiao li": "S001"})
		var review bool
		db.QueryRow(`SELECT needs_review FROM recordings WHERE id = 'r3'`).Scan(&review)
		if !review {
			t.Error("r3 has a guest the roster does not know but is not flagged needs_review")
		}
		g, err := unmatchedGuests(ctx, db, 10)
		if err != nil || len(g) != 1 || g[0].SourceID != "name:wang" {
			t.Errorf("unmatched guests %+v %v, want name:wang", g, err)
		}
	})
	t.Run("rename and merge another", func(t *testing.T) {
		apply(t, map[string]string{"name:li": "S100", "name:xiao li": "S100", "name:wang": "S100"})
		var review bool
		db.QueryRow(`SELECT needs_review FROM recordings WHERE id = 'r3'`).Scan(&review)
		if review {
			t.Error("r3's guest is known now; still flagged")
		}
	})
	t.Run("roster removed", func(t *testing.T) {
		apply(t, nil)
	})
	t.Run("an upsert after an edit keeps the mapping", func(t *testing.T) {
		m := map[string]string{"name:li": "S001"}
		apply(t, m)
		r := raw["r2"]
		r.Students = append(r.Students, Attendance{StudentID: "name:new", Name: "新同学", Seconds: 30})
		if _, err := s.Upsert(ctx, withSources(r, mapping(m))); err != nil {
			t.Fatal(err)
		}
		all := maps.Clone(raw)
		all["r2"] = r
		want := map[string]Recording{}
		for id, r := range all {
			want[id] = withSources(r, mapping(m))
		}
		checkExact(t, db, want)
	})
}
