// Package talk measures a conversation from its speaker-attributed utterances: who spoke, how much and how.
// Every metric meetpipe stores or shows is defined here, once; the README section "Talk metrics" describes
// them in words. It imports nothing of the engine, so both transcript sources feed it the same way.
package talk

import (
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Roles of a speaker.
const (
	RoleTeacher = "teacher"
	RoleStudent = "student"
	RoleUnknown = "unknown"
)

// Utterance is one speaker's stretch of speech, in milliseconds from the recording's start.
type Utterance struct {
	Speaker    string // a key of a Speaker
	Start, End int64
	Text       string
}

// Speaker is one voice of the conversation, mapped to a role. StudentID is the id recording_students uses
// (enterprise userid, else name:<normalised name>), empty for the teacher and for an unknown speaker.
type Speaker struct {
	Key       string `json:"key"`
	Role      string `json:"role"`
	StudentID string `json:"student_id,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Options are the thresholds of the metrics.
type Options struct {
	// InterjectionMS: an utterance of another speaker shorter than this ("嗯", "对") does not end a
	// monologue.
	InterjectionMS int64
}

// SpeakerMetrics are one speaker's figures.
type SpeakerMetrics struct {
	Speaker
	TalkMS             int64   `json:"talk_ms"`              // union of the speaker's intervals
	Share              float64 `json:"share"`                // talk_ms / the sum of every speaker's talk_ms (of speech, not of the call)
	Questions          int     `json:"questions"`            // sentences ending in ？ or ?
	Turns              int     `json:"turns"`                // times the floor passed to this speaker (the first utterance counts)
	LongestMonologueMS int64   `json:"longest_monologue_ms"` // longest run of the speaker's utterances, see Compute
	Chars              int     `json:"chars"`                // letters and digits spoken (no spaces, no punctuation)
	CharsPerMin        float64 `json:"chars_per_min"`        // chars / talk minutes
}

// Metrics are a recording's figures: per speaker, and of the conversation as a whole.
type Metrics struct {
	Speakers []SpeakerMetrics `json:"speakers"`
	// SpanMS is from the first utterance's start to the last one's end; SpeechMS the union of all
	// utterances in it; SilenceMS the rest of the span; OverlapMS the time two or more spoke at once.
	SpanMS    int64 `json:"span_ms"`
	SpeechMS  int64 `json:"speech_ms"`
	SilenceMS int64 `json:"silence_ms"`
	OverlapMS int64 `json:"overlap_ms"`
	// TeacherShare and StudentShare sum the shares of the speakers with that role.
	TeacherShare float64 `json:"teacher_share"`
	StudentShare float64 `json:"student_share"`
	// TeacherQuestions counts the teacher's questions that another speaker answered; WaitAfterQuestionMS
	// is the mean time from the end of such a question to the start of the answer (0 when the answer
	// began before the question ended), WaitAfterQuestionMaxMS the longest.
	TeacherQuestions       int   `json:"teacher_questions_answered"`
	WaitAfterQuestionMS    int64 `json:"wait_after_question_ms"`
	WaitAfterQuestionMaxMS int64 `json:"wait_after_question_max_ms"`
	Turns                  int   `json:"turns"`
}

// Compute measures utts. Speakers not named in speakers get RoleUnknown; a speaker without utterances is
// left out. Utterances with End <= Start are ignored.
func Compute(utts []Utterance, speakers []Speaker, o Options) Metrics {
	us := make([]Utterance, 0, len(utts))
	for _, u := range utts {
		if u.End > u.Start {
			us = append(us, u)
		}
	}
	sort.SliceStable(us, func(i, j int) bool { return us[i].Start < us[j].Start })

	known := map[string]Speaker{}
	for _, s := range speakers {
		known[s.Key] = s
	}
	var order []string
	by := map[string]*SpeakerMetrics{}
	spans := map[string][]span{}
	for _, u := range us {
		m := by[u.Speaker]
		if m == nil {
			s, ok := known[u.Speaker]
			if !ok {
				s = Speaker{Key: u.Speaker, Role: RoleUnknown}
			}
			m = &SpeakerMetrics{Speaker: s}
			by[u.Speaker] = m
			order = append(order, u.Speaker)
		}
		spans[u.Speaker] = append(spans[u.Speaker], span{u.Start, u.End})
		m.Questions += Questions(u.Text)
		m.Chars += Chars(u.Text)
	}

	var out Metrics
	var all []span
	var total int64
	for _, k := range order {
		m := by[k]
		m.TalkMS = unionLength(spans[k])
		total += m.TalkMS
		all = append(all, spans[k]...)
	}
	out.SpeechMS = unionLength(all)
	if len(us) > 0 {
		first, last := us[0].Start, us[0].End
		for _, u := range us {
			last = max(last, u.End)
		}
		out.SpanMS = last - first
	}
	out.SilenceMS = out.SpanMS - out.SpeechMS
	out.OverlapMS = overlap(all)

	// Turns: the floor passes whenever an utterance's speaker differs from the previous one's.
	prev := ""
	for i, u := range us {
		if i == 0 || u.Speaker != prev {
			by[u.Speaker].Turns++
			out.Turns++
		}
		prev = u.Speaker
	}

	// Monologues: a run of one speaker's utterances in time order, which another speaker's utterance of at
	// least InterjectionMS ends; its length is from the run's first start to its last end.
	for _, k := range order {
		var runStart, runEnd int64
		open := false
		for _, u := range us {
			if u.Speaker == k {
				if !open {
					runStart, runEnd, open = u.Start, u.End, true
				} else {
					runEnd = max(runEnd, u.End)
				}
				by[k].LongestMonologueMS = max(by[k].LongestMonologueMS, runEnd-runStart)
				continue
			}
			if u.End-u.Start >= o.InterjectionMS {
				open = false
			}
		}
	}

	// Wait after a teacher's question: to the next utterance of someone else.
	var waits []int64
	for i, u := range us {
		if by[u.Speaker].Role != RoleTeacher || !EndsWithQuestion(u.Text) {
			continue
		}
		for _, v := range us[i+1:] {
			if v.Speaker == u.Speaker {
				if v.Start >= u.End {
					break // the teacher went on: nobody answered this one
				}
				continue
			}
			waits = append(waits, max(v.Start-u.End, 0))
			break
		}
	}
	if len(waits) > 0 {
		var sum int64
		for _, w := range waits {
			sum += w
		}
		out.TeacherQuestions = len(waits)
		out.WaitAfterQuestionMS = (sum + int64(len(waits))/2) / int64(len(waits))
		out.WaitAfterQuestionMaxMS = slices.Max(waits)
	}

	for _, k := range order {
		m := by[k]
		if total > 0 {
			m.Share = round4(float64(m.TalkMS) / float64(total))
		}
		if m.TalkMS > 0 {
			m.CharsPerMin = round1(float64(m.Chars) * 60000 / float64(m.TalkMS))
		}
		switch m.Role {
		case RoleTeacher:
			out.TeacherShare += m.Share
		case RoleStudent:
			out.StudentShare += m.Share
		}
		out.Speakers = append(out.Speakers, *m)
	}
	out.TeacherShare, out.StudentShare = round4(out.TeacherShare), round4(out.StudentShare)
	return out
}

type span struct{ s, e int64 }

// unionLength is the length of the union of the spans.
func unionLength(in []span) int64 {
	ss := slices.Clone(in)
	slices.SortFunc(ss, func(a, b span) int { return int(a.s - b.s) })
	var n, curS, curE int64
	open := false
	for _, x := range ss {
		switch {
		case !open:
			curS, curE, open = x.s, x.e, true
		case x.s <= curE:
			curE = max(curE, x.e)
		default:
			n += curE - curS
			curS, curE = x.s, x.e
		}
	}
	if open {
		n += curE - curS
	}
	return n
}

// overlap is the time covered by two or more spans (of any speakers).
func overlap(in []span) int64 {
	type ev struct {
		t int64
		d int
	}
	evs := make([]ev, 0, 2*len(in))
	for _, x := range in {
		evs = append(evs, ev{x.s, 1}, ev{x.e, -1})
	}
	// Ends before starts at the same instant: touching spans do not overlap.
	slices.SortFunc(evs, func(a, b ev) int {
		if a.t != b.t {
			return int(a.t - b.t)
		}
		return a.d - b.d
	})
	var n, last int64
	depth := 0
	for _, e := range evs {
		if depth >= 2 {
			n += e.t - last
		}
		depth += e.d
		last = e.t
	}
	return n
}

// Sentences splits text after each 。！？.!? and returns the non-empty pieces with their terminator.
func Sentences(text string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if s := strings.TrimSpace(b.String()); s != "" {
			out = append(out, s)
		}
		b.Reset()
	}
	for _, r := range text {
		b.WriteRune(r)
		switch r {
		case '。', '！', '？', '.', '!', '?', '\n':
			flush()
		}
	}
	flush()
	return out
}

// Questions counts the sentences of text that end in ？ or ?.
func Questions(text string) int {
	n := 0
	for _, s := range Sentences(text) {
		if strings.HasSuffix(s, "？") || strings.HasSuffix(s, "?") {
			n++
		}
	}
	return n
}

// EndsWithQuestion reports whether the last sentence of text is a question.
func EndsWithQuestion(text string) bool {
	s := strings.TrimSpace(text)
	return strings.HasSuffix(s, "？") || strings.HasSuffix(s, "?")
}

// Chars counts the letters and digits of text: what "characters per minute" counts.
func Chars(text string) int {
	n := 0
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

func round4(x float64) float64 { return float64(int64(x*10000+0.5)) / 10000 }
func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
