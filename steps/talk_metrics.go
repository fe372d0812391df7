package steps

import (
	"context"
	"math"
	"strings"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/kimi"
	"meetpipe/steps/talk"
)

// talkMetricsConfig is the `with:` block of talk_metrics.
type talkMetricsConfig struct {
	TeacherLabel string        `yaml:"teacher_label" doc:"which anonymous ASR label is the teacher: first (the label speaking first), most (the label with the most talk) or label:<label>"`
	Interjection time.Duration `yaml:"interjection" min:"0s" max:"1m" doc:"an utterance of the other side shorter than this (嗯, 对) does not end a monologue"`
	Targets      []talk.Target `yaml:"targets" doc:"talk-share goals per phase, e.g. {phase: 面试模拟, role: student, min_share: 0.6}; a recording that misses one is flagged"`
}

// SettingDetails is what `runner steps talk_metrics` prints under a setting, beyond its doc.
func (talkMetricsConfig) SettingDetails() map[string]string {
	return map[string]string{
		"teacher_label": "label:<label> names it, e.g. label:A with a known-speaker reference. In a session with one student " +
			"every other label is that student; with several they stay unknown. Tencent's speakers need no rule: the host " +
			"(or a whitelisted teacher) is the teacher.",
		"targets": "A miss is written as talk.off_target and stored in recordings.talk_off_target.",
	}
}

func init() {
	step.Register(step.Spec{
		Name: "talk_metrics",
		Summary: "measure who spoke and how much from the speaker-labelled transcript (Tencent's or the ASR's): talk time, " +
			"share, questions, turns, longest monologue, wait after a question, silence, overlap, characters per minute; " +
			"flags a recording that misses its phase's talk-share target",
		Version: "1",
		Reads:   []string{"transcript", "transcript_source", "speakers", "student_ids", "phase"},
		Writes: []step.Field{{Name: "talk", Sample: talk.Record{},
			Doc: "source, labelled, speakers[] {key, role, student_id, talk_ms, share, questions, turns, " +
				"longest_monologue_ms, chars, chars_per_min}, span_ms, speech_ms, silence_ms, overlap_ms, " +
				"teacher_share, student_share, wait_after_question_ms, flags[], off_target (README: Talk metrics)"}},
	}, talkMetricsConfig{TeacherLabel: talk.TeacherFirst, Interjection: time.Second}, newTalkMetrics)
}

type talkMetrics struct{ cfg talkMetricsConfig }

func newTalkMetrics(cfg talkMetricsConfig, b *step.Build) (any, error) {
	if err := talk.CheckLabelRule(cfg.TeacherLabel); err != nil {
		return nil, b.ErrorAt("teacher_label", "talk_metrics: %v", err)
	}
	for i, t := range cfg.Targets {
		if err := t.Check(); err != nil {
			return nil, b.ErrorAt("targets", "talk_metrics: targets[%d]: %v", i, err)
		}
	}
	return &talkMetrics{cfg: cfg}, nil
}

func (s *talkMetrics) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	var (
		tr       kimi.Transcript
		source   string
		speakers []talk.Speaker
		students []string
		phase    string
	)
	for _, f := range []struct {
		name string
		v    any
	}{{"transcript", &tr}, {"transcript_source", &source}, {"speakers", &speakers}, {"student_ids", &students}, {"phase", &phase}} {
		if raw := in.Raw(f.name); len(raw) == 0 || string(raw) == "null" {
			continue
		}
		if err := in.Get(f.name, f.v); err != nil {
			return nil, step.Permanent(err)
		}
	}
	if source == "" {
		source = "asr"
	}
	rec := TalkOf(tr, source, speakers, students, phase, s.cfg.TeacherLabel, s.cfg.Interjection, s.cfg.Targets)
	if rec.OffTarget {
		step.Logger(ctx).Info("talk share off target", "item", in.ID(), "phase", phase,
			"student_share", rec.StudentShare, "teacher_share", rec.TeacherShare)
	}
	return step.Fields{"talk": rec}, nil
}

// TalkOf measures a transcript: Tencent's speakers come mapped already; the ASR's labels are mapped by
// rule, chunk by chunk when the session took several requests (labels "c<n>/<label>").
func TalkOf(tr kimi.Transcript, source string, speakers []talk.Speaker, students []string, phase, rule string,
	interjection time.Duration, targets []talk.Target) talk.Record {
	rec := talk.Record{Source: source}
	utts := make([]talk.Utterance, 0, len(tr.Segments))
	for _, sg := range tr.Segments {
		if sg.Speaker == "" {
			continue
		}
		utts = append(utts, talk.Utterance{Speaker: sg.Speaker, Start: toMS(sg.Start), End: toMS(sg.End), Text: sg.Text})
	}
	if len(utts) == 0 {
		return rec
	}
	rec.Labelled = true
	if source != "tencent" {
		groups := map[string][]talk.Utterance{}
		var order []string
		for _, u := range utts {
			g := ""
			if i := strings.Index(u.Speaker, "/"); i > 0 && strings.HasPrefix(u.Speaker, "c") {
				g = u.Speaker[:i]
			}
			if _, ok := groups[g]; !ok {
				order = append(order, g)
			}
			groups[g] = append(groups[g], u)
		}
		// The teacher, or one student, found in several chunks is one speaker: the first label stands for
		// all of them.
		speakers = nil
		rename := map[string]string{}
		first := map[string]string{}
		for _, g := range order {
			for _, sp := range talk.MapLabels(groups[g], rule, students) {
				id := sp.Role + "\x00" + sp.StudentID
				if k, ok := first[id]; ok && sp.Role != talk.RoleUnknown {
					rename[sp.Key] = k
					continue
				}
				first[id] = sp.Key
				speakers = append(speakers, sp)
			}
		}
		for i := range utts {
			if k, ok := rename[utts[i].Speaker]; ok {
				utts[i].Speaker = k
			}
		}
	}
	rec.Metrics = talk.Compute(utts, speakers, talk.Options{InterjectionMS: interjection.Milliseconds()})
	rec.Flags = talk.Flags(rec.Metrics, phase, targets)
	for _, f := range rec.Flags {
		rec.OffTarget = rec.OffTarget || !f.Met
	}
	return rec
}

// toMS converts transcript seconds (3 decimals) to whole milliseconds.
func toMS(s float64) int64 { return int64(math.Round(s * 1000)) }
