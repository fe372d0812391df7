package kimi

import (
	"errors"
	"reflect"
	"testing"
)

func seg(start, end float64, text string) TranscriptionSegment {
	return TranscriptionSegment{Start: start, End: end, Text: text}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		chunks []ChunkTranscript
		want   []Segment
		text   string
	}{
		{
			name: "offsets added, order by offset",
			chunks: []ChunkTranscript{
				{Offset: 10, Duration: 10, Segments: []TranscriptionSegment{seg(0, 4, "第二段。"), seg(4, 9.5, "还是第二段。")}},
				{Offset: 0, Duration: 10, Segments: []TranscriptionSegment{seg(0.5, 3, " 第一段。"), seg(3, 9.9, "第一段完。")}},
			},
			want: []Segment{{0.5, 3, "第一段。", ""}, {3, 9.9, "第一段完。", ""}, {10, 14, "第二段。", ""}, {14, 19.5, "还是第二段。", ""}},
			text: "第一段。第一段完。第二段。还是第二段。",
		},
		{
			// Chunks overlap 8..10; the cut is 9. The sentence at 8.2–8.8 is heard by both chunks.
			name: "overlap duplicates dropped by the cut",
			chunks: []ChunkTranscript{
				{Offset: 0, Duration: 10, Segments: []TranscriptionSegment{seg(0, 8, "前面的话。"), seg(8.2, 8.8, "重叠的话。"), seg(9.2, 10, "半句")}},
				{Offset: 8, Duration: 10, Segments: []TranscriptionSegment{seg(0.1, 0.9, "重叠的话。"), seg(1.1, 2, "半句话。"), seg(2, 9, "后面的话。")}},
			},
			want: []Segment{{0, 8, "前面的话。", ""}, {8.2, 8.8, "重叠的话。", ""}, {9.1, 10, "半句话。", ""}, {10, 17, "后面的话。", ""}},
			text: "前面的话。重叠的话。半句话。后面的话。",
		},
		{
			// The same words timed a little differently on either side of the cut are kept once.
			name: "same text touching in time dropped",
			chunks: []ChunkTranscript{
				{Offset: 0, Duration: 10, Segments: []TranscriptionSegment{seg(7, 8.9, "好的，我们继续。")}},
				{Offset: 8, Duration: 10, Segments: []TranscriptionSegment{seg(1.0, 1.6, "好的 我们继续")}},
			},
			want: []Segment{{7, 9.6, "好的，我们继续。", ""}},
			text: "好的，我们继续。",
		},
		{
			name: "text-only chunks become clipped pseudo-segments without the repeated overlap",
			chunks: []ChunkTranscript{
				{Offset: 0, Duration: 60, Text: "今天我们看简历。先从实习经历开始"},
				{Offset: 58, Duration: 30, Text: "从实习经历开始，这段要写清楚。"},
			},
			want: []Segment{{0, 59, "今天我们看简历。先从实习经历开始", ""}, {59, 88, "这段要写清楚。", ""}},
			text: "今天我们看简历。先从实习经历开始这段要写清楚。",
		},
		{
			name: "no overlap keeps text that merely repeats",
			chunks: []ChunkTranscript{
				{Offset: 0, Duration: 60, Text: "好的好的好的"},
				{Offset: 60, Duration: 30, Text: "好的好的，继续。"},
			},
			want: []Segment{{0, 60, "好的好的好的", ""}, {60, 90, "好的好的，继续。", ""}},
			text: "好的好的好的好的好的，继续。",
		},
		{
			name: "latin words keep a space",
			chunks: []ChunkTranscript{
				{Offset: 0, Duration: 5, Segments: []TranscriptionSegment{seg(0, 2, "about the"), seg(2, 4, "offer 细节")}},
			},
			want: []Segment{{0, 2, "about the", ""}, {2, 4, "offer 细节", ""}},
			text: "about the offer 细节",
		},
		{
			name:   "empty chunks give an empty transcript",
			chunks: []ChunkTranscript{{Offset: 0, Duration: 5}, {Offset: 5, Duration: 5, Segments: []TranscriptionSegment{}}},
			want:   []Segment{},
			text:   "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(tt.chunks)
			if !reflect.DeepEqual(got.Segments, tt.want) {
				t.Errorf("segments\n got %+v\nwant %+v", got.Segments, tt.want)
			}
			if got.Text != tt.text {
				t.Errorf("text %q, want %q", got.Text, tt.text)
			}
		})
	}
}

func ptr(f float64) *float64 { return &f }

