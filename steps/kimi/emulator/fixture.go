package emulator

import (
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// ASRFixture chooses the transcript of an uploaded chunk. It is YAML or JSON:
//
//	tolerance_s: 1.0            # how far a chunk's duration may be from an entry's (default 1 s)
//	entries:
//	  - name: demo-1            # for people; unused
//	    file: "*_rec1_*.flac"   # optional glob on the uploaded file name, tried before durations
//	    duration_s: 42.5        # the chunk whose length is nearest, within tolerance_s
//	    text: 我们先看一下你的简历。这段实习经历要写清楚。   # split at 。！？ and spread over the chunk
//	  - duration_s: 61
//	    segments:               # or explicit segments, times relative to the chunk
//	      - {start: 0, end: 4.2, text: 现在开始模拟面试。}
//	      - {start: 4.2, end: 9, text: 字幕由Amara.org社群提供, no_speech_prob: 0.9, avg_logprob: -1.5}
//
// A chunk no entry matches gets a generated transcript: coaching sentences on a topic picked from its
// duration, opened by "本段录音约N秒。", so chunks of different lengths never share a transcript. Durations
// are read from WAV/FLAC headers (ffprobe for other formats); `ffprobe -show_entries format=duration` on a
// chunk gives the number to put in duration_s.
type ASRFixture struct {
	Tolerance float64    `yaml:"tolerance_s"`
	Entries   []ASREntry `yaml:"entries"`
}

// ASREntry is one canned transcript.
type ASREntry struct {
	Name     string           `yaml:"name"`
	File     string           `yaml:"file"`
	Duration float64          `yaml:"duration_s"`
	Language string           `yaml:"language"`
	Text     string           `yaml:"text"`
	Segments []FixtureSegment `yaml:"segments"`
}

// FixtureSegment is a canned segment; the quality figures default to those of clear speech.
type FixtureSegment struct {
	Start        float64  `yaml:"start"`
	End          float64  `yaml:"end"`
	Text         string   `yaml:"text"`
	Speaker      string   `yaml:"speaker"` // label served by diarized_json and ModeFunASR's verbose_json
	NoSpeechProb *float64 `yaml:"no_speech_prob"`
	AvgLogprob   *float64 `yaml:"avg_logprob"`
}

// LoadASRFixture reads an ASR fixture file (YAML or JSON).
func LoadASRFixture(file string) (*ASRFixture, error) {
	var f ASRFixture
	if err := loadYAML(file, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

func loadYAML(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read fixture: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("fixture %s: %w", file, err)
	}
	return nil
}

// pick returns the entry for an upload, or nil.
func (f *ASRFixture) pick(name string, duration float64, known bool) *ASREntry {
	if f == nil {
		return nil
	}
	for i := range f.Entries {
		if e := &f.Entries[i]; e.File != "" {
			if ok, _ := path.Match(e.File, name); ok {
				return e
			}
		}
	}
	if !known {
		return nil
	}
	tol := f.Tolerance
	if tol <= 0 {
		tol = 1
	}
	var best *ASREntry
	bestD := math.Inf(1)
	for i := range f.Entries {
		e := &f.Entries[i]
		if e.Duration <= 0 || e.File != "" {
			continue
		}
		if d := math.Abs(e.Duration - duration); d <= tol && d < bestD {
			best, bestD = e, d
		}
	}
	return best
}

// segments returns the entry's segments, spreading plain text over the duration.
func (e *ASREntry) segments(duration float64) []FixtureSegment {
	if len(e.Segments) > 0 {
		return e.Segments
	}
	d := duration
	if d <= 0 {
		d = e.Duration
	}
	return spread(splitSentences(e.Text), d)
}

func splitSentences(s string) []string {
	var out []string
	var cur strings.Builder
	for _, r := range strings.TrimSpace(s) {
		cur.WriteRune(r)
		if strings.ContainsRune("。！？!?\n", r) {
			if t := strings.TrimSpace(cur.String()); t != "" {
				out = append(out, t)
			}
			cur.Reset()
		}
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out
}

func spread(sentences []string, duration float64) []FixtureSegment {
	if len(sentences) == 0 {
		return nil
	}
	if duration <= 0 {
		duration = float64(len(sentences))
	}
	step := duration / float64(len(sentences))
	out := make([]FixtureSegment, len(sentences))
	for i, s := range sentences {
		out[i] = FixtureSegment{Start: round2(float64(i) * step), End: round2(float64(i+1) * step), Text: s}
	}
	return out
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// topics are the sentence pools of generated transcripts, one per default phase, so that the default chat
// fixture classifies a generated transcript into the phase of its topic.
var topics = [][]string{
	{"我们先把你的简历从头过一遍。", "这段实习经历要写清楚你负责的部分。", "简历第一页最好突出和岗位相关的经历。",
		"量化一下结果，比如性能提升了多少。", "技能清单里不熟的就先删掉。"},
	{"这个项目的背景是什么，你在里面负责哪一块？", "为什么选这个技术方案而不是别的？", "项目里遇到的最大难点是什么，怎么解决的？",
		"上线之后的数据表现怎么样？", "如果重做一次，你会怎么改进这个项目？"},
	{"现在我们开始模拟面试，请先做一个自我介绍。", "请讲一个你和同事意见不一致的例子。", "这道算法题你先说一下思路。",
		"刚才的回答有点长，面试时控制在两分钟以内。", "最后你有什么想问面试官的吗？"},
	{"你现在手上有两个 offer，我们比较一下。", "薪资谈判的时候先别急着报数字。", "除了薪资，还要看团队和成长空间。",
		"入职前可以先把相关技术栈熟悉一下。", "接受 offer 之前确认一下试用期和社保。"},
	{"我们先确认一下下周的时间安排。", "刚才网络有点卡，你能听清吗？", "今天主要是聊一聊你最近的状态。",
		"有问题随时在群里找我。", "那我们今天就先到这里。"},
}

// generated is the transcript of a chunk no fixture entry matches: one sentence per ~4 s.
func generated(duration float64) []FixtureSegment {
	h := fnv.New32a()
	fmt.Fprintf(h, "%.1f", duration)
	x := h.Sum32()
	pool := topics[x%uint32(len(topics))]
	n := max(1, int(duration/4))
	sents := make([]string, 0, n)
	sents = append(sents, fmt.Sprintf("本段录音约%.1f秒。", duration))
	for i := 1; i < n; i++ {
		sents = append(sents, pool[(int(x/7)+i)%len(pool)])
	}
	return spread(sents, duration)
}

// ChatFixture chooses the answers of the Moonshot emulator. It is YAML or JSON:
//
//	rules:                              # tried in order; the first whose keyword occurs wins
//	  - keywords: [模拟面试, 自我介绍]   # looked for, case-insensitively, in the FIRST user message
//	    phase: 面试模拟
//	    summary: 学员进行了一次模拟面试……   # empty: "本次会谈围绕<phase>展开：" + the start of the transcript
//	    confidence: 0.9
//	    extra: {key_points: [自我介绍, 行为面试]}   # more keys in the answer
//	    faults: [invalid_json, length]   # served, in order, to the first calls this rule matches
//	default: {phase: 其他, confidence: 0.3}
//
// The answer is {"phase","summary","confidence",…extra} as JSON (wrapped in prose and a ```json fence
// when the request did not ask for JSON mode).
type ChatFixture struct {
	Rules   []ChatRule `yaml:"rules"`
	Default ChatAnswer `yaml:"default"`
}

// ChatRule maps keywords to an answer.
type ChatRule struct {
	Keywords   []string `yaml:"keywords"`
	ChatAnswer `yaml:",inline"`
	Faults     []Fault `yaml:"faults"`
}

// ChatAnswer is the model's JSON answer.
type ChatAnswer struct {
	Phase      string         `yaml:"phase"`
	Summary    string         `yaml:"summary"`
	Confidence float64        `yaml:"confidence"`
	Extra      map[string]any `yaml:"extra"`
}

// LoadChatFixture reads a chat fixture file (YAML or JSON).
func LoadChatFixture(file string) (*ChatFixture, error) {
	var f ChatFixture
	if err := loadYAML(file, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// DefaultChatFixture classifies by the keywords of the five default phases.
func DefaultChatFixture() *ChatFixture {
	return &ChatFixture{
		Rules: []ChatRule{
			{Keywords: []string{"offer", "薪资", "入职"}, ChatAnswer: ChatAnswer{Phase: "Offer后续", Confidence: 0.85}},
			{Keywords: []string{"模拟面试", "自我介绍", "面试官", "算法题"}, ChatAnswer: ChatAnswer{Phase: "面试模拟", Confidence: 0.9}},
			{Keywords: []string{"项目", "技术方案", "难点"}, ChatAnswer: ChatAnswer{Phase: "项目深挖", Confidence: 0.8}},
			{Keywords: []string{"简历", "实习经历"}, ChatAnswer: ChatAnswer{Phase: "简历优化", Confidence: 0.85}},
		},
		Default: ChatAnswer{Phase: "其他", Confidence: 0.4},
	}
}
