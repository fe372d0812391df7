package kimi

import (
	"strings"
	"testing"
)

// A key refused by one Moonshot platform is usually a key of the other: the remedy names its base URL.
func TestKeyRemedyNamesTheOtherPlatform(t *testing.T) {
	if r := keyRemedy("https://api.moonshot.cn/v1"); !strings.Contains(r, "KIMI_BASE_URL=https://api.moonshot.ai/v1") {
		t.Errorf("cn: %s", r)
	}
	if r := keyRemedy("https://api.moonshot.ai/v1"); !strings.Contains(r, "KIMI_BASE_URL=https://api.moonshot.cn/v1") {
		t.Errorf("ai: %s", r)
	}
}
