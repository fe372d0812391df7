// Package media drives the external tools that turn a recording into speech-recognition input: aria2c
// downloads the files, ffprobe and ffmpeg extract, normalise and cut the audio.
//
// The item shapes the steps exchange (File, Audio, Chunk) live here too, so that later steps decode them
// with the same types.
//
// It knows nothing of the pipeline engine: checks return the doctor's findings through the leaf package
// runner/finding.
package media
