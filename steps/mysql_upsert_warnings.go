package steps

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/coach"
	"meetpipe/steps/store"
)

// warningRule is one of mysql_upsert's `warnings:`: a rule over a student's view (coach.StudentView).
type warningRule struct {
	Name    string    `yaml:"name" doc:"the warning's name, as listed"`
	When    step.Expr `yaml:"when" doc:"boolean expression over student (the view) and now()"`
	Message string    `yaml:"message" doc:"what the warning says (Go template over the view's names, e.g. {{.days_since_last}})"`
}

type compiledWarning struct {
	name string
	prog *step.Program
	msg  *template.Template
}

// compileWarnings checks the rules at load, so that a typo is reported at its file:line:col.
func compileWarnings(rules []warningRule, b *step.Build) ([]compiledWarning, error) {
	var out []compiledWarning
	seen := map[string]bool{}
	for i := range rules {
		r := rules[i]
		if strings.TrimSpace(r.Name) == "" || seen[r.Name] {
			return nil, b.ErrorAt(fmt.Sprintf("warnings.%d.name,warnings.%d", i, i), "mysql_upsert: warning %q is unnamed or named twice", r.Name)
		}
		seen[r.Name] = true
		prog, err := b.CompileBool(&rules[i].When, map[string]any{"student": coach.StudentView{}})
		if err != nil {
			return nil, err
		}
		msg, err := template.New(r.Name).Option("missingkey=error").Parse(r.Message)
		if err == nil {
			err = msg.Execute(new(strings.Builder), viewData(coach.StudentView{LastScores: map[string]float64{}}))
		}
		if err != nil {
			return nil, b.ErrorAt(fmt.Sprintf("warnings.%d.message", i), "mysql_upsert: warning %q: message: %v", r.Name, err)
		}
		out = append(out, compiledWarning{name: r.Name, prog: prog, msg: msg})
	}
	return out, nil
}

// viewData is the view under its snake_case names, for message templates.
func viewData(v coach.StudentView) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// evaluate runs the rules over the views; the views are as of the time the pipeline's now() says.
func (s *mysqlUpsert) evaluate(views []coach.StudentView) ([]coach.Warning, error) {
	var out []coach.Warning
	for _, v := range views {
		for _, r := range s.rules {
			ok, err := r.prog.Bool(nil, map[string]any{"student": v})
			if err != nil {
				return nil, fmt.Errorf("warning %s, student %s: %w", r.name, v.ID, err)
			}
			if !ok {
				continue
			}
			var msg strings.Builder
			if err := r.msg.Execute(&msg, viewData(v)); err != nil {
				return nil, fmt.Errorf("warning %s, student %s: message: %w", r.name, v.ID, err)
			}
			name := v.Name
			if name == "" {
				name = v.ID
			}
			out = append(out, coach.Warning{StudentID: v.ID, Student: name, Teacher: v.Teacher, Rule: r.name, Message: msg.String()})
		}
	}
	return out, nil
}

// Warnings evaluates the warning rules of the pipeline's mysql_upsert over the students' views at until
// (the pipeline's now(), loaded with it), and marks as new those that did not fire at since. The views
// are returned too (as of until), for the report's board.
func Warnings(ctx context.Context, p *runner.Pipeline, db *sql.DB, since, until time.Time) ([]coach.StudentView, []coach.Warning, error) {
	impl, ok := p.StepImpl("mysql_upsert")
	up, _ := impl.(*mysqlUpsert)
	views, err := store.StudentViews(ctx, db, until)
	if err != nil {
		return nil, nil, err
	}
	if !ok || up == nil || len(up.rules) == 0 {
		return views, nil, nil
	}
	now, err := up.evaluate(views)
	if err != nil {
		return nil, nil, err
	}
	if since.IsZero() || !since.Before(until) {
		return views, now, nil
	}
	// The rules' now() stays the pipeline's; the earlier views are what the data said at since.
	before, err := store.StudentViews(ctx, db, since)
	if err != nil {
		return nil, nil, err
	}
	then, err := up.evaluate(before)
	if err != nil {
		return nil, nil, err
	}
	old := map[string]bool{}
	for _, w := range then {
		old[w.StudentID+"\x00"+w.Rule] = true
	}
	for i := range now {
		now[i].New = !old[now[i].StudentID+"\x00"+now[i].Rule]
	}
	sort.SliceStable(now, func(i, j int) bool { return now[i].StudentID < now[j].StudentID })
	return views, now, nil
}

// ErrNoWarnings is returned by commands asked for warnings of a pipeline that declares none.
var ErrNoWarnings = errors.New("the pipeline's mysql_upsert declares no warnings:")
