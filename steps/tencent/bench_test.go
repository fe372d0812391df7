package tencent

import (
	"context"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

// BenchmarkListMonth lists a month of 60 recordings (files, addresses, participants) from an emulator
// answering each call after 20 ms, with the client's rate limits off: the cost of the round trips.
func BenchmarkListMonth(b *testing.B) {
	start := base.Truncate(24 * time.Hour)
	fx, _ := manyFixture(start, 30*24*time.Hour, 60)
	s := emulator.New(emulator.Options{Fixture: fx, Latency: 20 * time.Millisecond})
	defer s.Close()
	c, err := NewClient(Config{BaseURL: s.URL(), SecretID: emulator.DefaultSecretID, SecretKey: emulator.DefaultSecretKey,
		EnterpriseID: emulator.DefaultAppID, RequestsPerSecond: -1, CorpRecordsPerMinute: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewLister(c, ListerConfig{Operator: "admin", RecordType: 1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	w := Window{Since: start, Until: start.Add(30 * 24 * time.Hour)}
	for b.Loop() {
		out := newSink()
		if err := l.List(context.Background(), w, out); err != nil {
			b.Fatal(err)
		}
		if len(out.order) != 60 {
			b.Fatalf("%d recordings", len(out.order))
		}
	}
	b.ReportMetric(float64(s.Count(emulator.EndpointParticipants))/float64(b.N), "participant-calls/op")
}
