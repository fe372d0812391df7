package runner

import (
	"strings"
	"testing"
	"time"
)

func TestWhyNamesTheFailingClauseAndItsValues(t *testing.T) {
	x := &exprEnv{
		static: map[string]any{"teachers": []string{"teacher_001", "teacher_002"}, "min_minutes": 5, "words": []string{"面试", "offer"},
			"env": map[string]string{"WECOM_KEY": "secret-key-42"}},
		fields: map[string]any{"host_userid": "", "student_ids": []string{}, "duration_min": 0, "subject": ""},
		now:    time.Now,
	}
	const filter = "host_userid in teachers && len(student_ids) > 0 && duration_min >= min_minutes"
	for _, tc := range []struct {
		name, src string
		fields    Fields
		want      string
	}{
		{"whitelist", filter, Fields{"host_userid": "teacher_999", "student_ids": []string{"stu_chen"}, "duration_min": 40},
			`host_userid "teacher_999" not in teachers`},
		{"no students", filter, Fields{"host_userid": "teacher_001", "student_ids": []string{}, "duration_min": 40},
			`len(student_ids) 0 <= 0`},
		{"too short", filter, Fields{"host_userid": "teacher_001", "student_ids": []string{"stu_li"}, "duration_min": 3},
			`duration_min 3 < min_minutes 5`},
		{"not in", `host_userid not in teachers`, Fields{"host_userid": "teacher_001"},
			`host_userid "teacher_001" in teachers`},
		{"or", `subject contains "模拟面试" || duration_min > 60`, Fields{"subject": "周会", "duration_min": 3},
			`subject "周会" does not contain "模拟面试" and duration_min 3 <= 60`},
		{"call", `duration_min > 1 && hasAny(subject, words)`, Fields{"subject": "周会", "duration_min": 3},
			`hasAny(subject, words) is false (subject "周会", words ["面试","offer"])`},
		{"env values stay unprinted", `env.WECOM_KEY == "other"`, Fields{}, `env.WECOM_KEY != "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := x.compile(&Expr{Source: tc.src}, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			it, err := NewItem("r1", tc.fields)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := p.Bool(it, nil); err != nil || ok {
				t.Fatalf("Bool = %v, %v; want false", ok, err)
			}
			got := p.Why(it, nil)
			if got != tc.want {
				t.Fatalf("Why = %q\nwant  %q", got, tc.want)
			}
			if strings.Contains(got, "secret-key-42") {
				t.Fatalf("an environment value leaked: %q", got)
			}
		})
	}
}

// A dry run stops at the first side-effecting step; what follows is previewed, and a step whose if: is
// false on what the dry run knows must show as skipped, not as would-run.
func TestDryRunPreviewHonoursIf(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
steps:
  - uses: nums
    with: {count: 3}
    filter: n != 1
  - uses: touch
  - uses: double
    if: n > 0
  - uses: sink
    if: file != ""
`)
	_, err, rep := h.run(p, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, b := range strings.Split(rep, "\nrec")[0:] {
		b = strings.TrimPrefix(b, "rec")
		blocks["rec"+b[:3]] = b
	}
	if !strings.Contains(blocks["rec001"], "filter of step nums: n 1 == 1") {
		t.Errorf("rec001 should be filtered with its value:\n%s", rep)
	}
	if !strings.Contains(blocks["rec000"], "double           skip      if false: n 0 <= 0") {
		t.Errorf("rec000: double's if: is false; it must not be would-run:\n%s", blocks["rec000"])
	}
	if !strings.Contains(blocks["rec002"], "double           would-run") {
		t.Errorf("rec002: double's if: is true; it would run:\n%s", blocks["rec002"])
	}
	if !strings.Contains(blocks["rec002"], "sink             may-run") || !strings.Contains(blocks["rec002"], "[file]") {
		t.Errorf("rec002: sink's if: depends on touch's output; it is undecided:\n%s", blocks["rec002"])
	}
	if strings.Count(rep, "would-run") != 3 { // touch ×2, double for rec002
		t.Errorf("want 3 would-run lines:\n%s", rep)
	}
}
