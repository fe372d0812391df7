package kimi

import (
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Transcript is what kimi_asr writes as the item field `transcript`.
type Transcript struct {
	Text     string    `json:"text" expr:"text"`
	Segments []Segment `json:"segments" expr:"segments"`
}

// Segment is a piece of the transcript with absolute times in seconds from the recording's start.
type Segment struct {
	Start float64 `json:"start" expr:"start"`
	End   float64 `json:"end" expr:"end"`
	Text  string  `json:"text" expr:"text"`
	// Speaker is the speaker's label: the ASR's ("A", "说话人1"; per request, see kimi_asr's diarize) or
	// Tencent's speaker key; empty when the source gave none.
	Speaker string `json:"speaker,omitempty" expr:"speaker"`
}

// ChunkTranscript is one chunk's transcription placed in the recording.
type ChunkTranscript struct {
	Offset   float64 // seconds from the recording's start
	Duration float64 // seconds; 0 when unknown
	Text     string
	// Segments are relative to the chunk's start; nil for servers without timestamps, in which case the
	// chunk becomes one pseudo-segment.
	Segments []TranscriptionSegment
}

// Merge puts chunk transcriptions together in order of offset. Times become absolute. Where chunks
// overlap, the cut is the middle of the overlap and each segment is kept only in the chunk on whose side
// of the cut its midpoint lies, so a sentence spoken in the overlap appears once; a segment straddling
// the cut stays with the chunk that holds most of it. Text-only chunks become one pseudo-segment each,
// clipped to the cuts, and a run of text repeated at the start of the next chunk is dropped. Finally a
// segment with the same text as the one before and touching it in time is dropped: servers time the same
// words slightly differently in two chunks.
func Merge(chunks []ChunkTranscript) Transcript {
	cs := make([]ChunkTranscript, len(chunks))
	copy(cs, chunks)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Offset < cs[j].Offset })

	cuts := make([]float64, len(cs)) // cuts[i] is the boundary between chunk i and i+1
	for i := range cs {
		if i+1 == len(cs) {
			cuts[i] = math.Inf(1)
			continue
		}
		next := cs[i+1].Offset
		if cs[i].Duration > 0 {
			cuts[i] = (cs[i].Offset + cs[i].Duration + next) / 2
		} else {
			cuts[i] = next
		}
	}

	var segs []Segment
	prevText := "" // the previous text-only chunk's text, for overlap dedupe
	for i, c := range cs {
		lo, hi := math.Inf(-1), cuts[i]
		if i > 0 {
			lo = cuts[i-1]
		}
		if len(c.Segments) == 0 {
			text := strings.TrimSpace(c.Text)
			if i > 0 && prevText != "" && cs[i-1].Duration > 0 && cs[i-1].Offset+cs[i-1].Duration > c.Offset {
				text = dropRepeatedPrefix(prevText, text)
			}
			prevText = strings.TrimSpace(c.Text)
			if text == "" {
				continue
			}
			start, end := c.Offset, c.Offset+c.Duration
			start = math.Max(start, lo)
			if !math.IsInf(hi, 1) && c.Duration > 0 {
				end = math.Min(end, hi)
			}
			if end < start {
				end = start
			}
			segs = append(segs, Segment{Start: round3(start), End: round3(end), Text: text})
			continue
		}
		prevText = ""
		for _, s := range c.Segments {
			if strings.TrimSpace(s.Text) == "" {
				continue
			}
			a, b := c.Offset+s.Start, c.Offset+s.End
			if b < a {
				b = a
			}
			mid := (a + b) / 2
			if mid < lo || mid >= hi {
				continue
			}
			segs = append(segs, Segment{Start: round3(a), End: round3(b), Text: strings.TrimSpace(s.Text), Speaker: s.Speaker})
		}
	}

	out := Transcript{Segments: make([]Segment, 0, len(segs))}
	for _, s := range segs {
		if n := len(out.Segments); n > 0 {
			p := out.Segments[n-1]
			if normText(p.Text) == normText(s.Text) && s.Start <= p.End+0.5 && p.Speaker == s.Speaker {
				out.Segments[n-1].End = math.Max(p.End, s.End)
				continue
			}
		}
		out.Segments = append(out.Segments, s)
	}
	parts := make([]string, 0, len(out.Segments))
	for _, s := range out.Segments {
		parts = append(parts, s.Text)
	}
	out.Text = JoinText(parts)
	return out
}

