package report

import (
	"fmt"
	"sort"
	"strings"

	"meetpipe/steps/coach"
	"meetpipe/steps/store"
)

// Coaching is the coaching memory as the report shows it: the student board (it opens the page), each
// student's homework and score trend, and the warnings of the pipeline's rules at the report's end.
type Coaching struct {
	Board    []BoardRow
	Warnings []coach.Warning
	Homework []store.HomeworkRow
	Trends   []Trend
}

// BoardRow is one student on the board.
type BoardRow struct {
	coach.StudentView
	Label    string   // name and id
	Scores   string   // the last scored session's criteria, "自我介绍 4 · 表达 3"
	Warnings []string // rule: message
}

// Trend is a student's mean score per scored session of one phase, oldest first.
type Trend struct {
	StudentID, Label, Phase string
	Points                  []float64
	Sessions                []string
}

// Arrow is ↑, ↓ or → for the last step of the trend.
func (t Trend) Arrow() string {
	n := len(t.Points)
	switch {
	case n < 2 || t.Points[n-1] == t.Points[n-2]:
		return "→"
	case t.Points[n-1] > t.Points[n-2]:
		return "↑"
	}
	return "↓"
}

// Text is the trend as "4.0 → 3.5 → 3.0".
func (t Trend) Text() string {
	parts := make([]string, len(t.Points))
	for i, p := range t.Points {
		parts[i] = fmt.Sprintf("%.1f", p)
	}
	return strings.Join(parts, " → ")
}

// BuildCoaching assembles the board from the students' views, the warnings that fired, their homework and
// scores (store.LoadCoachDetail). Students with a warning come first, then by overdue and open homework.
func BuildCoaching(views []coach.StudentView, ws []coach.Warning, hw []store.HomeworkRow, scores []store.ScoreRow) *Coaching {
	c := &Coaching{Warnings: ws, Homework: hw}
	byStudent := map[string][]string{}
	for _, w := range ws {
		byStudent[w.StudentID] = append(byStudent[w.StudentID], w.Rule+"："+w.Message)
	}
	labels := map[string]string{}
	for _, v := range views {
		row := BoardRow{StudentView: v, Label: studentLabel(v.ID, v.Name), Warnings: byStudent[v.ID]}
		labels[v.ID] = row.Label
		crit := make([]string, 0, len(v.LastScores))
		for k := range v.LastScores {
			crit = append(crit, k)
		}
		sort.Strings(crit)
		for i, k := range crit {
			if i > 0 {
				row.Scores += " · "
			}
			row.Scores += fmt.Sprintf("%s %g", k, v.LastScores[k])
		}
		c.Board = append(c.Board, row)
	}
	sort.SliceStable(c.Board, func(i, j int) bool {
		a, b := c.Board[i], c.Board[j]
		if (len(a.Warnings) > 0) != (len(b.Warnings) > 0) {
			return len(a.Warnings) > 0
		}
		if a.OverdueItems != b.OverdueItems {
			return a.OverdueItems > b.OverdueItems
		}
		if a.OpenItems != b.OpenItems {
			return a.OpenItems > b.OpenItems
		}
		return a.ID < b.ID
	})
	// One trend per student and phase: the mean of each scored session, in order.
	type key struct{ student, phase string }
	idx := map[key]int{}
	sums := map[string][2]float64{}
	var order []string
	sess := map[string]store.ScoreRow{}
	for _, s := range scores {
		k := s.StudentID + "\x00" + s.Recording
		if _, ok := sums[k]; !ok {
			order = append(order, k)
			sess[k] = s
		}
		v := sums[k]
		sums[k] = [2]float64{v[0] + s.Score, v[1] + 1}
	}
	for _, k := range order {
		s := sess[k]
		tk := key{s.StudentID, s.Phase}
		i, ok := idx[tk]
		if !ok {
			label := labels[s.StudentID]
			if label == "" {
				label = s.StudentID
			}
			c.Trends = append(c.Trends, Trend{StudentID: s.StudentID, Label: label, Phase: s.Phase})
			i = len(c.Trends) - 1
			idx[tk] = i
		}
		v := sums[k]
		c.Trends[i].Points = append(c.Trends[i].Points, v[0]/v[1])
		c.Trends[i].Sessions = append(c.Trends[i].Sessions, s.Recording)
	}
	for i := range c.Homework {
		if l := labels[c.Homework[i].StudentID]; l != "" {
			c.Homework[i].Student = l
		}
	}
	return c
}

// NewWarnings are the warnings that did not fire at the window's start.
func (c *Coaching) NewWarnings() []coach.Warning {
	var out []coach.Warning
	for _, w := range c.Warnings {
		if w.New {
			out = append(out, w)
		}
	}
	return out
}

// Overdue is the homework open past its due date at the report's end.
func (c *Coaching) Overdue() []store.HomeworkRow {
	var out []store.HomeworkRow
	for _, h := range c.Homework {
		if h.Overdue {
			out = append(out, h)
		}
	}
	return out
}

// coachDigest adds the new warnings and the overdue homework to the digest.
func (r *Report) coachDigest(b *strings.Builder) {
	if r.Coach == nil {
		return
	}
	nw, od := r.Coach.NewWarnings(), r.Coach.Overdue()
	if len(nw) == 0 && len(od) == 0 {
		return
	}
	fmt.Fprintf(b, "> 新预警 <font color=\"warning\">%d</font> · 逾期作业 <font color=\"warning\">%d</font>\n", len(nw), len(od))
	for i, w := range nw {
		if i == 5 {
			fmt.Fprintf(b, "- …另有 %d 条预警\n", len(nw)-5)
			break
		}
		fmt.Fprintf(b, "- 预警 %s（%s）%s：%s\n", w.Student, w.Teacher, w.Rule, firstLine(w.Message, 40))
	}
	for i, h := range od {
		if i == 5 {
			fmt.Fprintf(b, "- …另有 %d 项逾期\n", len(od)-5)
			break
		}
		fmt.Fprintf(b, "- 逾期 %s：%s（截止 %s）\n", h.Student, firstLine(h.Task, 30), h.DueDate)
	}
}

// coachSheets are the workbook's 作业, 评分 and 预警 sheets.
func (r *Report) coachSheets() []sheet {
	if r.Coach == nil {
		return nil
	}
	hw := sheet{name: SheetHomework, head: []string{"学员", "ID", "布置于", "谁做", "作业", "截止", "状态", "关闭于", "逾期"}}
	for _, h := range r.Coach.Homework {
		late := ""
		if h.Overdue {
			late = "是"
		}
		hw.rows = append(hw.rows, []any{h.Student, h.StudentID, h.Assigned.In(r.Loc).Format("2006-01-02"), h.Owner, h.Task,
			h.DueDate, h.Status, h.ClosedIn, late})
	}
	sc := sheet{name: SheetScores, head: []string{"学员", "阶段", "会话数", "均分走势", "最近变化"}}
	for _, t := range r.Coach.Trends {
		sc.rows = append(sc.rows, []any{t.Label, t.Phase, len(t.Points), t.Text(), t.Arrow()})
	}
	wn := sheet{name: SheetWarnings, head: []string{"学员", "ID", "老师", "预警", "说明", "新"}}
	for _, w := range r.Coach.Warnings {
		n := ""
		if w.New {
			n = "是"
		}
		wn.rows = append(wn.rows, []any{w.Student, w.StudentID, w.Teacher, w.Rule, w.Message, n})
	}
	return []sheet{hw, sc, wn}
}
