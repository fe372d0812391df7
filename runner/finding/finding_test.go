package finding

import (
	"encoding/json"
	"testing"
)

// The JSON of findings is what `runner doctor --json` and the plugins' check protocol carry: the words and
// keys must not change.
func TestFindingJSON(t *testing.T) {
	for _, tt := range []struct {
		f    Finding
		want string
	}{
		{OK("aria2c", "found"), `{"status":"ok","subject":"aria2c","detail":"found"}`},
		{Warn("clock", "2 s off", "set NTP"), `{"status":"warn","subject":"clock","detail":"2 s off","remedy":"set NTP"}`},
		{Fail("db", "refused", "check DB_USER"), `{"status":"fail","subject":"db","detail":"refused","remedy":"check DB_USER"}`},
		{Configuration("key", "rejected", "check KEY"), `{"status":"fail","subject":"key","detail":"rejected","remedy":"check KEY","config":true}`},
	} {
		b, err := json.Marshal(tt.f)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s, %v; want %s", b, err, tt.want)
		}
	}
}
