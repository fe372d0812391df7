package report

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"meetpipe/steps/store"

	"github.com/xuri/excelize/v2"
)

var t0 = time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC) // 10:00 in Beijing

func tp(t time.Time) *time.Time { return &t }

// sample is a small window: 李同学's journey crosses three phases, one recording waits for review.
func sample() *store.ReportData {
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	recs := []store.ReportRecording{
		{ID: "1001", Subject: "简历修改 1v1", Teacher: "teacher_001", Start: day(0), Minutes: 45, Phase: "简历优化",
			Students: []store.ReportAttendee{{ID: "stu_li", Name: "李同学", Minutes: 43}},
			Usage:    store.Usage{Known: true, Prompt: 2000, Completion: 400, Total: 2400}},
		{ID: "1002", Subject: "项目讨论", Teacher: "teacher_001", Start: day(2), Minutes: 60, Phase: "项目深挖",
			Students: []store.ReportAttendee{{ID: "stu_li", Name: "李同学", Minutes: 60}, {ID: "ext:WMzhao7", Name: "赵同学", Minutes: 55}},
			Usage:    store.Usage{Known: true, Prompt: 3000, Completion: 500, Cached: 1000, Total: 3500}},
		{ID: "1003", Subject: "周五沟通", Teacher: "teacher_002", Start: day(8), Minutes: 30, Phase: "Offer后续",
			Students: []store.ReportAttendee{{ID: "stu_li", Name: "李同学", Minutes: 30}}},
		{ID: "1004", Subject: "快速答疑", Teacher: "teacher_002", Start: day(9), Minutes: 8, Phase: "其他",
			NeedsReview: true, ReviewReason: "too-short",
			Students: []store.ReportAttendee{{ID: "stu_zhou", Name: "周同学", Minutes: 8}}},
	}
	return &store.ReportData{Since: t0.Add(-2 * time.Hour), Until: day(10), Recordings: recs,
		Students: []store.ReportStudent{
			{ID: "ext:WMzhao7", Name: "赵同学", AllSessions: 1, AllMinutes: 55, FirstSession: tp(day(2)), LastSession: tp(day(2)),
				WindowSessions: 1, WindowMinutes: 55, WindowRecordings: []string{"1002"}},
			{ID: "stu_li", Name: "李同学", AllSessions: 5, AllMinutes: 300, FirstSession: tp(day(-40)), LastSession: tp(day(8)),
				WindowSessions: 3, WindowMinutes: 133, WindowRecordings: []string{"1001", "1002", "1003"}},
			{ID: "stu_zhou", Name: "周同学", AllSessions: 1, AllMinutes: 8, FirstSession: tp(day(9)), LastSession: tp(day(9)),
				WindowSessions: 1, WindowMinutes: 8, WindowRecordings: []string{"1004"}},
		},
		Failures: []store.FailureRow{
			{Item: "1005", Step: "kimi_asr", Kind: "permanent", Error: "413 audio too large\ndetails"},
			{Item: "1006", Step: "kimi_asr", Kind: "permanent", Error: "413 audio too large"},
		},
		Runs: []store.RunRow{{ID: "20261112T030000-ab", Pipeline: "meeting", Status: "failed", Started: day(10), Items: 6, Done: 4, Failed: 2}},
	}
}

func build() *Report {
	return Build(sample(), []Pending{{ID: "1007", Reason: "not ready: 转码中", FirstSeen: t0.Add(24 * time.Hour)}},
		Options{Now: t0.Add(10 * 24 * time.Hour), Prices: Prices{Known: true, Input: 4, Output: 16, CachedInput: 1, Currency: "元"}})
}

