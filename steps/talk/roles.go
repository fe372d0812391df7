package talk

import (
	"fmt"
	"strings"
)

// Label rules: which anonymous ASR label ("A", "说话人1") is the teacher.
const (
	TeacherFirst = "first" // the label of the first utterance: the teacher opens a coaching session
	TeacherMost  = "most"  // the label with the most talk time
	// "label:<name>" names the teacher's label, for a server given known-speaker references.
)

// CheckLabelRule reports a rule that MapLabels does not know.
func CheckLabelRule(rule string) error {
	switch {
	case rule == TeacherFirst, rule == TeacherMost:
		return nil
	case strings.HasPrefix(rule, "label:") && strings.TrimPrefix(rule, "label:") != "":
		return nil
	}
	return fmt.Errorf("teacher rule %q: want first, most or label:<label>", rule)
}

// MapLabels gives the anonymous labels of an ASR transcript roles: the teacher by rule, and every other
// label the one student when the session has exactly one (a 1:1 session: the other speaker is that student);
// with several students the other labels stay unknown, since a label says nothing about who it is.
func MapLabels(utts []Utterance, rule string, studentIDs []string) []Speaker {
	var order []string
	talkMS := map[string]int64{}
	for _, u := range utts {
		if u.Speaker == "" {
			continue
		}
		if _, ok := talkMS[u.Speaker]; !ok {
			order = append(order, u.Speaker)
		}
		talkMS[u.Speaker] += max(u.End-u.Start, 0)
	}
	teacher := ""
	switch {
	case rule == TeacherMost:
		for _, k := range order {
			if teacher == "" || talkMS[k] > talkMS[teacher] {
				teacher = k
			}
		}
	case strings.HasPrefix(rule, "label:"):
		teacher = strings.TrimPrefix(rule, "label:")
	default:
		first := int64(-1)
		for _, u := range utts {
			if u.Speaker != "" && (first < 0 || u.Start < first) {
				teacher, first = u.Speaker, u.Start
			}
		}
	}
	out := make([]Speaker, 0, len(order))
	for _, k := range order {
		s := Speaker{Key: k, Role: RoleUnknown}
		switch {
		case k == teacher:
			s.Role = RoleTeacher
		case len(studentIDs) == 1:
			s.Role, s.StudentID = RoleStudent, studentIDs[0]
		}
		out = append(out, s)
	}
	return out
}

// Target is a goal for one role's share of speech in one phase, e.g. in 面试模拟 the student speaks at
// least 60 %. Min and Max are fractions; 0 Max means no upper bound.
type Target struct {
	Phase string  `yaml:"phase" json:"phase" doc:"a phase name of kimi_classify"`
	Role  string  `yaml:"role" json:"role" enum:"teacher,student" doc:"whose share"`
	Min   float64 `yaml:"min_share" json:"min_share" min:"0" max:"1" doc:"lowest share of speech, 0..1"`
	Max   float64 `yaml:"max_share" json:"max_share" min:"0" max:"1" doc:"highest share of speech, 0..1 (0: none)"`
}

// Check reports a target that cannot be met or names no role.
func (t Target) Check() error {
	switch {
	case t.Phase == "":
		return fmt.Errorf("target without phase")
	case t.Role != RoleTeacher && t.Role != RoleStudent:
		return fmt.Errorf("target for %s: role %q: want teacher or student", t.Phase, t.Role)
	case t.Min < 0 || t.Min > 1 || t.Max < 0 || t.Max > 1 || (t.Max > 0 && t.Max < t.Min):
		return fmt.Errorf("target for %s: shares are fractions 0..1 with min_share <= max_share", t.Phase)
	}
	return nil
}

// Flag is a target applied to a recording.
type Flag struct {
	Target
	Share float64 `json:"share"`
	Met   bool    `json:"met"`
}

// Flags applies the targets of phase to m; a recording with no speech meets no target.
func Flags(m Metrics, phase string, targets []Target) []Flag {
	var out []Flag
	for _, t := range targets {
		if t.Phase != phase {
			continue
		}
		share := m.StudentShare
		if t.Role == RoleTeacher {
			share = m.TeacherShare
		}
		met := m.SpeechMS > 0 && share >= t.Min && (t.Max == 0 || share <= t.Max)
		out = append(out, Flag{Target: t, Share: share, Met: met})
	}
	return out
}

// Record is the item field `talk` and the recording's JSON column: the metrics, where the transcript
// came from, and the targets of the recording's phase.
type Record struct {
	Source string `json:"source"` // tencent or asr
	// Labelled is false when the transcript had no speaker labels: then nothing is measured.
	Labelled bool `json:"labelled"`
	Metrics
	Flags     []Flag `json:"flags,omitempty"`
	OffTarget bool   `json:"off_target"` // some target of the phase is not met
}
