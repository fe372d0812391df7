package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meetpipe/runner/internal/logging"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
)

const piiText = "我的电话是138 0013 8000，身份证110101199001010015"

// phoneLeak is what piiText's phone number holds unredacted. A shorter part ("0013") also turns up in a
// timestamp's nanoseconds, which failed the leak checks now and then.
const phoneLeak = "0013 8000"

// privacyHarness adds a step that writes a transcript with personal numbers (and logs it, as a careless
// step might) and a "model" step that records every transcript it is given.
func privacyHarness(t *testing.T) (*harness, *[]string) {
	h := newHarness(t)
	var mu sync.Mutex
	var seen []string
	h.reg.Register(step.Define(step.Spec{Name: "speak", Version: "1", Reads: []string{"n"}, Writes: []step.Field{{Name: "transcript", Sample: map[string]any{}}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			h.calls.inc("speak")
			step.Logger(ctx).Info("heard", "text", piiText)
			return step.Fields{"transcript": map[string]any{"text": piiText, "segments": []map[string]any{{"start": 0, "text": piiText}}}}, nil
		}), nil
	}))
	h.reg.Register(step.Define(step.Spec{Name: "model", Version: "1", SideEffects: true, Reads: []string{"transcript"}, Writes: []step.Field{{Name: "summary", Sample: ""}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			mu.Lock()
			seen = append(seen, string(in.Raw("transcript")))
			mu.Unlock()
			// The model repeats a number from the text, as a summary might.
			return step.Fields{"summary": "学生留了电话 13800138000"}, nil
		}), nil
	}))
	return h, &seen
}

const privacyPipeline = `
redact:
  fields: [transcript, summary]
  patterns:
    - {name: cn_id, match: '\d{17}[\dXx]', validate: cn_id, replace: '[身份证号]'}
    - {name: mobile, match: '1[3-9]\d{9}', replace: '[手机号]'}
steps:
  - uses: nums
    with: {count: 2}
  - uses: speak
  - uses: model
`