func TestBuild(t *testing.T) {
	r := build()
	if r.Students[0].ID != "stu_li" || strings.Join(r.Students[0].Phases(), ",") != "简历优化,项目深挖,Offer后续" {
		t.Errorf("most active student first with the journey in order: %+v", r.Students[0])
	}
	if li := r.Students[0]; li.DaysSince != 2 || li.New {
		t.Errorf("stu_li days since %d new %v; want 2, old student", li.DaysSince, li.New)
	}
	if r.NewStudents != 2 {
		t.Errorf("new students = %d, want 2 (赵, 周)", r.NewStudents)
	}
	if len(r.Weeks) != 2 || r.Weeks[0].Total != 2 || r.Weeks[1].Total != 2 || r.Weeks[0].ByPhase["项目深挖"] != 1 {
		t.Errorf("weeks = %+v", r.Weeks)
	}
	if len(r.Teachers) != 2 || r.Teachers[0].ID != "teacher_001" || r.Teachers[0].Minutes != 105 || r.Teachers[0].Students != 2 ||
		r.Teachers[1].Share("其他") != 0.5 {
		t.Errorf("teachers = %+v", r.Teachers)
	}
	if len(r.Review) != 1 || r.Review[0].ID != "1004" || r.Review[0].Students[0] != "周同学 (stu_zhou)" {
		t.Errorf("review = %+v", r.Review)
	}
	if len(r.FailuresByStep) != 1 || r.FailuresByStep[0].Count != 2 || r.FailuresByStep[0].Reason != "413 audio too large" {
		t.Errorf("failures are grouped by step and first line: %+v", r.FailuresByStep)
	}
	sp := r.Spend
	// (2000+3000-1000)·4 + 1000·1 + 900·16 per million
	if sp.AudioMinutes != 143 || sp.WithUsage != 2 || sp.WithoutUsage != 2 || !sp.MoneyKnown || sp.Money < 0.0313 || sp.Money > 0.0315 {
		t.Errorf("spend = %+v", sp)
	}
	if r.Pending[0].Age != 9*24*time.Hour {
		t.Errorf("pending age = %v", r.Pending[0].Age)
	}
	if unpriced := Build(sample(), nil, Options{}); unpriced.Spend.MoneyKnown {
		t.Errorf("no prices configured: money must be unknown")
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := build().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the page refers outside itself (%q)", bad)
		}
	}
	if m := regexp.MustCompile(`https?://`).FindString(page); m != "" {
		t.Errorf("the page holds an address: %q", m)
	}
	for _, want := range []string{`id="journey-chart"`, `id="weeks-chart"`, `id="teachers-chart"`, `data-student="stu_li"`,
		`data-phase="项目深挖"`, `<span class="id">1004</span>`, "too-short", "runner run pipelines/meeting.yaml --only ID",
		"约 0.0314 元", "not ready: 转码中", "9 天",
		"runner run pipelines/meeting.yaml --since 2026-11-11T09:00:00+08:00 --until 2026-11-12T10:00:00+08:00 --only 1004"} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestXLSXRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := build().WriteXLSX(&b); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.GetSheetList(), ","); got != "学员,录制,老师,待复核,说话" {
		t.Fatalf("sheets = %s", got)
	}
	rows, err := f.GetRows(SheetStudents)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[1][0] != "李同学" || rows[1][1] != "stu_li" || rows[1][8] != "简历优化 → 项目深挖 → Offer后续" {
		t.Fatalf("students sheet = %q", rows)
	}
	// The last session is a date cell: a serial number underneath, shown as a Beijing date.
	if v, _ := f.GetCellValue(SheetStudents, "G2"); v != "2026-11-10 10:00" {
		t.Errorf("G2 shows %q, want the Beijing wall clock 2026-11-10 10:00", v)
	}
	raw, _ := f.GetCellValue(SheetStudents, "G2", excelize.Options{RawCellValue: true})
	if _, err := time.Parse("2006", raw); err == nil || !regexp.MustCompile(`^4\d{4}(\.\d+)?$`).MatchString(raw) {
		t.Errorf("G2 is stored as %q, not as an Excel date serial", raw)
	}
	if typ, _ := f.GetCellType(SheetStudents, "C2"); typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
		t.Errorf("session counts must be numbers, C2 is %v", typ)
	}
	// Widths fit the Chinese text: the journey column is wider than its 16-cell content.
	if w, _ := f.GetColWidth(SheetStudents, "I"); w < 29 {
		t.Errorf("column I width %.1f is too narrow for 简历优化 → 项目深挖 → Offer后续 (29 cells)", w)
	}
	if w, _ := f.GetColWidth(SheetStudents, "A"); w < 8 {
		t.Errorf("column A width %.1f", w)
	}
	rev, _ := f.GetRows(SheetReview)
	if len(rev) != 2 || rev[1][0] != "1004" || rev[1][6] != "过短 (too-short)" || rev[1][7] != "runner run pipelines/meeting.yaml --since 2026-11-11T09:00:00+08:00 --until 2026-11-12T10:00:00+08:00 --only 1004" {
		t.Errorf("review sheet = %q", rev)
	}
	recs, _ := f.GetRows(SheetRecordings)
	if len(recs) != 5 || recs[2][3] != "李同学 (stu_li)、赵同学 (ext:WMzhao7)" || recs[1][10] != "2000" || len(recs[3]) > 10 {
		t.Errorf("recordings sheet (unknown tokens stay empty) = %q", recs)
	}
}

