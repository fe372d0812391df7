package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed templates/report.html.tmpl templates/coach.html.tmpl
var templates embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"color":     func(p string) string { return phaseColors[p] }, // replaced per report in WriteHTML
	"day":       func(t time.Time) string { return t.Format("2006-01-02") },
	"join":      strings.Join,
	"hours":     func(m int) float64 { return float64(m) / 60 },
	"percent":   func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"seconds":   seconds,
	"age":       age,
	"runStatus": RunStatusLabel,
	"teacher":   teacherLabel,
	"datetime": func(t any) string {
		return ""
	},
	"elapsed": func(a time.Time, b *time.Time) string { return "" },
}).ParseFS(templates, "templates/report.html.tmpl", "templates/coach.html.tmpl"))

// UntilIncl is the window's last day (the window ends at a midnight or at now).
func (r *Report) UntilIncl() time.Time { return r.Until.Add(-time.Nanosecond).In(r.Loc) }

// WriteHTML writes the report as one self-contained page: inline CSS and SVG, no script, no link out.
func (r *Report) WriteHTML(w io.Writer) error {
	t, err := page.Clone()
	if err != nil {
		return err
	}
	t.Funcs(template.FuncMap{
		"color": r.Color,
		"day":   func(t time.Time) string { return t.In(r.Loc).Format("2006-01-02") },
		"datetime": func(v any) string {
			switch t := v.(type) {
			case time.Time:
				return t.In(r.Loc).Format("2006-01-02 15:04")
			case *time.Time:
				if t != nil {
					return t.In(r.Loc).Format("2006-01-02 15:04")
				}
			}
			return "-"
		},
		"elapsed": func(a time.Time, b *time.Time) string {
			if b == nil {
				return "-"
			}
			return b.Sub(a).Round(time.Second).String()
		},
	})
	if err := t.Execute(w, r); err != nil {
		return fmt.Errorf("render the report: %w", err)
	}
	return nil
}

// age is a duration as days and hours.
func age(d time.Duration) string {
	if d < time.Hour {
		return fmt.Sprintf("%d 分钟", int(d.Minutes()))
	}
	if d < 48*time.Hour {
		return fmt.Sprintf("%d 小时", int(d.Hours()))
	}
	return fmt.Sprintf("%d 天", int(d.Hours()/24))
}
