package step

import (
	"strings"
	"testing"
	"time"
)

func TestWhyNamesTheFailingClauseAndItsValues(t *testing.T) {
	x := &Compiler{
		Static: map[string]any{"teachers": []string{"teacher_001", "teacher_002"}, "min_minutes": 5, "words": []string{"面试", "offer"},
			"env": map[string]string{"WECOM_KEY": "secret-key-42"}},
		Fields: map[string]any{"host_userid": "", "student_ids": []string{}, "duration_min": 0, "subject": ""},
		Now:    time.Now,
	}
	const filter = "host_userid in teachers && len(student_ids) > 0 && duration_min >= min_minutes"
	for _, tc := range []struct {
		name, src string
		fields    Fields
		want      string
	}{
		{"whitelist", filter, Fields{"host_userid": "teacher_999", "student_ids": []string{"stu_chen"}, "duration_min": 40}, `host_userid "teacher_999" not in teachers`},
		{"no students", filter, Fields{"host_userid": "teacher_001", "student_ids": []string{}, "duration_min": 40}, `len(student_ids) 0 <= 0`},
		{"too short", filter, Fields{"host_userid": "teacher_001", "student_ids": []string{"stu_li"}, "duration_min": 3}, `duration_min 3 < min_minutes 5`},
		{"not in", `host_userid not in teachers`, Fields{"host_userid": "teacher_001"}, `host_userid "teacher_001" in teachers`},
		{"or", `subject contains "模拟面试" || duration_min > 60`, Fields{"subject": "周会", "duration_min": 3}, `subject "周会" does not contain "模拟面试" and duration_min 3 <= 60`},
		{"call", `duration_min > 1 && hasAny(subject, words)`, Fields{"subject": "周会", "duration_min": 3}, `hasAny(subject, words) is false (subject "周会", words ["面试","offer"])`},
		{"env values stay unprinted", `env.WECOM_KEY == "other"`, Fields{}, `env.WECOM_KEY != "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := x.Compile(&Expr{Source: tc.src}, nil, true)
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
