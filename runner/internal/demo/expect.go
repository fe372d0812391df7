package demo

import (
	"fmt"
	"math"
	"sort"
	"time"

	"meetpipe/steps/roster"
)

// Want is what the database must hold after the bundled week, computed from the meetings' definitions, one
// sorted line per row so a test can diff it against what it reads.
type Want struct {
	Recordings []string // "id teacher phase review minutes"
	Links      []string // "recording student seconds"
	Stats      []string // "student count minutes last"
}

// Expected is Want for the week with every meeting held copies times (BuildCopies).
func Expected(copies int) Want {
	var w Want
	stats := map[string]*agg{}
	for c := range copies {
		for _, m := range Meetings {
			expectMeeting(&w, stats, m, c)
		}
	}
	for id, a := range stats {
		w.Stats = append(w.Stats, fmt.Sprintf("%s %d %d %s", id, a.n, int(math.Floor(float64(a.seconds)/60+0.5)), a.last.Format(time.RFC3339)))
	}
	sort.Strings(w.Recordings)
	sort.Strings(w.Links)
	sort.Strings(w.Stats)
	return w
}

type agg struct {
	n       int
	seconds int64
	last    time.Time
}

func expectMeeting(w *Want, stats map[string]*agg, m Meeting, c int) {
	if m.WantPhase == "" {
		return
	}
	start := Start(m, c)
	rec := CopyID(m.Record, c)
	w.Recordings = append(w.Recordings, fmt.Sprintf("%s %s %s %v %d", rec, m.Host, m.WantPhase, m.WantReview, m.Minutes))
	for _, p := range m.People {
		if p.UserID == m.Host || (p.UserID != "" && p.UserID == m.Creator) {
			continue // the host and the assistant who created the meeting are staff
		}
		id := p.UserID
		if id == "" {
			id = roster.GuestID(p.Name) // a guest is one student across meetings, whatever her uuid
		}
		var secs int64
		for _, s := range p.Sessions {
			secs += int64((s[1] - s[0]).Seconds())
		}
		w.Links = append(w.Links, fmt.Sprintf("%s %s %d", rec, id, secs))
		a := stats[id]
		if a == nil {
			a = &agg{}
			stats[id] = a
		}
		a.n++
		a.seconds += secs
		if start.After(a.last) {
			a.last = start
		}
	}
}
