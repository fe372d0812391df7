package media

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File is one downloaded recording file: an element of the `media` field that aria2_download writes.
type File struct {
	FileID string `json:"file_id" expr:"file_id"`
	Path   string `json:"path" expr:"path"`
	Bytes  int64  `json:"bytes" expr:"bytes"`
}

// Audio is the `audio` field that ffmpeg_audio writes: the whole recording as one normalised audio file
// and the chunks a speech recogniser takes.
type Audio struct {
	Path      string  `json:"path" expr:"path"`             // whole recording, FLAC, mono, sample_rate
	DurationS float64 `json:"duration_s" expr:"duration_s"` // of Path
	Codec     string  `json:"codec" expr:"codec"`           // of the chunks: flac, opus or mp3
	Bytes     int64   `json:"bytes" expr:"bytes"`           // sum of the chunks' sizes
	Chunks    []Chunk `json:"chunks" expr:"chunks"`
	// Keep is ffmpeg_audio's keep_media setting: when false, the step that consumes the audio deletes it
	// (RemoveAudio) once its own output is safe.
	Keep bool `json:"keep" expr:"keep"`
}

// Chunk is a piece of the recording. OffsetS is where it starts in the whole recording, so a segment at t
// seconds into the chunk is at OffsetS+t. Consecutive chunks either meet at a silence or, where none was
// found, overlap by a few seconds.
type Chunk struct {
	Path      string  `json:"path" expr:"path"`
	OffsetS   float64 `json:"offset_s" expr:"offset_s"`
	DurationS float64 `json:"duration_s" expr:"duration_s"`
	Bytes     int64   `json:"bytes" expr:"bytes"`
}

// RemoveAudio deletes the audio files of a (the whole recording and its chunks) and their directory when
// it is left empty. Files already gone are not an error.
func RemoveAudio(a Audio) error {
	var errs []error
	paths := []string{a.Path}
	for _, c := range a.Chunks {
		paths = append(paths, c.Path)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if a.Path != "" {
		_ = os.Remove(filepath.Dir(a.Path)) // only succeeds when empty
	}
	return errors.Join(errs...)
}

// SafeName turns an identifier from an API into a file name that cannot escape a directory or collide
// with another identifier: the identifier's safe characters (at most 32) and a hash of all of it.
func SafeName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= 32 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%s-%s", b.String(), hex.EncodeToString(sum[:4]))
}

// FileName is the name of the index-th (0-based) file of a recording, built from its position and its id.
func FileName(index int, fileID, ext string) string {
	return fmt.Sprintf("%02d-%s%s", index+1, SafeName(fileID), ext)
}
