package tencent

import (
	"context"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/finding"
	"meetpipe/steps/tencent/emulator"
)

// The doctor looks every whitelisted userid up and fails naming the ones Tencent does not know, with the
// nearest host or creator a recent listing showed.
func TestCheckNamesUnknownTeacher(t *testing.T) {
	for _, cc := range []CheckConfig{
		{Mode: ModeCorp, Operator: "admin", Whitelist: []string{"teacher_wang", "teacher_1i", "ｔｅａｃｈｅｒ_ｌｉ", "nobody_at_all"}},
		{Mode: ModePerTeacher, Teachers: []string{"teacher_wang", "teacher_li", "teacher_1i"}, Whitelist: []string{"teacher_wang", "teacher_1i"}},
	} {
		at := func() time.Time { return base.Add(12 * time.Hour) } // the fixture's day: its recordings are recent
		s, c := newEnv(t, emulator.Options{Now: at})
		c.now = at
		fs := c.Check(context.Background(), cc)
		f, ok := find(fs, "teacher whitelist")
		if !ok || f.Status != finding.StatusFail {
			t.Fatalf("%s: findings %+v: want the whitelist to fail", cc.Mode, fs)
		}
		if !strings.Contains(f.Detail, `"teacher_1i" (did you mean "teacher_li"?)`) {
			t.Errorf("%s: %q: want teacher_1i named with a did-you-mean", cc.Mode, f.Detail)
		}
		if strings.Contains(f.Detail, `"teacher_wang"`) {
			t.Errorf("%s: a known teacher named: %q", cc.Mode, f.Detail)
		}
		if cc.Mode == ModeCorp && (!strings.Contains(f.Detail, `"ｔｅａｃｈｅｒ_ｌｉ" (did you mean "teacher_li"?)`) || !strings.Contains(f.Detail, `"nobody_at_all"`) || strings.Contains(f.Detail, `"nobody_at_all" (did`)) {
			t.Errorf("corp: %q: want the full-width one matched and nobody_at_all named without a guess", f.Detail)
		}
		if n := s.Count(emulator.EndpointUser); n != len(cc.Whitelist) {
			t.Errorf("%s: %d user look-ups, want one per whitelisted teacher", cc.Mode, n)
		}
		noSecrets(t, fs)
	}
}

func TestCheckWhitelistKnown(t *testing.T) {
	_, c := newEnv(t, emulator.Options{})
	fs := c.Check(context.Background(), CheckConfig{Mode: ModeCorp, Operator: "admin", Whitelist: []string{"teacher_wang", "teacher_li"}})
	if f, ok := find(fs, "teacher whitelist"); !ok || f.Status != finding.StatusOK {
		t.Errorf("findings %+v", fs)
	}
}

// The probe sends no SdkId header when none was configured (1095/43704), and one when it was.
func TestProbeOmitsEmptySdkID(t *testing.T) {
	s, c := newEnv(t, emulator.Options{})
	c.Check(context.Background(), CheckConfig{Mode: ModeCorp, Operator: "admin"})
	for _, r := range s.Requests("") {
		if _, ok := r.Header["Sdkid"]; ok {
			t.Errorf("%s sent an SdkId header %q", r.URI, r.Header.Get("SdkId"))
		}
	}
	s, c = newEnv(t, emulator.Options{SdkID: "sdk-1"}, func(cfg *Config) { cfg.SdkID = "sdk-1" })
	if fs := c.Check(context.Background(), CheckConfig{Mode: ModeCorp, Operator: "admin"}); last(fs).Status != finding.StatusOK {
		t.Errorf("with an SdkId: %+v", fs)
	}
	for _, r := range s.Requests("") {
		if r.Header.Get("SdkId") != "sdk-1" {
			t.Errorf("%s: SdkId %q", r.URI, r.Header.Get("SdkId"))
		}
	}
}

// With no requests_per_second configured the doctor prints the client's own default: 240/min.
func TestRateFindingDefault(t *testing.T) {
	if f := rateFinding(CheckConfig{Mode: ModePerTeacher}); !strings.Contains(f.Detail, "240 requests/min configured of the app's 300/min") {
		t.Errorf("%+v", f)
	}
}

func TestDidYouMean(t *testing.T) {
	seen := []string{"teacher_001", "teacher_002", "Zhou.Laoshi"}
	for in, want := range map[string]string{"teacher_01": "teacher_001", "Teacher_002 ": "teacher_002", "zhou.laoshi": "Zhou.Laoshi", "sales": "", "teacher_001": ""} {
		if got := didYouMean(in, seen); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", in, got, want)
		}
	}
}
