package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"meetpipe/runner/table"

	"github.com/xuri/excelize/v2"
)

// Sheet names of the workbook, in order.
const (
	SheetStudents   = "学员"
	SheetRecordings = "录制"
	SheetTeachers   = "老师"
	SheetReview     = "待复核"
	SheetHomework   = "作业"
	SheetScores     = "评分"
	SheetWarnings   = "预警"
)

// percent and hours are numbers shown with their format (12%, 3.5): a spreadsheet sums and sorts them.
type (
	percent float64
	hours   float64
)

// sheet is a table of the workbook; a cell is a string, a number, percent, hours, or a time (an Excel
// date).
type sheet struct {
	name string
	head []string
	rows [][]any
}

// WriteXLSX writes the report's tables as an Excel workbook, a sheet each, with dates as dates and
// column widths measured in display cells so that Chinese text fits.
func (r *Report) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd hh:mm")})
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	headStyle, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"#EEF1F5"}}})
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	st := styles{date: dateStyle, head: headStyle}
	if st.percent, err = f.NewStyle(&excelize.Style{NumFmt: 9}); err != nil { // built-in 9: 0%
		return fmt.Errorf("xlsx: %w", err)
	}
	if st.hours, err = f.NewStyle(&excelize.Style{CustomNumFmt: ptr("0.0")}); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	for i, s := range r.sheets() {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.name); err != nil {
				return fmt.Errorf("xlsx: %w", err)
			}
		} else if _, err := f.NewSheet(s.name); err != nil {
			return fmt.Errorf("xlsx: sheet %s: %w", s.name, err)
		}
		if err := writeSheet(f, s, st); err != nil {
			return fmt.Errorf("xlsx: sheet %s: %w", s.name, err)
		}
	}
	f.SetActiveSheet(0)
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("xlsx: write: %w", err)
	}
	return nil
}

type styles struct{ date, head, percent, hours int }

func writeSheet(f *excelize.File, s sheet, st styles) error {
	widths := make([]int, len(s.head))
	for c, h := range s.head {
		widths[c] = table.Width(h)
		if err := f.SetCellValue(s.name, cellName(c, 1), h); err != nil {
			return err
		}
	}
	for r, row := range s.rows {
		for c, v := range row {
			ref := cellName(c, r+2)
			switch x := v.(type) {
			case time.Time:
				if x.IsZero() {
					continue
				}
				if err := f.SetCellValue(s.name, ref, x); err != nil {
					return err
				}
				if err := f.SetCellStyle(s.name, ref, ref, st.date); err != nil {
					return err
				}
				widths[c] = max(widths[c], 16)
			case percent, hours:
				style, shown := st.hours, fmt.Sprintf("%.1f", toFloat(x))
				if _, ok := x.(percent); ok {
					style, shown = st.percent, fmt.Sprintf("%.0f%%", toFloat(x)*100)
				}
				if err := f.SetCellFloat(s.name, ref, toFloat(x), -1, 64); err != nil {
					return err
				}
				if err := f.SetCellStyle(s.name, ref, ref, style); err != nil {
					return err
				}
				widths[c] = max(widths[c], table.Width(shown))
			case string:
				// Names from remote APIs carry stray (also full-width) spaces; a filter would split them.
				x = strings.TrimSpace(x)
				if err := f.SetCellValue(s.name, ref, x); err != nil {
					return err
				}
				widths[c] = max(widths[c], table.Width(x))
			default:
				if err := f.SetCellValue(s.name, ref, v); err != nil {
					return err
				}
				widths[c] = max(widths[c], table.Width(fmt.Sprint(v)))
			}
		}
	}
	if len(s.head) > 0 {
		if err := f.SetCellStyle(s.name, "A1", cellName(len(s.head)-1, 1), st.head); err != nil {
			return err
		}
		if err := f.AutoFilter(s.name, "A1:"+cellName(len(s.head)-1, max(1, len(s.rows))+1), nil); err != nil {
			return err
		}
		if err := f.SetPanes(s.name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return err
		}
	}
	for c, wd := range widths {
		col, _ := excelize.ColumnNumberToName(c + 1)
		// Excel's width unit is about one Latin character; a CJK character takes two. Pad a little, cap long text.
		if err := f.SetColWidth(s.name, col, col, float64(min(max(wd, 6), 60))+2); err != nil {
			return err
		}
	}
	return nil
}

// sheets are the workbook's tables. Times are written as the report zone's wall clock: Excel dates
// have no zone.
func (r *Report) sheets() []sheet {
	wall := func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		l := t.In(r.Loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
	}
	students := sheet{name: SheetStudents, head: []string{"学员", "ID", "会话", "分钟", "累计会话", "累计分钟", "最近一次", "距今（天）", "阶段顺序"}}
	for _, s := range r.Students {
		days := any(s.DaysSince)
		if s.DaysSince < 0 {
			days = ""
		}
		students.rows = append(students.rows, []any{s.Name, s.ID, s.Sessions, s.Minutes, s.AllSessions, s.AllMinute,
			wall(s.Last), days, strings.Join(s.Phases(), " → ")})
	}
	recs := sheet{name: SheetRecordings, head: []string{"ID", "开始", "老师", "学员", "主题", "分钟", "阶段", "待复核", "原因", "摘要", "输入 tokens", "输出 tokens"}}
	for _, rec := range r.Recordings {
		var names []string
		for _, a := range rec.Students {
			names = append(names, studentLabel(a.ID, strings.TrimSpace(a.Name)))
		}
		review, reason := "", ""
		if rec.NeedsReview {
			review, reason = "是", rec.ReviewReason
		}
		var in, out any = "", ""
		if rec.Usage.Known {
			in, out = rec.Usage.Prompt, rec.Usage.Completion
		}
		start := rec.Start
		recs.rows = append(recs.rows, []any{rec.ID, wall(&start), teacherLabel(rec.Teacher, rec.TeacherName), strings.Join(names, "、"), rec.Subject,
			rec.Minutes, rec.Phase, review, reason, rec.Summary, in, out})
	}
	teachers := sheet{name: SheetTeachers, head: []string{"老师", "会话", "小时", "学员", "待复核", "最近一次"}}
	for _, p := range r.Phases {
		teachers.head = append(teachers.head, p+" 占比")
	}
	for _, t := range r.Teachers {
		last := t.LastSessionTime
		row := []any{t.Label(), t.Sessions, hours(float64(t.Minutes) / 60), t.Students, t.NeedsReview, wall(&last)}
		for _, p := range r.Phases {
			row = append(row, percent(t.Share(p)))
		}
		teachers.rows = append(teachers.rows, row)
	}
	review := sheet{name: SheetReview, head: []string{"ID", "开始", "老师", "学员", "主题", "阶段", "原因", "重新处理"}}
	for _, it := range r.Review {
		start := it.Start
		review.rows = append(review.rows, []any{it.ID, wall(&start), it.Teacher, strings.Join(it.Students, "、"), it.Subject,
			it.Phase, it.Reason, r.RerunCommand(it)})
	}
	return append([]sheet{students, recs, teachers, review, r.talkSheet(wall)}, r.coachSheets()...)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case percent:
		return float64(x)
	case hours:
		return float64(x)
	}
	return 0
}

func cellName(col, row int) string {
	s, _ := excelize.CoordinatesToCellName(col+1, row)
	return s
}

func ptr[T any](v T) *T { return &v }