func TestRedactionAtTheDoor(t *testing.T) {
	h, seen := privacyHarness(t)
	p := h.load(privacyPipeline)
	var logs bytes.Buffer
	log, _, err := logging.NewLogger(logging.LogOptions{Out: &logs, Format: "json", Secrets: p.Secrets})
	if err != nil {
		t.Fatal(err)
	}
	if _, err, _ := h.run(p, RunOptions{Logger: log}); err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 2 {
		t.Fatalf("model saw %d transcripts", len(*seen))
	}
	for _, s := range *seen {
		if !strings.Contains(s, "[手机号]") || !strings.Contains(s, "[身份证号]") || strings.Contains(s, phoneLeak) {
			t.Fatalf("the model was given %s", s)
		}
	}
	for _, leak := range []string{phoneLeak, "138 0013", "110101199001010015", "13800138000"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log holds %q:\n%s", leak, logs.String())
		}
		filepath.Walk(h.dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(leak)) {
					t.Errorf("%s holds %q: %s", path, leak, b)
				}
			}
			return err
		})
	}
	ro, err := state.Open(h.dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rec, err := ro.Record("rec000", "model")
	if err != nil || rec == nil {
		t.Fatal(rec, err)
	}
	var counts map[string]map[string]int
	if err := json.Unmarshal(rec.Output[step.RedactionsField], &counts); err != nil {
		t.Fatalf("model record: %s: %v", rec.Output[step.RedactionsField], err)
	}
	// Counts of the item: the transcript's (two strings, each with both numbers) and the summary's.
	want := map[string]map[string]int{"transcript": {"mobile": 2, "cn_id": 2}, "summary": {"mobile": 1}}
	if g, _ := json.Marshal(counts); string(g) != mustJSON(want) {
		t.Fatalf("counts %s, want %s", g, mustJSON(want))
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// A memo written before redaction was turned on is redacted when served, and rewritten.
func TestRedactionOfAnOldMemo(t *testing.T) {
	h, seen := privacyHarness(t)
	plain := strings.Replace(privacyPipeline, "redact:", "x_redact:", 1)
	plain = plain[strings.Index(plain, "steps:"):]
	if _, err, _ := h.run(h.load(plain), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	*seen = nil
	p := h.load(strings.Replace(privacyPipeline, "- uses: model", "- uses: model\n    with: {}", 1))
	if _, err, _ := h.run(p, RunOptions{Force: []string{"model"}}); err != nil {
		t.Fatal(err)
	}
	if h.calls.get("speak") != 2 {
		t.Fatalf("speak ran %d times; the memo should serve it", h.calls.get("speak"))
	}
	for _, s := range *seen {
		if strings.Contains(s, phoneLeak) {
			t.Fatalf("an old memo reached the model: %s", s)
		}
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "items", "rec000", "step-speak.json"))
	if bytes.Contains(b, []byte(phoneLeak)) {
		t.Fatalf("the old memo was not rewritten: %s", b)
	}
}

func TestRedactConfigErrorsAtTheirPlace(t *testing.T) {
	h := newHarness(t)
	_, err := LoadBytes("test.yaml", []byte(`
redact:
  fields: [transcrpt]
  patterns:
    - name: mobile
      match: '1[3-9'
      replace: x
    - name: id
      match: '\d{18}'
      validate: iban
      replace: y
steps:
  - uses: nums
`), LoadOptions{Registry: h.reg, Env: map[string]string{}, StateDir: h.dir})
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	for _, want := range []string{`test.yaml:3:12: redact.fields: no step writes field "transcrpt"`,
		"test.yaml:6:14: redact pattern 1 (mobile): match:", `test.yaml:10:17: redact pattern 2 (id): validate: unknown validator "iban"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("want %q in:\n%s", want, msg)
		}
	}
}

// Retention with a fixed clock: what is older than the policy goes, the rest stays; a dry run counts the
// same and deletes nothing.
func TestRetentionFixedClock(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
retention: {transcripts: 30d, media: 0, run_history: 90d}
steps:
  - uses: nums
`)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	put := func(rel string, age time.Duration) {
		path := filepath.Join(h.dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o755)
		writeFile(t, path, "x")
		if err := os.Chtimes(path, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	put("items/old/step-a.json", 31*24*time.Hour)
	put("items/old/item.json", 40*24*time.Hour)
	put("items/young/step-a.json", 40*24*time.Hour)
	put("items/young/item.json", 29*24*time.Hour) // touched recently: the item stays whole
	put("media/rec1/a.mp4", time.Minute)
	put("audio/rec1/c0.flac", time.Hour)
	put("runs/r1.json", 91*24*time.Hour)
	put("runs/r2.json", 89*24*time.Hour)
	want := map[string]int{"memo entries": 1, "media files": 1, "audio files": 1, "run history": 1}
	for _, dry := range []bool{true, false} {
		ex, err := p.Retain(context.Background(), now, dry)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, e := range ex {
			got[e.What] = e.Count
		}
		if mustJSON(got) != mustJSON(want) {
			t.Fatalf("dry=%v: %v, want %v", dry, got, want)
		}
		_, err = os.Stat(filepath.Join(h.dir, "items/old"))
		if dry == os.IsNotExist(err) {
			t.Fatalf("dry=%v: items/old exists: %v", dry, err == nil)
		}
	}
	for rel, gone := range map[string]bool{"items/young/step-a.json": false, "runs/r2.json": false, "runs/r1.json": true,
		"media/rec1/a.mp4": true, "media/rec1": true, "audio/rec1/c0.flac": true} {
		if _, err := os.Stat(filepath.Join(h.dir, rel)); os.IsNotExist(err) != gone {
			t.Errorf("%s: gone=%v, want %v", rel, os.IsNotExist(err), gone)
		}
	}
}

func TestTrimLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.log")
	writeFile(t, path, `{"time":"2026-01-01T00:00:00Z","msg":"old"}
continued old
{"time":"2026-05-30T00:00:00Z","msg":"new"}
2026-01-02T00:00:00Z text old
2026-05-31T00:00:00Z text new
`)
	cutoff := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	if n, err := logging.TrimLog(path, cutoff, true); n != 3 || err != nil {
		t.Fatalf("dry: %d %v", n, err)
	}
	if n, err := logging.TrimLog(path, cutoff, false); n != 3 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "{\"time\":\"2026-05-30T00:00:00Z\",\"msg\":\"new\"}\n2026-05-31T00:00:00Z text new\n" {
		t.Fatalf("kept %q", b)
	}
}

// A dry run of `runner run` shows what retention would delete, and deletes nothing.
func TestRetentionDryRunView(t *testing.T) {
	h := newHarness(t)
	p := h.load(`
retention: {media: 0, run_history: keep}
steps:
  - uses: nums
    with: {count: 1}
  - uses: double
`)
	path := filepath.Join(h.dir, "media", "rec000", "a.mp4")
	os.MkdirAll(filepath.Dir(path), 0o755)
	writeFile(t, path, "x")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	_, err, rep := h.run(p, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep, "retention: would delete 1 media files (state_dir)") {
		t.Fatalf("dry-run report:\n%s", rep)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a dry run deleted media: %v", err)
	}
	if p.Retention.RunHistory != step.Keep || p.Retention.Transcripts != step.Keep {
		t.Fatalf("retention %+v: keep and unnamed kinds must be Keep", p.Retention)
	}
	if _, err, _ := h.run(p, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the run kept media past retention: %v", err)
	}
}

type refuseOne struct{ stepFunc }

func (refuseOne) Admit(ctx context.Context, in *step.Item) (bool, string, error) {
	var n int
	in.Get("n", &n)
	switch n {
	case 1:
		return false, "every student was erased", nil
	case 2:
		return false, "", errors.New("server away") // an error admits the item
	}
	return true, "", nil
}

// An Admitter refuses an item as soon as it is listed: no step runs on it, and the reason is its story.
func TestAdmitterRefusesAtTheDoor(t *testing.T) {
	h := newHarness(t)
	h.reg.Register(step.Define(step.Spec{Name: "store", Version: "1", SideEffects: true, Reads: []string{"double"}, Writes: []step.Field{{Name: "kept", Sample: false}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return refuseOne{stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) {
			h.calls.inc("store")
			return step.Fields{"kept": true}, nil
		})}, nil
	}))
	p := h.load(`
steps:
  - uses: nums
    with: {count: 3}
  - uses: double
  - uses: store
`)
	sum, err, _ := h.run(p, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 1 || sum.Done != 2 || h.calls.get("double") != 2 || h.calls.get("store") != 2 {
		t.Fatalf("summary %+v, calls %v", sum, h.calls.n)
	}
	ro, err := state.Open(h.dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	st, _ := ro.Item("rec001")
	if st == nil || st.Status != state.OutcomeSkipped || !strings.Contains(st.Reason, "step store: every student was erased") {
		t.Fatalf("item state %+v", st)
	}
}

type fakeForgetter struct {
	stepFunc
	asked *[]step.ForgetOptions
}

func (f fakeForgetter) Forget(ctx context.Context, o step.ForgetOptions) (step.Forgotten, error) {
	*f.asked = append(*f.asked, o)
	return step.Forgotten{Where: "db", Rows: map[string]int{"links": 2}, Aliases: []string{"name:李同学", "李同学"}}, nil
}

// runner forget's engine part: every Forgetter is asked, then the state entries and log lines that name
// the student (by id or by what the store knew them as) go; the others stay. A dry run only counts.
func TestForgetErasesState(t *testing.T) {
	h := newHarness(t)
	var asked []step.ForgetOptions
	h.reg.Register(step.Define(step.Spec{Name: "keeper", Version: "1", SideEffects: true, Reads: []string{"n"}, Writes: []step.Field{{Name: "kept", Sample: false}}}, struct{}{}, func(_ struct{}, b *step.Build) (any, error) {
		return fakeForgetter{stepFunc(func(ctx context.Context, in *step.Item) (step.Fields, error) { return step.Fields{"kept": true}, nil }), &asked}, nil
	}))
	logFile := filepath.Join(h.dir, "..", "run.log")
	p := h.load(`
log_file: ` + logFile + `
steps:
  - uses: nums
  - uses: keeper
`)
	put := func(rel, s string) {
		path := filepath.Join(h.dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o755)
		writeFile(t, path, s)
	}
	put("items/rec1/step-list.json", `{"output":{"student_ids":["stu_li","stu_wang"]}}`)
	put("items/rec2/step-list.json", `{"output":{"participants":[{"name":"\u674e\u540c\u5b66"}]}}`) // escaped 李同学
	put("items/rec3/step-list.json", `{"output":{"student_ids":["stu_wang"]}}`)
	put("pending.json", `[{"id":"rec4","reason":"not ready: 李同学","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"},`+
		`{"id":"rec5","reason":"not ready","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}]`)
	put("tencent-cache/page1.json", `{"userid":"stu_li"}`)
	writeFile(t, logFile, "{\"msg\":\"guest 李同学 unmatched\"}\n{\"msg\":\"ok\"}\n")
	for _, dry := range []bool{true, false} {
		reps, err := p.Forget(context.Background(), []string{"stu_li"}, "ops@host", time.Now(), dry)
		if err != nil {
			t.Fatal(err)
		}
		r := reps[0]
		if r.State != (StateErased{Items: 2, Pending: 1, Files: 1}) || r.LogLines != 1 || len(r.Stores) != 1 {
			t.Fatalf("dry=%v: %+v", dry, r)
		}
		_, err = os.Stat(filepath.Join(h.dir, "items/rec1"))
		if dry == os.IsNotExist(err) {
			t.Fatalf("dry=%v: rec1 exists=%v", dry, err == nil)
		}
	}
	if len(asked) != 2 || asked[0].Student != "stu_li" || !asked[0].DryRun || asked[1].DryRun || asked[1].Actor != "ops@host" {
		t.Fatalf("forgetters asked %+v", asked)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "items/rec3")); err != nil {
		t.Fatal("another student's item went")
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "pending.json"))
	if strings.Contains(string(b), "rec4") || !strings.Contains(string(b), "rec5") {
		t.Fatalf("pending: %s", b)
	}
	if b, _ := os.ReadFile(logFile); string(b) != "{\"msg\":\"ok\"}\n" {
		t.Fatalf("log: %q", b)
	}
}
