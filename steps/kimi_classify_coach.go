package steps

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/coach"
	"meetpipe/steps/kimi"
	"meetpipe/steps/store"
)

// kimiField is one field of kimi_classify's `extract:`: compiled into the json_schema of the request that
// also gives the phase and the summary.
type kimiField struct {
	Name        string         `yaml:"name" json:"name" doc:"the answer's key"`
	Type        string         `yaml:"type" json:"type" enum:"string,integer,number,boolean,array" doc:"JSON type; an array of objects lists its fields in items"`
	Description string         `yaml:"description" json:"description" doc:"what to extract; shown to the model"`
	Enum        []string       `yaml:"enum" json:"enum,omitempty" doc:"allowed values of a string"`
	Min         *float64       `yaml:"min" min:"-1000000" max:"1000000" json:"min,omitempty" doc:"lowest value of a number"`
	Max         *float64       `yaml:"max" min:"-1000000" max:"1000000" json:"max,omitempty" doc:"highest value of a number"`
	MaxItems    int            `yaml:"max_items" min:"0" max:"1000" json:"max_items,omitempty" doc:"most elements of an array (0: no limit)"`
	Store       string         `yaml:"store" json:"store,omitempty" doc:"the table the checked elements go to: action_items, scorecards or followups (empty: kept in classification.answer only)"`
	Items       []kimiSubField `yaml:"items" json:"items,omitempty" doc:"the fields of each element of an array of objects"`
}

// SettingDetails is what `runner steps kimi_classify` prints under a setting of extract, beyond its doc.
func (kimiField) SettingDetails() map[string]string {
	return map[string]string{
		"store": "action_items: homework (owner, task, due, quote); scorecards: criterion, score, quote; " +
			"followups: id, status, quote, over the open items of earlier sessions.",
	}
}

// kimiSubField is a field of an array's elements.
type kimiSubField struct {
	Name        string   `yaml:"name" json:"name" doc:"the element's key"`
	Type        string   `yaml:"type" json:"type" enum:"string,integer,number,boolean" doc:"JSON type"`
	Description string   `yaml:"description" json:"description" doc:"shown to the model"`
	Enum        []string `yaml:"enum" json:"enum,omitempty" doc:"allowed values of a string"`
	Min         *float64 `yaml:"min" min:"-1000000" max:"1000000" json:"min,omitempty" doc:"lowest value of a number"`
	Max         *float64 `yaml:"max" min:"-1000000" max:"1000000" json:"max,omitempty" doc:"highest value of a number"`
}

// kimiRubric is the scorecard of one phase.
type kimiRubric struct {
	Phase    string          `yaml:"phase" json:"phase" doc:"the phase it scores; one of phases"`
	Criteria []kimiCriterion `yaml:"criteria" json:"criteria" doc:"what is scored"`
}

// kimiCriterion is one line of a rubric or checklist.
type kimiCriterion struct {
	Name        string   `yaml:"name" json:"name" doc:"the criterion as stored in scorecards.criterion"`
	Description string   `yaml:"description" json:"description,omitempty" doc:"what it looks at"`
	Min         float64  `yaml:"min" min:"-1000" max:"1000" json:"min" doc:"lowest score (a checklist: 0)"`
	Max         float64  `yaml:"max" min:"-1000" max:"1000" json:"max" doc:"highest score (a checklist: 1)"`
	Levels      []string `yaml:"levels" json:"levels,omitempty" doc:"what each level means, lowest first (\"1：…\", \"3：…\", \"5：…\")"`
}

// coaching is kimi_classify's extraction: the declared fields, the rubrics, the ledger's open items.
type coaching struct {
	fields  []kimi.Field
	roles   map[string]string // store → field name
	rubrics map[string][]kimiCriterion
	order   []string // phases with a rubric, in the file's order
	ledger  store.Config
	hasDB   bool
	loc     *time.Location

	mu sync.Mutex
	db *sql.DB
}

