package coach

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Normalize folds text for the quote check: NFKC (full-width letters, digits and punctuation become their
// ASCII forms), lower case, and no spaces, punctuation or symbols, so that an ASR's "，" against a model's
// "," or a dropped space does not reject a verbatim quote (coaching-anchors.md §b.2).
func Normalize(s string) string {
	s = norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Quotes checks quotes against one transcript, normalised once.
type Quotes struct{ text string }

// NewQuotes prepares the check against a session's transcript.
func NewQuotes(transcript string) *Quotes { return &Quotes{text: Normalize(transcript)} }

// MinQuoteRunes is the shortest normalised quote taken as evidence: one or two characters are found in
// any transcript and prove nothing.
const MinQuoteRunes = 4

// Found reports whether quote is in the transcript after normalising both.
func (q *Quotes) Found(quote string) bool {
	n := Normalize(quote)
	return len([]rune(n)) >= MinQuoteRunes && strings.Contains(q.text, n)
}

// ItemKey is the stable key of an action item: the recording and the normalised task, so that a rerun of
// the same session finds the same row however the model spaced or punctuated the task.
func ItemKey(recordingID, task string) string {
	sum := sha256.Sum256([]byte(recordingID + "\x00" + Normalize(task)))
	return hex.EncodeToString(sum[:8])
}
