package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/store"

	"github.com/xuri/excelize/v2"
)

// The talk section shows each measured session's shares and each teacher's weekly trend; the workbook
// gets the same columns.
func TestTalkShares(t *testing.T) {
	d := sample()
	d.Talk = []store.ReportTalk{
		{RecordingID: "1002", Teacher: "teacher_001", Phase: "面试模拟", Source: "tencent", Start: t0.Add(48 * time.Hour),
			TeacherShare: 0.7, StudentShare: 0.3, WaitAfterQuestionMS: 1750, TeacherLongestMS: 95000, OffTarget: true},
		{RecordingID: "1001", Teacher: "teacher_001", Phase: "简历优化", Source: "asr", Start: t0,
			TeacherShare: 0.4, StudentShare: 0.6},
		{RecordingID: "1003", Teacher: "teacher_001", Phase: "面试模拟", Source: "asr", Start: t0.Add(8 * 24 * time.Hour),
			TeacherShare: 0.35, StudentShare: 0.65},
	}
	r := Build(d, nil, Options{Now: t0.Add(10 * 24 * time.Hour)})
	if len(r.TalkTrends) != 1 {
		t.Fatalf("trends %+v", r.TalkTrends)
	}
	tr := r.TalkTrends[0]
	if tr.Sessions != 3 || tr.OffCount != 1 || len(tr.Weeks) != 2 || math.Abs(tr.Weeks[0].Student-0.45) > 1e-9 || tr.Weeks[1].Student != 0.65 {
		t.Errorf("trend %+v", tr)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<tr data-talk="1002">`, "70%", "30%", "1.8 s", "95.0 s", "未达标", `data-teacher-talk="teacher_001"`, "45% → "} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	b.Reset()
	if err := r.WriteXLSX(&b); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(SheetTalk)
	if err != nil || len(rows) != 4 || rows[1][0] != "1002" || rows[1][6] != "30%" || rows[1][14] != "是" {
		t.Errorf("talk sheet %v (%v)", rows, err)
	}
}