// storeNeeds are the element fields each store needs, with their types.
var storeNeeds = map[string]map[string]string{
	"action_items": {"owner": "string", "task": "string", "due": "string", "quote": "string"},
	"scorecards":   {"criterion": "string", "score": "number", "quote": "string"},
	"followups":    {"id": "string", "status": "string", "quote": "string"},
}

// newCoaching checks extract, rubrics and ledger_dsn at their positions and compiles them.
func newCoaching(cfg kimiClassifyConfig, cls *kimi.Classifier, b *step.Build) (*coaching, error) {
	fail := func(key, format string, args ...any) (*coaching, error) {
		return nil, b.ErrorAt(key, "kimi_classify: "+format, args...)
	}
	if len(cfg.Extract) == 0 {
		if len(cfg.Rubrics) > 0 {
			return fail("rubrics", "rubrics need a field with store: scorecards in extract")
		}
		return nil, nil
	}
	c := &coaching{roles: map[string]string{}, rubrics: map[string][]kimiCriterion{}}
	tz := cfg.Timezone
	if tz == "" {
		tz = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return fail("timezone", "timezone %q: %v", cfg.Timezone, err)
	}
	c.loc = loc
	for i, r := range cfg.Rubrics {
		at := fmt.Sprintf("rubrics.%d", i)
		p, ok := cls.Phase(r.Phase)
		if !ok {
			return fail(at+".phase", "rubric phase %q is not one of the phases %s", r.Phase, strings.Join(cls.Names(), ", "))
		}
		if _, dup := c.rubrics[p]; dup {
			return fail(at+".phase", "phase %q has two rubrics", p)
		}
		if len(r.Criteria) == 0 {
			return fail(at+".criteria", "rubric of %q has no criteria", p)
		}
		seen := map[string]bool{}
		for j, k := range r.Criteria {
			kat := fmt.Sprintf("%s.criteria.%d", at, j)
			if strings.TrimSpace(k.Name) == "" || seen[k.Name] {
				return fail(kat+".name", "criterion %q is empty or listed twice", k.Name)
			}
			if k.Min >= k.Max {
				return fail(kat+".max", "criterion %q: max %g must be above min %g", k.Name, k.Max, k.Min)
			}
			seen[k.Name] = true
		}
		c.rubrics[p] = r.Criteria
		c.order = append(c.order, p)
	}
	names := map[string]bool{"phase": true, "summary": true, "confidence": true}
	for i, f := range cfg.Extract {
		at := fmt.Sprintf("extract.%d", i)
		if strings.TrimSpace(f.Name) == "" || names[f.Name] {
			return fail(at+".name", "field %q is empty, listed twice or one of phase, summary, confidence", f.Name)
		}
		names[f.Name] = true
		if f.Type != "array" && len(f.Items) > 0 {
			return fail(at+".items", "field %q: items belong to an array", f.Name)
		}
		if err := checkBounds(f.Type, f.Enum, f.Min, f.Max); err != "" {
			return fail(at, "field %q: %s", f.Name, err)
		}
		kf := kimi.Field{Name: f.Name, Type: f.Type, Description: f.Description, Enum: f.Enum, Min: f.Min, Max: f.Max, MaxItems: f.MaxItems}
		sub := map[string]string{}
		for j, it := range f.Items {
			if strings.TrimSpace(it.Name) == "" || sub[it.Name] != "" {
				return fail(fmt.Sprintf("%s.items.%d.name", at, j), "field %q: element field %q is empty or listed twice", f.Name, it.Name)
			}
			if err := checkBounds(it.Type, it.Enum, it.Min, it.Max); err != "" {
				return fail(fmt.Sprintf("%s.items.%d", at, j), "field %s.%s: %s", f.Name, it.Name, err)
			}
			sub[it.Name] = it.Type
			kf.Items = append(kf.Items, kimi.Field{Name: it.Name, Type: it.Type, Description: it.Description, Enum: it.Enum, Min: it.Min, Max: it.Max})
		}
		if f.Store != "" {
			needs, ok := storeNeeds[f.Store]
			if !ok {
				return fail(at+".store", "store %q is not one of action_items, scorecards, followups", f.Store)
			}
			if _, dup := c.roles[f.Store]; dup {
				return fail(at+".store", "two fields are stored in %s", f.Store)
			}
			if f.Type != "array" {
				return fail(at+".type", "field %q stored in %s must be an array", f.Name, f.Store)
			}
			for name, typ := range needs {
				got := sub[name]
				if got == "" || (got != typ && !(typ == "number" && got == "integer")) {
					return fail(at+".items", "field %q stored in %s needs an element field %q of type %s", f.Name, f.Store, name, typ)
				}
			}
			c.roles[f.Store] = f.Name
		}
		c.fields = append(c.fields, kf)
	}
	if len(c.rubrics) > 0 && c.roles["scorecards"] == "" {
		return fail("rubrics", "rubrics need a field with store: scorecards in extract")
	}
	if c.roles["followups"] != "" && strings.TrimSpace(cfg.LedgerDSN) != "" {
		c.ledger, c.hasDB = store.Config{DSN: cfg.LedgerDSN, MaxOpen: 2}, true
		for _, sec := range c.ledger.Secrets() {
			b.Secret(sec)
		}
		if _, err := store.New(c.ledger); err != nil {
			return fail("ledger_dsn", "ledger_dsn: %v", store.Scrub(err, c.ledger.Secrets()...))
		}
	}
	return c, nil
}

