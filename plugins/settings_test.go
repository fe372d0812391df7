package plugins

import (
	"strings"
	"testing"
)

// A command beside a run reads a plugin's settings as the step was built with them, and a name the
// manifest does not declare (a setting renamed there) is an error, not an empty value.
func TestSettingsOf(t *testing.T) {
	e := newEngine(t, countingPlugin(t, "", false))
	p, err := e.load(pipeline)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, ok := SettingsOf(p, "p")
	if !ok {
		t.Fatal("the pipeline's plugin step p is not found")
	}
	if v, err := s.String("token"); err != nil || v != "tok-engine-secret-77" {
		t.Errorf("token = %q, %v; want the interpolated value", v, err)
	}
	if _, err := s.String("tokn"); err == nil || !strings.Contains(err.Error(), `declares no setting "tokn"`) {
		t.Errorf("undeclared setting: err = %v", err)
	}
	if _, err := s.String("fail_times"); err == nil || !strings.Contains(err.Error(), "has type int, not string") {
		t.Errorf("int setting read as a string: err = %v", err)
	}
	if _, ok := SettingsOf(p, "wecom_notify"); ok {
		t.Error("a plugin the pipeline does not use is found")
	}
}
