package media_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meetpipe/steps/media"
	"meetpipe/steps/media/mediatest"
)

// The media benchmarks take minutes and real CPU, so they run only when asked:
//
//	MEETPIPE_BENCH_MEDIA=1 go test -run '^$' -bench . -benchtime 1x ./steps/media/
func skipUnlessAsked(b *testing.B) {
	if os.Getenv("MEETPIPE_BENCH_MEDIA") == "" {
		b.Skip("set MEETPIPE_BENCH_MEDIA=1 to run the media benchmarks (a 60-minute meeting, ~2 minutes of CPU)")
	}
}

// childCPU is the CPU time (user+system) of the finished child processes so far.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAudio60Min runs what ffmpeg_audio does to a 60-minute meeting (normalise to 16 kHz mono FLAC
// with silence detection, then cut 10-minute chunks) for each codec, and reports ffmpeg's CPU seconds per
// hour of audio.
func BenchmarkAudio60Min(b *testing.B) {
	skipUnlessAsked(b)
	ctx := context.Background()
	spec := mediatest.MeetingSpec{Repeat: 60}
	for i := range 9 {
		spec.Silences = append(spec.Silences, time.Duration(1000+250*i)*time.Millisecond)
	}
	m, err := mediatest.Generate(b.TempDir(), spec)
	if err != nil {
		b.Fatal(err)
	}
	ff, err := media.NewFFmpeg()
	if err != nil {
		b.Fatal(err)
	}
	hours := m.Duration / 3600
	b.Logf("meeting: %.1f min", m.Duration/60)
	for _, codec := range media.Codecs {
		b.Run(codec, func(b *testing.B) {
			enc := media.Encoding{Codec: codec, SampleRate: 16000,
				Bitrate: map[string]int{"opus": 24000, "mp3": 32000}[codec]}
			var normCPU, cutCPU time.Duration
			var bytes int64
			b.ResetTimer()
			for range b.N {
				dir := b.TempDir()
				c0 := childCPU(b)
				full := filepath.Join(dir, "audio.flac")
				sil, err := ff.Normalize(ctx, []string{m.Path}, full, 16000,
					media.SilenceDetect{Noise: "-35dB", Min: 500 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				p, err := ff.Probe(ctx, full)
				if err != nil {
					b.Fatal(err)
				}
				c1 := childCPU(b)
				spans := media.Plan(p.Duration, sil, media.PlanOptions{
					Max: min(600, enc.MaxSeconds(25_000_000)), Window: 60, Overlap: 2})
				for i, sp := range spans {
					dst := filepath.Join(dir, fmt.Sprintf("chunk-%03d%s", i, enc.Ext()))
					if err := ff.Cut(ctx, full, dst, sp.Start, sp.End-sp.Start, enc); err != nil {
						b.Fatal(err)
					}
					fi, _ := os.Stat(dst)
					bytes += fi.Size()
				}
				normCPU += c1 - c0
				cutCPU += childCPU(b) - c1
			}
			n := float64(b.N)
			b.ReportMetric((normCPU+cutCPU).Seconds()/n/hours, "cpu-s/audio-h")
			b.ReportMetric(normCPU.Seconds()/n/hours, "normalize-cpu-s/audio-h")
			b.ReportMetric(cutCPU.Seconds()/n/hours, "chunks-cpu-s/audio-h")
			b.ReportMetric(float64(bytes)/n/hours/1e6, "chunk-MB/audio-h")
		})
	}
}

// BenchmarkAria2Connections downloads a 24 MiB file from a server that lets each connection have 1 MiB/s,
// with 1 and with 8 connections, and reports the throughput.
func BenchmarkAria2Connections(b *testing.B) {
	skipUnlessAsked(b)
	const size, rate = 24 << 20, 1 << 20
	data := make([]byte, size)
	_, _ = rand.Read(data)
	srv := mediatest.NewServer()
	defer srv.Close()
	srv.Add("big.mp4", data)
	srv.SetRate(rate)
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("connections=%d", conns), func(b *testing.B) {
			a, err := media.NewAria2()
			if err != nil {
				b.Fatal(err)
			}
			a.Connections, a.Split = conns, conns
			var elapsed time.Duration
			b.ResetTimer()
			for range b.N {
				path := filepath.Join(b.TempDir(), "big.mp4")
				t0 := time.Now()
				if err := a.Download(context.Background(), srv.URL("big.mp4"), path, nil); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(t0)
				if fi, err := os.Stat(path); err != nil || fi.Size() != size {
					b.Fatalf("downloaded %v bytes (%v), want %d", fi.Size(), err, size)
				}
			}
			b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds()/(1<<20), "MiB/s")
			b.SetBytes(size)
		})
	}
}
