package emulator

import (
	"encoding/binary"
	"fmt"
	"os"
)

// WriteWAV writes seconds of silence as 16-bit mono PCM WAV at rate Hz: audio of an exact, known length
// for tests and fixtures, with no tool needed.
func WriteWAV(path string, seconds float64, rate int) error {
	n := int(seconds * float64(rate))
	data := 2 * n
	b := make([]byte, 44+data)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(data))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write wav: %w", err)
	}
	return nil
}
