package plugins

import (
	"context"
	"os/exec"
	"reflect"
	"testing"

	"meetpipe/runner/step"
)

// The plugins shipped in this folder.

func TestShippedManifests(t *testing.T) {
	reg := step.NewRegistry()
	if err := Load(".", reg); err != nil {
		t.Fatal(err)
	}
	if got, want := reg.Names(), []string{"tag_subject", "wecom_notify"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}
	w, _ := reg.Lookup("wecom_notify")
	if !w.Spec.SideEffects || w.Spec.Writes[0].Name != "notified" {
		t.Errorf("wecom_notify spec %+v", w.Spec)
	}
	for _, s := range w.Spec.Settings {
		if s.Name == "key" && (!s.Secret || !s.Required) {
			t.Errorf("key must be a required secret: %+v", s)
		}
	}
	tg, _ := reg.Lookup("tag_subject")
	if tg.Spec.SideEffects || !reflect.DeepEqual(tg.Spec.Reads, []string{"subject"}) {
		t.Errorf("tag_subject spec %+v", tg.Spec)
	}
}

func TestTagSubject(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is not installed; run `just deps`")
	}
	tests := []struct {
		name, with, subject string
		want                []string
	}{
		{"mock interview", "", "模拟面试 第3轮", []string{"interview", "mock_interview"}},
		{"resume", "", "简历修改（第二版）", []string{"resume"}},
		{"case-insensitive ASCII", "", "OFFER 沟通与项目复盘", []string{"offer", "project", "review"}},
		{"nothing", "", "周会", []string{}},
		{"own rules", "rules: {系统设计: system_design, Go: go}", "go 并发与系统设计", []string{"go", "system_design"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := buildStep(t, ".", "tag_subject", tt.with)
			out, err := s.Process(context.Background(), item(t, step.Fields{"subject": tt.subject}))
			if err != nil {
				t.Fatal(err)
			}
			var tags []string
			if err := item(t, out).Get("tags", &tags); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tags, tt.want) {
				t.Errorf("tags = %q, want %q", tags, tt.want)
			}
		})
	}
}
