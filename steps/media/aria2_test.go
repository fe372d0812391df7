package media

import (
	"context"
	"strings"
	"testing"
)

func TestAria2RefusesURLThatCouldInjectOptions(t *testing.T) {
	a, err := NewAria2()
	if err != nil {
		t.Fatal(err)
	}
	err = a.Download(context.Background(), "http://127.0.0.1:1/x?sign=s\n  out=../../evil", t.TempDir()+"/f.mp4", nil)
	if err == nil || !strings.Contains(err.Error(), "control characters") {
		t.Errorf("got %v, want a refusal", err)
	}
	if strings.Contains(err.Error(), "sign=") {
		t.Errorf("error shows the URL: %v", err)
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("errorCode=22 URI=https://cos.example.com/a/b.mp4?q-sign=SECRET&x=1 failed")
	if strings.Contains(got, "SECRET") || !strings.Contains(got, "https://cos.example.com/a/b.mp4?…") {
		t.Errorf("redactURLs gave %q", got)
	}
}
