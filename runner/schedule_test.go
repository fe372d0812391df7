package runner

import (
	"strings"
	"testing"
	"time"
)

func TestScheduleNextAndLoad(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	s := Schedule{At: "03:00", Since: 26 * time.Hour}
	for now, want := range map[time.Time]time.Time{
		time.Date(2026, 12, 3, 2, 59, 0, 0, loc): time.Date(2026, 12, 3, 3, 0, 0, 0, loc),
		time.Date(2026, 12, 3, 3, 0, 0, 0, loc):  time.Date(2026, 12, 3, 3, 0, 0, 0, loc),
		time.Date(2026, 12, 3, 3, 1, 0, 0, loc):  time.Date(2026, 12, 4, 3, 0, 0, 0, loc),
	} {
		if got := s.Next(now); !got.Equal(want) {
			t.Errorf("Next(%s) = %s, want %s", now, got, want)
		}
	}
	reg := testRegistry(&calls{n: map[string]int{}}, nil, nil)
	p, err := LoadBytes("s.yaml", []byte("steps:\n  - uses: nums\n"), LoadOptions{Registry: reg, Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Schedule != DefaultSchedule {
		t.Fatalf("default schedule %+v, want %+v", p.Schedule, DefaultSchedule)
	}
	p, err = LoadBytes("s.yaml", []byte("schedule: {at: \"21:30\", since: 2d}\nsteps:\n  - uses: nums\n"), LoadOptions{Registry: reg, Env: map[string]string{}})
	if err != nil || p.Schedule.At != "21:30" || p.Schedule.Since != 48*time.Hour {
		t.Fatalf("schedule %+v, %v", p.Schedule, err)
	}
	_, err = LoadBytes("s.yaml", []byte("schedule: {at: \"25:00\", when: x}\nsteps:\n  - uses: nums\n"), LoadOptions{Registry: reg, Env: map[string]string{}})
	if err == nil || !strings.Contains(err.Error(), "s.yaml:1:") || !strings.Contains(err.Error(), "not a time of day") || !strings.Contains(err.Error(), `unknown key "when"`) {
		t.Fatalf("bad schedule: %v", err)
	}
}