// Shares and hours are numbers with a display format, every sheet has a filter and a frozen header row,
// and names lose stray (also full-width) spaces.
func TestXLSXCellTypes(t *testing.T) {
	r := build()
	r.Students[0].Name = " " + r.Students[0].Name + "\u3000"
	var b bytes.Buffer
	if err := r.WriteXLSX(&b); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head, _ := f.GetRows(SheetTeachers)
	if len(head) < 2 || head[0][2] != "小时" || !strings.HasSuffix(head[0][6], "占比") {
		t.Fatalf("teachers sheet = %q", head)
	}
	for _, c := range []struct{ ref, shownLike string }{{"C2", `^\d+\.\d$`}, {"G2", `^\d+%$`}} {
		typ, _ := f.GetCellType(SheetTeachers, c.ref)
		raw, _ := f.GetCellValue(SheetTeachers, c.ref, excelize.Options{RawCellValue: true})
		shown, _ := f.GetCellValue(SheetTeachers, c.ref)
		if typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString || strings.HasSuffix(raw, "%") {
			t.Errorf("%s is text (%v %q), want a number", c.ref, typ, raw)
		}
		if !regexp.MustCompile(c.shownLike).MatchString(shown) {
			t.Errorf("%s shows %q, want like %s (raw %q)", c.ref, shown, c.shownLike, raw)
		}
	}
	filters := map[string]bool{}
	for _, d := range f.GetDefinedName() {
		if d.Name == "_xlnm._FilterDatabase" {
			filters[d.Scope] = true
		}
	}
	for _, s := range f.GetSheetList() {
		if !filters[s] {
			t.Errorf("sheet %s has no filter", s)
		}
		if p, err := f.GetPanes(s); err != nil || !p.Freeze || p.YSplit != 1 {
			t.Errorf("sheet %s: header row not frozen (%+v, %v)", s, p, err)
		}
	}
	if v, _ := f.GetCellValue(SheetStudents, "A2"); v != strings.TrimSpace(r.Students[0].Name) || strings.ContainsRune(v, '\u3000') {
		t.Errorf("A2 = %q, want the name trimmed", v)
	}
}

// Reasons read in Chinese with the code kept; a run that stored 84 of 85 is partly failed, not failed.
func TestLabels(t *testing.T) {
	for in, want := range map[string]string{
		"too-short":             "过短 (too-short)",
		"transcoding (state 2)": "转码中 (transcoding (state 2))",
		"not ready: 转码中":        "not ready: 转码中",
		"subject-resume":        "subject-resume",
	} {
		if got := ReasonLabel(in); got != want {
			t.Errorf("ReasonLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		row  store.RunRow
		want string
	}{
		{store.RunRow{Status: "failed", Items: 85, Done: 84, Failed: 1}, "部分失败 (partly failed)"},
		{store.RunRow{Status: "failed", Items: 85, Failed: 85}, "失败 (failed)"},
		{store.RunRow{Status: "ok", Items: 3, Done: 3}, "成功 (ok)"},
	} {
		if got := RunStatusLabel(c.row); got != c.want {
			t.Errorf("RunStatusLabel(%+v) = %q, want %q", c.row, got, c.want)
		}
	}
	r := build()
	r.Runs = []store.RunRow{{ID: "run-1", Status: "failed", Items: 85, Done: 84, Failed: 1}}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(b.String())
	for _, want := range []string{"过短 (too-short)", "部分失败 (partly failed)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