// minRepeat is the shortest run of text taken as the overlap of two text-only chunks rather than a
// coincidence.
const minRepeat = 4

// dropRepeatedPrefix removes from next the longest prefix that prev ends with (at least minRepeat runes,
// punctuation and spaces ignored when comparing).
func dropRepeatedPrefix(prev, next string) string {
	p, n := []rune(prev), []rune(next)
	best := 0
	for k := min(len(p), len(n)); k >= minRepeat; k-- {
		if string(p[len(p)-k:]) == string(n[:k]) {
			best = k
			break
		}
	}
	if best == 0 {
		return next
	}
	return strings.TrimLeftFunc(string(n[best:]), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r)
	})
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// normText is text with spaces and punctuation removed and letters folded, for comparing.
func normText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// JoinText joins pieces of transcript: Chinese needs no separator, but two Latin words must not run
// together.
func JoinText(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			last, _ := utf8.DecodeLastRuneInString(b.String())
			first, _ := utf8.DecodeRuneInString(p)
			if isLatin(last) && isLatin(first) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(p)
	}
	return b.String()
}

func isLatin(r rune) bool { return r < 0x2E80 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

// DefaultHallucinations are texts Whisper-family models are known to produce from silence (subtitle
// credits of their training data).
var DefaultHallucinations = []string{
	"字幕由 Amara.org 社群提供",
	"字幕由 Amara.org 社区提供",
	"请不吝点赞订阅转发打赏支持明镜与点点栏目",
	"优优独播剧场——YoYo Television Series Exclusive",
}

// Filter drops what a transcription server invents: known phrases it produces from silence, and segments
// it itself marks as probably silence.
type Filter struct {
	phrases []*regexp.Regexp
	// A segment is dropped when its no_speech_prob is above NoSpeech AND its avg_logprob is below Logprob
	// (both must be reported).
	NoSpeech, Logprob float64
}

// NewFilter compiles the phrases. Matching ignores spaces and letter case, so "字幕由Amara.org社群提供"
// matches "字幕由 Amara.org 社群提供".
func NewFilter(phrases []string, noSpeech, logprob float64) *Filter {
	f := &Filter{NoSpeech: noSpeech, Logprob: logprob}
	for _, p := range phrases {
		var b strings.Builder
		b.WriteString(`(?i)`)
		n := 0
		for _, r := range p {
			if unicode.IsSpace(r) {
				continue
			}
			if n > 0 {
				b.WriteString(`\s*`)
			}
			b.WriteString(regexp.QuoteMeta(string(r)))
			n++
		}
		if n > 0 {
			f.phrases = append(f.phrases, regexp.MustCompile(b.String()))
		}
	}
	return f
}

// Text removes the phrases from s and returns what is left, or "" when nothing but punctuation remains.
func (f *Filter) Text(s string) string {
	for _, re := range f.phrases {
		s = re.ReplaceAllString(s, "")
	}
	if normText(s) == "" {
		return ""
	}
	return strings.TrimSpace(s)
}

// Apply filters one chunk's transcription in place and returns how many segments it dropped.
func (f *Filter) Apply(t *Transcription) int {
	dropped := 0
	if t.Segments == nil {
		t.Text = f.Text(t.Text)
		return 0
	}
	kept := t.Segments[:0]
	parts := make([]string, 0, len(t.Segments))
	for _, s := range t.Segments {
		if s.NoSpeechProb != nil && s.AvgLogprob != nil && *s.NoSpeechProb > f.NoSpeech && *s.AvgLogprob < f.Logprob {
			dropped++
			continue
		}
		s.Text = f.Text(s.Text)
		if s.Text == "" {
			dropped++
			continue
		}
		kept = append(kept, s)
		parts = append(parts, s.Text)
	}
	t.Segments = kept
	t.Text = JoinText(parts)
	return dropped
}
