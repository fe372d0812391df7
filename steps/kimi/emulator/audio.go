package emulator

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// AudioDuration returns the length in seconds of an audio file's bytes. WAV and FLAC are read from their
// headers (the audio step sends FLAC); anything else is measured with ffprobe when it is installed. ok is
// false when the length cannot be told.
func AudioDuration(ctx context.Context, data []byte, name string) (float64, bool) {
	if d, ok := wavDuration(data); ok {
		return d, true
	}
	if d, ok := flacDuration(data); ok {
		return d, true
	}
	return probeDuration(ctx, data, name)
}

func wavDuration(b []byte) (float64, bool) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, false
	}
	var byteRate uint32
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), binary.LittleEndian.Uint32(b[p+4:p+8])
		body := p + 8
		switch id {
		case "fmt ":
			if body+16 > len(b) {
				return 0, false
			}
			byteRate = binary.LittleEndian.Uint32(b[body+8 : body+12])
		case "data":
			if byteRate == 0 {
				return 0, false
			}
			n := uint64(size)
			// A WAV written to a pipe has no size (0 or 0xFFFFFFFF): the data runs to the end.
			if rest := uint64(len(b) - body); n == 0 || n == 0xFFFFFFFF || n > rest {
				n = rest
			}
			return float64(n) / float64(byteRate), true
		}
		p = body + int(size) + int(size&1)
	}
	return 0, false
}

func flacDuration(b []byte) (float64, bool) {
	// Skip an ID3v2 tag, which some encoders put before "fLaC".
	if len(b) >= 10 && string(b[0:3]) == "ID3" {
		n := int(b[6]&0x7f)<<21 | int(b[7]&0x7f)<<14 | int(b[8]&0x7f)<<7 | int(b[9]&0x7f)
		if 10+n > len(b) {
			return 0, false
		}
		b = b[10+n:]
	}
	// STREAMINFO is the first metadata block: 4-byte block header, then 34 bytes.
	if len(b) < 8+34 || string(b[0:4]) != "fLaC" || b[4]&0x7f != 0 {
		return 0, false
	}
	si := b[8 : 8+34]
	rate := uint32(si[10])<<12 | uint32(si[11])<<4 | uint32(si[12])>>4
	total := uint64(si[13]&0x0f)<<32 | uint64(binary.BigEndian.Uint32(si[14:18]))
	if rate == 0 || total == 0 {
		return 0, false
	}
	return float64(total) / float64(rate), true
}

func probeDuration(ctx context.Context, data []byte, name string) (float64, bool) {
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		return 0, false
	}
	f, err := os.CreateTemp("", "asr-emulator-*"+filepath.Ext(name))
	if err != nil {
		return 0, false
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	if cerr := f.Close(); werr != nil || cerr != nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-v", "error", "-show_entries", "format=duration",
		"-of", "default=noprint_wrappers=1:nokey=1", f.Name()).Output()
	if err != nil {
		return 0, false
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(bytes.TrimSpace(out))), 64)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}
