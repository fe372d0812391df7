package mediatest

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Voices of a generated coaching session: a male voice for the teacher, a female one for the student.
const (
	TeacherVoice = "cmn+m3"
	StudentVoice = "cmn+f3"
)

// Line is one utterance of a dialogue: who says it, what, and the silence after it.
type Line struct {
	Speaker string // a label of the test's choosing, e.g. "teacher" or "student"
	Voice   string // espeak-ng voice; default TeacherVoice
	Text    string // spoken as written; punctuation (？) stays in Dialogue.Lines for transcripts
	After   time.Duration
}

// DialogueSpec is a two-voice session to generate.
type DialogueSpec struct {
	Lines []Line
	Lead  time.Duration // silence before the first line
	Name  string        // file name inside dir; default dialogue.mp4
}

// SpokenLine is a line as placed in the recording: Start and End in whole milliseconds from the file's
// start (speech is trimmed at sample precision, so the ms values are the sample positions rounded).
type SpokenLine struct {
	Speaker, Text string
	Start, End    int64
}

// Dialogue is a generated session.
type Dialogue struct {
	Path     string
	Duration float64 // seconds of audio
	Lines    []SpokenLine
}

// GenerateDialogue writes the session as an MP4 with an AAC track, like a meeting recording. The same
// spec gives the same bytes, so they are made once and kept in the cache Generate uses (cache.go); a
// cache miss needs espeak-ng and ffmpeg on PATH.
func GenerateDialogue(dir string, spec DialogueSpec) (Dialogue, error) {
	if spec.Name == "" {
		spec.Name = "dialogue.mp4"
	}
	return fromCache(cacheDir(), dir, spec.Name, dialogueKey(spec), dialoguePath, func(tmp, name string) (Dialogue, error) {
		spec.Name = name
		return generateDialogue(tmp, spec)
	})
}

// generateDialogue makes the dialogue with espeak-ng and ffmpeg, bypassing the cache; spec has its name.
func generateDialogue(dir string, spec DialogueSpec) (Dialogue, error) {
	ctx := context.Background()
	if err := needTools(); err != nil {
		return Dialogue{}, err
	}
	work, err := os.MkdirTemp(dir, ".dialogue-*")
	if err != nil {
		return Dialogue{}, err
	}
	defer os.RemoveAll(work)
	d := Dialogue{Path: filepath.Join(dir, spec.Name)}
	pcm := make([]int16, samples(spec.Lead))
	ms := func(n int) int64 { return int64(math.Round(float64(n) * 1000 / speechRate)) }
	for _, l := range spec.Lines {
		voice := l.Voice
		if voice == "" {
			voice = TeacherVoice
		}
		clip, err := speakVoice(ctx, work, voice, strings.NewReplacer("？", " ", "。", " ", "，", " ").Replace(l.Text))
		if err != nil {
			return Dialogue{}, err
		}
		start := len(pcm)
		pcm = append(pcm, clip...)
		d.Lines = append(d.Lines, SpokenLine{Speaker: l.Speaker, Text: l.Text, Start: ms(start), End: ms(len(pcm))})
		pcm = append(pcm, make([]int16, samples(l.After))...)
	}
	d.Duration = float64(len(pcm)) / speechRate
	wav := filepath.Join(work, "speech.wav")
	if err := writeWAV(wav, pcm); err != nil {
		return Dialogue{}, err
	}
	if err := writeMP4(ctx, d.Path, wav, 1, d.Duration, 64, 48, 2); err != nil {
		return Dialogue{}, err
	}
	return d, nil
}