func TestFilter(t *testing.T) {
	f := NewFilter(DefaultHallucinations, 0.6, -1)
	tr := &Transcription{Segments: []TranscriptionSegment{
		{Start: 0, End: 2, Text: "我们开始吧。"},
		{Start: 2, End: 4, Text: "字幕由Amara.org社群提供"},
		{Start: 4, End: 6, Text: "好的。请不吝点赞 订阅 转发 打赏支持明镜与点点栏目"},
		{Start: 6, End: 8, Text: "嗯", NoSpeechProb: ptr(0.9), AvgLogprob: ptr(-1.4)},
		{Start: 8, End: 9, Text: "安静但清楚", NoSpeechProb: ptr(0.9), AvgLogprob: ptr(-0.3)},
		{Start: 9, End: 10, Text: "只有一个指标", NoSpeechProb: ptr(0.95)},
	}}
	if n := f.Apply(tr); n != 2 {
		t.Errorf("dropped %d, want 2", n)
	}
	var texts []string
	for _, s := range tr.Segments {
		texts = append(texts, s.Text)
	}
	want := []string{"我们开始吧。", "好的。", "安静但清楚", "只有一个指标"}
	if !reflect.DeepEqual(texts, want) {
		t.Errorf("kept %q, want %q", texts, want)
	}
	if tr.Text != "我们开始吧。好的。安静但清楚只有一个指标" {
		t.Errorf("text %q", tr.Text)
	}

	only := &Transcription{Text: "字幕由 amara.org 社群提供。"}
	f.Apply(only)
	if only.Text != "" {
		t.Errorf("text-only hallucination kept: %q", only.Text)
	}
}

func TestParseTranscription(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		ct       string
		format   string
		duration float64
		want     []TranscriptionSegment
		text     string
	}{
		{"verbose_json seconds", `{"text":"你好。","segments":[{"start":0.0,"end":1.5,"text":" 你好。","avg_logprob":-0.2,"no_speech_prob":0.01,"compression_ratio":1.2}]}`,
			"application/json", "verbose_json", 2, []TranscriptionSegment{{Start: 0, End: 1.5, Text: "你好。", AvgLogprob: ptr(-0.2), NoSpeechProb: ptr(0.01), CompressionRatio: ptr(1.2)}}, "你好。"},
		{"localai nanoseconds", `{"segments":[{"id":0,"start":0,"end":9640000000,"text":"一","tokens":[1]},{"id":1,"start":9640000000,"end":12000000000,"text":"二"}],"text":""}`,
			"application/json", "verbose_json", 12, []TranscriptionSegment{{Start: 0, End: 9.64, Text: "一"}, {Start: 9.64, End: 12, Text: "二"}}, "一二"},
		{"nanoseconds without a known duration", `{"segments":[{"start":500000000,"end":1500000000,"text":"短"}]}`,
			"application/json", "verbose_json", 0, []TranscriptionSegment{{Start: 0.5, End: 1.5, Text: "短"}}, "短"},
		{"string times", `{"text":"x","segments":[{"start":"1.25","end":"2","text":"x"}]}`,
			"application/json", "verbose_json", 3, []TranscriptionSegment{{Start: 1.25, End: 2, Text: "x"}}, "x"},
		{"text only", `{"text":"只有文字"}`, "application/json", "verbose_json", 5, nil, "只有文字"},
		{"plain text body when text was asked", "纯文本\n", "text/html; charset=utf-8", "text", 5, nil, "纯文本"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTranscription([]byte(tt.body), tt.ct, tt.format, tt.duration)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Segments, tt.want) {
				t.Errorf("segments\n got %+v\nwant %+v", got.Segments, tt.want)
			}
			if got.Text != tt.text {
				t.Errorf("text %q, want %q", got.Text, tt.text)
			}
		})
	}
	if _, err := parseTranscription([]byte(`{"error":"failed to read audio"}`), "application/json", "json", 1); err == nil {
		t.Error("a 200 with an error body parsed as a transcript")
	}
	var bad *BadAnswerError
	if _, err := parseTranscription([]byte(`{"detail":"Not Found"}`), "application/json", "json", 1); !errors.As(err, &bad) {
		t.Errorf("an object without text or segments parsed as a transcript (err %v)", err)
	}
	if got, err := parseTranscription([]byte(`{"text":""}`), "application/json", "json", 1); err != nil || got.Text != "" {
		t.Errorf("a silent chunk: %+v, %v", got, err)
	}
	// A proxy's error page answered with 200 is not a transcript, whatever its Content-Type says.
	for _, format := range []string{"json", "verbose_json"} {
		for _, ct := range []string{"text/html; charset=utf-8", "application/json", ""} {
			_, err := parseTranscription([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"), ct, format, 1)
			var bad *BadAnswerError
			if !errors.As(err, &bad) {
				t.Errorf("%s, %q: an HTML page parsed as a transcript (err %v)", format, ct, err)
			}
		}
	}
}
