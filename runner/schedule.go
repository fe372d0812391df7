package runner

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Schedule is the daily catch-up run of a long-running host (`runner serve`): at At (local time, HH:MM)
// it runs the window Since back from then, as the nightly timer did. Pushed items arrive in between.
type Schedule struct {
	At    string        // HH:MM, local time
	Since time.Duration // the window of the catch-up run
}

// DefaultSchedule is the nightly job: 03:00, the Python pipeline's cron time, with --since 26h.
var DefaultSchedule = Schedule{At: "03:00", Since: 26 * time.Hour}

var scheduleKeys = []string{"at", "since"}

func (d *decoder) schedule(n *yaml.Node) Schedule {
	s := DefaultSchedule
	d.fields(n, "schedule", scheduleKeys, func(key string, _, v *yaml.Node) {
		switch key {
		case "at":
			at := d.str(v, "schedule.at")
			if _, err := s.next(at, time.Now()); err != nil {
				d.errorf(v, "schedule.at: %v", err)
				return
			}
			s.At = at
		case "since":
			s.Since = d.duration(v, "schedule.since", time.Hour, 31*24*time.Hour)
		}
	})
	return s
}

// Next is the first time at or after now when the schedule runs.
func (s Schedule) Next(now time.Time) time.Time {
	t, err := s.next(s.At, now)
	if err != nil {
		t, _ = s.next(DefaultSchedule.At, now)
	}
	return t
}

func (Schedule) next(at string, now time.Time) (time.Time, error) {
	var h, m int
	if n, err := fmt.Sscanf(at, "%d:%d", &h, &m); err != nil || n != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return time.Time{}, fmt.Errorf("%q is not a time of day (HH:MM, e.g. 03:00)", at)
	}
	t := time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, now.Location())
	if t.Before(now) {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}
