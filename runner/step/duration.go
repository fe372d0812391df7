package step

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseDuration is time.ParseDuration plus a leading "d" (24h) unit, since windows are counted in days:
// "14d", "1.5d", "1d12h". It is the one duration grammar of pipeline files, `with:` settings included.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if g := daysRE.FindStringSubmatch(s); g != nil {
		days, err := strconv.ParseFloat(g[2], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		d := time.Duration(days * float64(24*time.Hour))
		if g[3] != "" {
			rest, err := time.ParseDuration(g[3])
			if err != nil || rest < 0 || strings.HasPrefix(g[3], "+") {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			d += rest
		}
		if g[1] == "-" {
			d = -d
		}
		return d, nil
	}
	return time.ParseDuration(s)
}

var daysRE = regexp.MustCompile(`^([-+]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)d(.*)$`)