func checkBounds(typ string, enum []string, lo, hi *float64) string {
	number := typ == "integer" || typ == "number"
	switch {
	case len(enum) > 0 && typ != "string":
		return "enum belongs to a string"
	case (lo != nil || hi != nil) && !number:
		return "min and max belong to a number"
	case lo != nil && hi != nil && *lo > *hi:
		return fmt.Sprintf("min %g is above max %g", *lo, *hi)
	}
	return ""
}

// extra shapes this item's request: the criteria of the rubrics, the open items of earlier sessions
// (their ids the only valid followups), the range check of scores.
func (c *coaching) extra(ctx context.Context, in *step.Item, decided string) (*kimi.Extra, map[string]coach.OpenItem, error) {
	x := &kimi.Extra{Enums: map[string][]string{}}
	var b strings.Builder
	if sf := c.roles["scorecards"]; sf != "" {
		phases := c.order
		if decided != "" {
			phases = nil
			if _, ok := c.rubrics[decided]; ok {
				phases = []string{decided}
			}
		}
		var crit []string
		for _, p := range phases {
			if b.Len() == 0 {
				b.WriteString("评分表（只按本次会谈所属阶段的评分表逐项打分，每项附原话；阶段没有评分表时 \"" + sf + "\" 输出 []）：\n")
			}
			fmt.Fprintf(&b, "【%s】\n", p)
			for _, k := range c.rubrics[p] {
				fmt.Fprintf(&b, "- %s（%g–%g）", k.Name, k.Min, k.Max)
				if k.Description != "" {
					b.WriteString("：" + k.Description)
				}
				if len(k.Levels) > 0 {
					b.WriteString("；" + strings.Join(k.Levels, "；"))
				}
				b.WriteString("\n")
				if !slices.Contains(crit, k.Name) {
					crit = append(crit, k.Name)
				}
			}
		}
		if len(crit) == 0 {
			x.Omit = append(x.Omit, sf)
		} else {
			x.Enums[sf+".criterion"] = crit
		}
		x.Check = func(a map[string]any) error { return c.checkScores(a, decided) }
	}
	open := map[string]coach.OpenItem{}
	if ff := c.roles["followups"]; ff != "" {
		items, err := c.openItems(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		var ids []string
		for _, it := range items {
			if _, dup := open[it.Key]; dup {
				continue
			}
			open[it.Key] = it
			ids = append(ids, it.Key)
		}
		if len(ids) == 0 {
			x.Omit = append(x.Omit, ff)
		} else {
			x.Enums[ff+".id"] = ids
			fmt.Fprintf(&b, "该学员之前会谈留下、尚未关闭的作业（在 \"%s\" 中逐条给出 id 和本次会谈中是否完成：done 完成、not_done 没完成、dropped 不再需要、not_mentioned 没提到；附原话）：\n", ff)
			for _, id := range ids {
				it := open[id]
				fmt.Fprintf(&b, "- id %s：%s", id, it.Task)
				if it.DueDate != "" {
					fmt.Fprintf(&b, "（截止 %s）", it.DueDate)
				}
				b.WriteString("\n")
			}
		}
	}
	x.Prompt = strings.TrimSuffix(b.String(), "\n")
	return x, open, nil
}

// checkScores holds each score to its criterion's range in the answer's phase.
func (c *coaching) checkScores(a map[string]any, decided string) error {
	phase := decided
	if phase == "" {
		phase, _ = a["phase"].(string)
	}
	list, _ := a[c.roles["scorecards"]].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		k, ok := c.criterion(phase, m)
		if !ok {
			continue
		}
		if v, _ := m["score"].(float64); v < k.Min || v > k.Max {
			return &kimi.RangeError{Msg: fmt.Sprintf("评分项 %q 的分数 %g 超出范围 %g–%g", k.Name, v, k.Min, k.Max)}
		}
	}
	return nil
}

