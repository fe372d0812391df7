package kimi

import "testing"

// A refusal met by several requests sent before it was learned is learned (and logged) once, and a stale
// request does not set back what was learned after it was sent.
func TestHealerLearnsEachAdjustmentOnce(t *testing.T) {
	one := 1.0
	p0 := Params{Temperature: &one, Thinking: "disabled", MaxField: "max_completion_tokens", Format: "json_object"}
	noTemp := p0
	noTemp.Temperature = nil
	noThinking := noTemp
	noThinking.Thinking = ""
	var h Healer
	if !h.Learn("m", p0, noTemp) {
		t.Fatal("the first refusal was not learned")
	}
	if !h.Learn("m", noTemp, noThinking) {
		t.Fatal("the second refusal was not learned")
	}
	for i := range 20 { // the other requests in flight, sent with p0, meet the first refusal again
		if h.Learn("m", p0, noTemp) {
			t.Fatalf("request %d learned the temperature again", i)
		}
	}
	if got := h.Params("m", p0); !equalParams(got, noThinking) {
		t.Fatalf("learned %+v, want %+v", got, noThinking)
	}
	if h.Learn("m", noThinking, noThinking) {
		t.Fatal("no change was counted as learned")
	}
}
