package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// Teachers appear by the name Tencent gave (王老师) with their userid; machines keep reading the userid
// (data-teacher); a teacher without a name keeps the userid alone.
func TestTeachersByName(t *testing.T) {
	d := sample()
	for i := range d.Recordings {
		if d.Recordings[i].Teacher == "teacher_002" {
			d.Recordings[i].TeacherName = "王老师\u3000" // full-width trailing space, as names come
		}
	}
	r := Build(d, nil, Options{Now: t0.Add(10 * 24 * 3600e9)})
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	for _, want := range []string{
		`<tr data-teacher="teacher_002"><td>王老师 (teacher_002)</td>`, // teachers table
		`<tr data-teacher="teacher_001"><td>teacher_001</td>`,
		`data-recording="1004" data-teacher="teacher_002"`, // review queue
		`>王老师</text>`, // chart label: the name alone
	} {
		if !strings.Contains(h, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if len(r.Review) != 1 || r.Review[0].Teacher != "王老师 (teacher_002)" || r.Review[0].TeacherID != "teacher_002" {
		t.Errorf("review %+v", r.Review)
	}
	if !strings.Contains(r.Digest(), "`1004` 王老师 （teacher_002）") { // the digest's markdown escapes brackets
		t.Errorf("digest lacks the name:\n%s", r.Digest())
	}
	var b bytes.Buffer
	if err := r.WriteXLSX(&b); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	teachers, _ := f.GetRows(SheetTeachers)
	for _, row := range teachers[1:] {
		names[row[0]] = true
	}
	if !names["王老师 (teacher_002)"] || !names["teacher_001"] {
		t.Errorf("teachers sheet %q", teachers)
	}
	rev, _ := f.GetRows(SheetReview)
	if len(rev) != 2 || rev[1][2] != "王老师 (teacher_002)" {
		t.Errorf("review sheet %q", rev)
	}
	recs, _ := f.GetRows(SheetRecordings)
	if recs[len(recs)-1][2] != "王老师 (teacher_002)" || recs[1][2] != "teacher_001" {
		t.Errorf("recordings sheet %q", recs)
	}
}
