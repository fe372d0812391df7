package fsx

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:pw@cos.example.com/a/b.mp4?q-sign=SECRET#frag": "https://cos.example.com/a/b.mp4?…",
		"https://cos.example.com/a/b.mp4":                         "https://cos.example.com/a/b.mp4",
		"::not a url?sign=SECRET":                                 "::not a url?…",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(RedactURL(in), "SECRET") || strings.Contains(RedactURL(in), "pw") {
			t.Errorf("RedactURL(%q) keeps a credential", in)
		}
	}
}