func (c *coaching) criterion(phase string, m map[string]any) (kimiCriterion, bool) {
	name, _ := m["criterion"].(string)
	for _, k := range c.rubrics[phase] {
		if k.Name == strings.TrimSpace(name) {
			return k, true
		}
	}
	return kimiCriterion{}, false
}

// openItems reads the items this session may close from the ledger (none without ledger_dsn).
func (c *coaching) openItems(ctx context.Context, in *step.Item) ([]coach.OpenItem, error) {
	if !c.hasDB || in == nil {
		return nil, nil
	}
	var ids []string
	var start time.Time
	if in.Get("student_ids", &ids) != nil || in.Get("start", &start) != nil || len(ids) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	if c.db == nil {
		db, err := store.Open(ctx, c.ledger)
		if err != nil {
			c.mu.Unlock()
			return nil, c.fail(ctx, err)
		}
		c.db = db
	}
	db := c.db
	c.mu.Unlock()
	items, err := store.OpenItems(ctx, db, in.ID(), ids, start)
	if err != nil {
		// Before the first migration the table is missing: there is nothing to follow up yet.
		if store.MissingTable(err) {
			return nil, nil
		}
		return nil, c.fail(ctx, err)
	}
	return items, nil
}

// fail classifies a ledger error: a server down or a lost connection is retried; a missing database,
// a refused login or grant is the environment's (every item would fail alike): the run stops and the
// recordings stay pending, rather than being classified without their open homework.
func (c *coaching) fail(ctx context.Context, err error) error {
	err = store.Scrub(fmt.Errorf("ledger_dsn: %w", err), c.ledger.Secrets()...)
	switch {
	case step.IsCanceled(ctx, err):
		return err
	case store.Temporary(err):
		return step.Transient(err)
	}
	return step.Environmental(err)
}

func (c *coaching) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == nil {
		return nil
	}
	err := c.db.Close()
	c.db = nil
	return err
}

