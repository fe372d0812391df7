package runner

import (
	"testing"
	"time"
)

// A bound of a duration error reads as it would be written: "from 0s to 1h", never "from  to 1h".
func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 10 * time.Second: "10s", 30 * time.Second: "30s", time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Hour: "1h", 90 * time.Minute: "1h30m", 24 * time.Hour: "24h", 14 * 24 * time.Hour: "14d", 300 * time.Millisecond: "300ms",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
