package report

import (
	"strings"
	"testing"
	"time"

	"meetpipe/steps/coach"
	"meetpipe/steps/store"
)

// The digest lists the new warnings and the overdue homework, not the warnings that were already firing.
func TestDigestListsNewWarningsAndOverdueHomework(t *testing.T) {
	r := build()
	views := []coach.StudentView{
		{ID: "S001", Name: "李同学", Teacher: "王老师", Phase: "面试模拟", OverdueItems: 1, OpenItems: 1, LastScores: map[string]float64{"表达": 3, "自我介绍": 4}},
		{ID: "S002", Name: "韩梅梅", Teacher: "赵老师", Phase: "项目深挖"},
	}
	ws := []coach.Warning{
		{StudentID: "S001", Student: "李同学", Teacher: "王老师", Rule: "作业逾期", Message: "1 项作业逾期", New: true},
		{StudentID: "S002", Student: "韩梅梅", Teacher: "赵老师", Rule: "阶段停滞", Message: "在「项目深挖」已连续 4 次"},
	}
	hw := []store.HomeworkRow{
		{StudentID: "S001", Task: "写 STAR 项目经历", DueDate: "2026-11-10", Status: "open", Overdue: true, Assigned: time.Now()},
		{StudentID: "S002", Task: "画架构图", DueDate: "2026-12-05", Status: "open", Assigned: time.Now()},
	}
	r.Coach = BuildCoaching(views, ws, hw, nil)
	d := r.Digest()
	for _, want := range []string{"新预警 <font color=\"warning\">1</font>", "逾期作业 <font color=\"warning\">1</font>",
		"预警 李同学（王老师）作业逾期", "逾期 李同学 (S001)：写 STAR 项目经历（截止 2026-11-10）"} {
		if !strings.Contains(d, want) {
			t.Errorf("digest lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "阶段停滞") || strings.Contains(d, "画架构图") {
		t.Errorf("digest lists an old warning or homework not overdue:\n%s", d)
	}
	if b := r.Coach.Board; len(b) != 2 || b[0].ID != "S001" || b[0].Scores != "自我介绍 4 · 表达 3" && b[0].Scores != "表达 3 · 自我介绍 4" {
		t.Errorf("board = %+v, want 李同学 first (a warning, overdue homework) with her scores", b)
	}
}
