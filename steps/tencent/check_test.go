package tencent

import (
	"context"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/finding"
	"meetpipe/steps/tencent/emulator"
)

// last returns the finding about the listing call (the first is the rate limits, then the clock).
func last(fs []finding.Finding) finding.Finding { return fs[len(fs)-1] }

func find(fs []finding.Finding, subject string) (finding.Finding, bool) {
	for _, f := range fs {
		if f.Subject == subject {
			return f, true
		}
	}
	return finding.Finding{}, false
}

func noSecrets(t *testing.T, fs []finding.Finding) {
	t.Helper()
	for _, f := range fs {
		if s := f.Subject + f.Detail + f.Remedy; strings.Contains(s, emulator.DefaultSecretKey) || strings.Contains(s, emulator.DefaultSecretID) {
			t.Errorf("finding shows a secret: %+v", f)
		}
	}
}

func TestCheckAccepted(t *testing.T) {
	for _, cc := range []CheckConfig{{Mode: ModeCorp, Operator: "admin"}, {Mode: ModePerTeacher, Teachers: []string{"teacher_wang"}}} {
		s, c := newEnv(t, emulator.Options{})
		fs := c.Check(context.Background(), cc)
		for _, f := range fs {
			if f.Status != finding.StatusOK {
				t.Errorf("%s: %+v", cc.Mode, f)
			}
		}
		if f, ok := find(fs, "clock"); !ok || !strings.Contains(f.Detail, "from the server's Date") {
			t.Errorf("%s: no clock finding in %+v", cc.Mode, fs)
		}
		if n := len(s.Requests("")); n != 1 {
			t.Errorf("%s: %d requests, want one cheap call", cc.Mode, n)
		}
		noSecrets(t, fs)
	}
}

func TestCheckFindings(t *testing.T) {
	corp := CheckConfig{Mode: ModeCorp, Operator: "admin"}
	tests := []struct {
		name     string
		opts     emulator.Options
		tweak    func(*Config)
		cc       CheckConfig
		subject  string // of the failing finding
		inRemedy string
	}{
		{name: "ip not whitelisted", opts: emulator.Options{AllowedIPs: []string{"203.0.113.7"}}, cc: corp,
			subject: "Tencent corp listing as admin: IP whitelist", inRemedy: "add 127.0.0.1 to the app's IP whitelist"},
		{name: "bad AppId", tweak: func(c *Config) { c.EnterpriseID = "999999999" }, cc: corp,
			subject: "Tencent corp listing as admin: AppId/SdkId", inRemedy: "ENTERPRISE_ID"},
		{name: "SdkId expected", opts: emulator.Options{SdkID: "sdk-42"}, cc: corp,
			subject: "Tencent corp listing as admin: AppId/SdkId", inRemedy: "SdkId"},
		{name: "operator not an admin", cc: CheckConfig{Mode: ModeCorp, Operator: "teacher_wang"},
			subject: "Tencent corp listing as teacher_wang: operator rights", inRemedy: "grant teacher_wang (TQM_OPERATOR_ID) 录制管理 rights"},
		{name: "teacher lacks rights", opts: emulator.Options{NoRecordRights: []string{"teacher_li"}},
			cc:      CheckConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_li"}},
			subject: "Tencent per_teacher listing as teacher_li: operator rights", inRemedy: "录制管理"},
		{name: "clock skew", opts: emulator.Options{Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }}, cc: corp,
			subject: "clock", inRemedy: "timedatectl set-ntp true"},
		{name: "wrong secret key", tweak: func(c *Config) { c.SecretKey = "not-the-key" }, cc: corp,
			subject: "Tencent corp listing as admin: signature", inRemedy: "TQM_SECRET_KEY"},
		{name: "unknown operator", cc: CheckConfig{Mode: ModeCorp, Operator: "nobody"},
			subject: "Tencent corp listing as nobody: operator", inRemedy: "not a user of the enterprise"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tweaks []func(*Config)
			if tt.tweak != nil {
				tweaks = append(tweaks, tt.tweak)
			}
			_, c := newEnv(t, tt.opts, tweaks...)
			fs := c.Check(context.Background(), tt.cc)
			f, ok := find(fs, tt.subject)
			if !ok || f.Status != finding.StatusFail || !strings.Contains(f.Remedy, tt.inRemedy) {
				t.Errorf("want a failed %q with %q in its remedy; got %+v", tt.subject, tt.inRemedy, fs)
			}
			noSecrets(t, fs)
		})
	}
}

func TestCheckNamesTheWhitelistIP(t *testing.T) {
	// When the answer names no IP the remedy still says which one to add.
	f := (&Client{}).apiFinding("s", "admin", ModeCorp, &APIError{Status: 400, Code: CodeIPNotWhitelisted, Message: "ip not allowed"})
	if !strings.Contains(f.Remedy, "add this server's egress IP") {
		t.Errorf("%+v", f)
	}
	f = (&Client{}).apiFinding("s", "admin", ModeCorp, &APIError{Status: 400, Code: 190303, NewCode: 200190303, Message: "secret"})
	if !strings.HasSuffix(f.Subject, "AppId/SdkId") {
		t.Errorf("190303: %+v", f)
	}
	f = (&Client{}).apiFinding("s", "admin", ModeCorp, &APIError{Status: 400, Code: 9042})
	if !strings.HasSuffix(f.Subject, "operator rights") {
		t.Errorf("9042: %+v", f)
	}
}

func TestIPIn(t *testing.T) {
	for msg, want := range map[string]string{
		"IP 203.0.113.7 is not in the app's whitelist": "203.0.113.7",
		"ip(2001:db8::1) not allowed":                  "2001:db8::1",
		"refused at 10:30:45, ip not allowed":          "",
		"IP 不在白名单内":                                    "",
	} {
		if got := ipIn(msg); got != want {
			t.Errorf("ipIn(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestCheckRateHeadroom(t *testing.T) {
	if f := rateFinding(CheckConfig{Mode: ModePerTeacher, RequestsPerSecond: 5}); f.Status != finding.StatusOK || !strings.Contains(f.Detail, "300 requests/min configured of the app's 300/min") {
		t.Errorf("%+v", f)
	}
	if f := rateFinding(CheckConfig{Mode: ModePerTeacher, RequestsPerSecond: 10}); f.Status != finding.StatusWarn || !strings.Contains(f.Remedy, "TQM_RPS") {
		t.Errorf("%+v", f)
	}
	if f := rateFinding(CheckConfig{Mode: ModeCorp, RequestsPerSecond: 1, CorpRecordsPerMinute: 20}); f.Status != finding.StatusWarn || !strings.Contains(f.Remedy, "corp_records_per_minute") {
		t.Errorf("%+v", f)
	}
}
