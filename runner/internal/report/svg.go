package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are drawn here, on the server, as inline SVG: the page opens with no network and no script.

// phaseColors are the journey's colours; other phases get the fallbacks in turn.
var phaseColors = map[string]string{
	"简历优化":    "#4e79a7",
	"项目深挖":    "#59a14f",
	"面试模拟":    "#f28e2b",
	"Offer后续": "#b07aa1",
	"其他":      "#9c9c9c",
	"未分类":     "#d4d4d4",
}

var fallbackColors = []string{"#e15759", "#76b7b2", "#edc948", "#ff9da7", "#9c755f"}

// Color is the colour of phase p in this report.
func (r *Report) Color(p string) string {
	if c, ok := phaseColors[p]; ok {
		return c
	}
	n := 0
	for _, q := range r.Phases {
		if _, ok := phaseColors[q]; ok {
			continue
		}
		if q == p {
			return fallbackColors[n%len(fallbackColors)]
		}
		n++
	}
	return "#bab0ac"
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// minChartFont is the smallest font a chart may be scaled to (px): its smallest text is the 11 px tick.
const minChartFont, smallestChartText = 9, 11

// chartBox wraps a chart in a box that scrolls sideways on a narrow screen: the chart scales down with the
// page only as far as its smallest text stays minChartFont px, then the box scrolls, never the page.
func chartBox(svg string, width int) template.HTML {
	minW := (width*minChartFont + smallestChartText - 1) / smallestChartText
	svg = strings.Replace(svg, `<svg class="chart"`, fmt.Sprintf(`<svg class="chart" style="min-width: %dpx"`, minW), 1)
	return template.HTML(`<div class="chart-box">` + svg + `</div>`)
}

type svgBuf struct{ strings.Builder }

func (b *svgBuf) f(format string, args ...any) { fmt.Fprintf(b, format, args...) }

// JourneySVG draws every student as a row: sessions as dots on the window's time line, coloured by phase.
func (r *Report) JourneySVG() template.HTML {
	const left, right, rowH, top = 210, 20, 28, 34
	width := 980
	plot := float64(width - left - right)
	h := top + rowH*max(1, len(r.Students)) + 10
	span := r.Until.Sub(r.Since).Seconds()
	x := func(t time.Time) float64 {
		return float64(left) + plot*math.Max(0, math.Min(1, t.Sub(r.Since).Seconds()/span))
	}
	var b svgBuf
	b.f(`<svg class="chart" id="journey-chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="学员旅程">`, width, h, width, h)
	r.timeAxis(&b, x, top-12, h-6)
	for i, s := range r.Students {
		y := top + rowH*i + rowH/2
		b.f(`<g class="journey" data-student="%s">`, esc(s.ID))
		if i%2 == 0 {
			b.f(`<rect x="0" y="%d" width="%d" height="%d" fill="#f6f7f9"/>`, y-rowH/2, width, rowH)
		}
		label := s.Name
		if label == "" {
			label = s.ID
		}
		b.f(`<text x="8" y="%d" class="label">%s <tspan class="muted">%s</tspan></text>`, y+5, esc(label), esc(short(s.ID, 14)))
		if n := len(s.Journey); n > 1 {
			b.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c8ccd2" stroke-width="2"/>`, x(s.Journey[0].Start), y, x(s.Journey[n-1].Start), y)
		}
		for _, j := range s.Journey {
			b.f(`<circle class="session" data-phase="%s" data-recording="%s" cx="%.1f" cy="%d" r="8" fill="%s" stroke="#fff" `+
				`stroke-width="1.5"><title>%s · %s · %s · %d 分钟 · %s</title></circle>`,
				esc(phaseOr(j.Phase)), esc(j.Recording), x(j.Start), y, r.Color(phaseOr(j.Phase)),
				esc(j.Start.In(r.Loc).Format("01-02 15:04")), esc(phaseOr(j.Phase)), esc(j.Subject), j.Minutes, esc(j.Teacher))
		}
		b.WriteString(`</g>`)
	}
	if len(r.Students) == 0 {
		b.f(`<text x="%d" y="%d" class="muted">窗口内没有学员</text>`, left, top+rowH/2+5)
	}
	b.WriteString(`</svg>`)
	return chartBox(b.String(), width)
}

// timeAxis draws day (or week) ticks over the window.
func (r *Report) timeAxis(b *svgBuf, x func(time.Time) float64, y, bottom int) {
	days := r.Until.Sub(r.Since).Hours() / 24
	step := 1
	switch {
	case days > 120:
		step = 28
	case days > 31:
		step = 7
	case days > 14:
		step = 2
	}
	s := r.Since.In(r.Loc)
	t := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, r.Loc)
	if t.Before(r.Since) {
		t = t.AddDate(0, 0, 1)
	}
	for i := 0; t.Before(r.Until); t, i = t.AddDate(0, 0, 1), i+1 {
		if i%step != 0 {
			continue
		}
		xx := x(t)
		b.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e5e8"/>`, xx, y+4, xx, bottom)
		b.f(`<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, xx, y, t.Format("01-02"))
	}
}

// WeeksSVG is a stacked bar per week: sessions by phase.
func (r *Report) WeeksSVG() template.HTML {
	const left, top, bottom, barMax = 44, 16, 40, 200
	n := max(1, len(r.Weeks))
	width := 980
	slot := float64(width-left-20) / float64(n)
	bw := math.Min(70, slot*0.6)
	most := 1
	for _, w := range r.Weeks {
		most = max(most, w.Total)
	}
	h := top + barMax + bottom
	var b svgBuf
	b.f(`<svg class="chart" id="weeks-chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="每周阶段分布">`, width, h, width, h)
	for _, v := range niceTicks(most) {
		y := float64(top+barMax) - float64(barMax)*float64(v)/float64(most)
		b.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eceef1"/><text x="%d" y="%.1f" class="tick" text-anchor="end">%d</text>`,
			left, y, width-10, y, left-6, y+4, v)
	}
	for i, w := range r.Weeks {
		x := float64(left) + slot*float64(i) + (slot-bw)/2
		y := float64(top + barMax)
		b.f(`<g class="week" data-week="%s" data-total="%d">`, w.Start.Format("2006-01-02"), w.Total)
		for _, p := range r.phasesWith() {
			c := w.ByPhase[p]
			if c == 0 {
				continue
			}
			hh := float64(barMax) * float64(c) / float64(most)
			y -= hh
			b.f(`<rect class="bar" data-phase="%s" data-count="%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">`+
				`<title>%s 起一周 · %s · %d 次</title></rect>`,
				esc(p), c, x, y, bw, hh, r.Color(p), w.Start.Format("01-02"), esc(p), c)
		}
		b.f(`<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s 周</text>`, x+bw/2, top+barMax+18, w.Start.Format("01-02"))
		if w.Total > 0 {
			b.f(`<text x="%.1f" y="%.1f" class="value" text-anchor="middle">%d</text>`, x+bw/2, y-5, w.Total)
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return chartBox(b.String(), width)
}

// TeachersSVG is a horizontal stacked bar per teacher: hours by phase.
func (r *Report) TeachersSVG() template.HTML {
	const left, rowH, top = 150, 30, 10
	width := 980
	plot := float64(width - left - 80)
	most := 1
	for _, t := range r.Teachers {
		most = max(most, t.Minutes)
	}
	h := top + rowH*max(1, len(r.Teachers)) + 10
	var b svgBuf
	b.f(`<svg class="chart" id="teachers-chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="老师课时">`, width, h, width, h)
	for i, t := range r.Teachers {
		y := top + rowH*i
		b.f(`<g class="teacher" data-teacher="%s"><text x="8" y="%d" class="label">%s</text>`, esc(t.ID), y+19, esc(short(t.Short(), 18)))
		x := float64(left)
		for _, p := range r.phasesWith() {
			m := t.MinutesByPhase[p]
			if m == 0 {
				continue
			}
			w := plot * float64(m) / float64(most)
			b.f(`<rect class="bar" data-phase="%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s · %s · %.1f 小时 · %d 次</title></rect>`,
				esc(p), x, y+4, w, rowH-8, r.Color(p), esc(t.Label()), esc(p), float64(m)/60, t.ByPhase[p])
			x += w
		}
		b.f(`<text x="%.1f" y="%d" class="value">%.1f 小时</text></g>`, x+6, y+19, float64(t.Minutes)/60)
	}
	b.WriteString(`</svg>`)
	return chartBox(b.String(), width)
}

// FailuresSVG is a horizontal bar per step: open failures.
func (r *Report) FailuresSVG() template.HTML {
	by := map[string]int{}
	var steps []string
	for _, g := range r.FailuresByStep {
		if by[g.Step] == 0 {
			steps = append(steps, g.Step)
		}
		by[g.Step] += g.Count
	}
	const left, rowH = 150, 26
	width := 980
	most := 1
	for _, n := range by {
		most = max(most, n)
	}
	h := 10 + rowH*max(1, len(steps))
	var b svgBuf
	b.f(`<svg class="chart" id="failures-chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="各步骤失败数">`, width, h, width, h)
	if len(steps) == 0 {
		b.f(`<text x="8" y="24" class="muted">没有未解决的失败</text>`)
	}
	for i, s := range steps {
		y := 5 + rowH*i
		w := float64(width-left-80) * float64(by[s]) / float64(most)
		b.f(`<g class="failure" data-step="%s"><text x="8" y="%d" class="label">%s</text>`+
			`<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" fill="#e15759"/>`+
			`<text x="%.1f" y="%d" class="value">%d</text></g>`,
			esc(s), y+17, esc(s), left, y+4, w, rowH-8, float64(left)+w+6, y+17, by[s])
	}
	b.WriteString(`</svg>`)
	return chartBox(b.String(), width)
}

// phasesWith is the report's phases plus 未分类 when some recording has none.
func (r *Report) phasesWith() []string {
	out := append([]string(nil), r.Phases...)
	for _, rec := range r.Recordings {
		if rec.Phase == "" {
			return append(out, "未分类")
		}
	}
	return out
}

func niceTicks(most int) []int {
	step := 1
	for m := 1; most/step > 5; m *= 10 {
		for _, k := range []int{1, 2, 5} {
			if step = k * m; most/step <= 5 {
				break
			}
		}
	}
	var out []int
	for v := 0; v <= most; v += step {
		out = append(out, v)
	}
	return out
}

func short(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