// finish checks the answer's extraction against the transcript and keeps what holds: an element whose
// quote is not in the transcript is dropped and counted, never stored (coaching-anchors.md §b.2); due
// dates are resolved against the session's day; scores outside the phase's rubric or range are left out.
// The stored answer keeps only the checked elements.
func (c *coaching) finish(ctx context.Context, in *step.Item, tr kimi.Transcript, phase string, open map[string]coach.OpenItem, res *kimi.Classification) {
	ex := &coach.Extraction{Phase: phase, Homework: []coach.Item{}, Scores: []coach.Score{}, Followups: []coach.Followup{}}
	res.Coaching = ex
	if res.Answer == nil || res.Raw != "" {
		return // no valid answer: nothing extracted can be trusted
	}
	var start time.Time
	_ = in.Get("start", &start)
	day := start.In(c.loc)
	quotes := coach.NewQuotes(tr.Text)
	log := step.Logger(ctx)
	keep := func(field string, ok func(m map[string]any, quote string) bool) {
		list, _ := res.Answer[field].([]any)
		kept := []any{}
		for i, e := range list {
			m, _ := e.(map[string]any)
			q, _ := m["quote"].(string)
			if m == nil || !ok(m, strings.TrimSpace(q)) {
				continue
			}
			_ = i
			kept = append(kept, m)
		}
		if field != "" {
			res.Answer[field] = kept
		}
	}
	grounded := func(field string, i int, q string) bool {
		if quotes.Found(q) {
			return true
		}
		ex.Dropped++
		log.InfoContext(ctx, "extracted item dropped: its quote is not in the transcript", "field", field, "index", i)
		return false
	}
	if f := c.roles["action_items"]; f != "" {
		seen := map[string]bool{}
		i := 0
		keep(f, func(m map[string]any, q string) bool {
			i++
			task, _ := m["task"].(string)
			owner, _ := m["owner"].(string)
			if !grounded(f, i-1, q) || strings.TrimSpace(task) == "" || (owner != "teacher" && owner != "student") {
				return false
			}
			it := coach.Item{Key: coach.ItemKey(in.ID(), task), Owner: owner, Task: strings.TrimSpace(task), Evidence: q}
			it.Due, _ = m["due"].(string)
			it.Due = strings.TrimSpace(it.Due)
			if d, ok := coach.ResolveDue(it.Due, day); ok {
				it.DueDate = d.Format(time.DateOnly)
			}
			if seen[it.Key] {
				return false
			}
			seen[it.Key] = true
			m["due_date"], m["key"] = it.DueDate, it.Key
			ex.Homework = append(ex.Homework, it)
			return true
		})
	}
	if f := c.roles["scorecards"]; f != "" {
		seen := map[string]bool{}
		i := 0
		keep(f, func(m map[string]any, q string) bool {
			i++
			k, ok := c.criterion(phase, m)
			if !ok || seen[k.Name] {
				return false
			}
			v, _ := m["score"].(float64)
			if v < k.Min || v > k.Max {
				ex.OutOfRange++
				return false
			}
			if !grounded(f, i-1, q) {
				return false
			}
			seen[k.Name] = true
			ex.Scores = append(ex.Scores, coach.Score{Criterion: k.Name, Score: v, Min: k.Min, Max: k.Max, Evidence: q})
			return true
		})
	}
	if f := c.roles["followups"]; f != "" {
		seen := map[string]bool{}
		i := 0
		keep(f, func(m map[string]any, q string) bool {
			i++
			id, _ := m["id"].(string)
			status, _ := m["status"].(string)
			if _, ok := open[id]; !ok || seen[id] || !slices.Contains(coach.Closing, status) {
				return false
			}
			if !grounded(f, i-1, q) {
				return false
			}
			seen[id] = true
			ex.Followups = append(ex.Followups, coach.Followup{Key: id, Status: status, Evidence: q})
			return true
		})
	}
	log.InfoContext(ctx, "extraction checked", "homework", len(ex.Homework), "scores", len(ex.Scores),
		"followups", len(ex.Followups), "dropped_ungrounded", ex.Dropped, "out_of_range", ex.OutOfRange)
}

// estimateTokens is what the extraction adds to a request: its instructions and schema in the prompt
// (the schema also counts when sent as json_schema), and a few hundred tokens of answer.
func (c *coaching) estimateTokens() (prompt, completion int) {
	b, _ := json.Marshal(c.fields)
	x, _, _ := c.extra(context.Background(), nil, "")
	return kimi.TextTokens(kimi.ExtractText(c.fields)+x.Prompt) + kimi.TextTokens(string(b)), 150 * len(c.fields)
}
