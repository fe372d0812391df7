package steps

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
	"meetpipe/steps/tencent/emulator"
)

// stuckEmitter is an engine emitter that tells stuck from not ready, as the engine's does.
type stuckEmitter struct{ notReady, stuck []string }

func (e *stuckEmitter) Emit(context.Context, string, step.Fields) error { return nil }
func (e *stuckEmitter) NotReady(id string, _ any, _ string)             { e.notReady = append(e.notReady, id) }
func (e *stuckEmitter) Stuck(id string, _ any, _ string)                { e.stuck = append(e.stuck, id) }

type plainEmitter struct{ notReady []string }

func (e *plainEmitter) Emit(context.Context, string, step.Fields) error { return nil }
func (e *plainEmitter) NotReady(id string, _ any, _ string)             { e.notReady = append(e.notReady, id) }

func TestTencentSinkReportsStuckToTheEngine(t *testing.T) {
	se := &stuckEmitter{}
	engineSink{se}.Stuck("a", nil, "participants not read")
	engineSink{se}.NotReady("b", nil, "transcoding")
	if len(se.stuck) != 1 || se.stuck[0] != "a" || len(se.notReady) != 1 || se.notReady[0] != "b" {
		t.Errorf("stuck %v, not ready %v", se.stuck, se.notReady)
	}
	pe := &plainEmitter{}
	engineSink{pe}.Stuck("a", nil, "participants not read")
	if len(pe.notReady) != 1 {
		t.Errorf("an emitter without Stuck got %v", pe.notReady)
	}
}

// The listing's retry warnings reach the run's logger (the engine's, from the step's context) at WARN.
func TestTencentListLogsThroughTheRun(t *testing.T) {
	s := emulator.New(emulator.Options{Fixture: tencentFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	src := fmt.Sprintf("secret_id: AKID_x\nsecret_key: SK_x\nenterprise_id: corp-1\nbase_url: %s\nbackoff: 1ms\nretries: 2\noperator_id: admin\nrequests_per_second: 1000\ncorp_records_per_minute: 10000\n", s.URL())
	impl, _ := steptest.Build(t, "tencent_list", src)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.FailNext(emulator.EndpointCorpRecords, 2, emulator.Fault{Kind: emulator.FaultGateway})
	out := &stuckEmitter{}
	window := step.Window{Since: tencentBase.Add(-time.Hour), Until: tencentBase.Add(time.Hour)}
	if err := impl.(step.Source).List(step.WithLogger(context.Background(), log), window, out); err != nil {
		t.Fatalf("retries: 2 did not cover two failed pages: %v", err)
	}
	if n := s.Count(emulator.EndpointCorpRecords); n != 3 {
		t.Errorf("%d listing requests, want 3", n)
	}
	if got := strings.Count(buf.String(), "level=WARN msg=\"tencent request failed, retrying\" path=/v1/corp/records"); got != 2 {
		t.Errorf("%d retry warnings in the run's log, want 2:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), "level=DEBUG msg=\"tencent request\"") {
		t.Errorf("no debug request line in the run's log:\n%s", buf.String())
	}
}

// One retry layer: a failing download-address lookup costs one request per attempt of the step that
// reads the addresses (its retry:), not the client's retries inside each attempt.
func TestAddressLookupRetriedByTheEngineOnly(t *testing.T) {
	t.Parallel() // its own servers and files
	s := emulator.New(emulator.Options{Fixture: tencentFixture(), SecretID: "AKID_x", SecretKey: "SK_x", AppID: "corp-1"})
	t.Cleanup(s.Close)
	src := tencentPipeline("addresses", t.TempDir(), s, "      operator_id: admin\n") + `
  - uses: aria2_download
    retry: { attempts: 3, backoff: 1ms }
    with: { connections: 1 }
`
	p, err := runner.LoadBytes("addresses.yaml", []byte(src), runner.LoadOptions{Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s.FailNext(emulator.EndpointAddresses, 100, emulator.Fault{Kind: emulator.FaultGateway})
	sum, err := p.Run(context.Background(), runner.RunOptions{Logger: slog.New(slog.DiscardHandler),
		Since: tencentBase.Add(-time.Hour), Until: tencentBase.Add(time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "addresses of recording") {
		t.Fatalf("run error %v, want the failed address lookups", err)
	}
	if sum == nil || sum.Failed != 2 || sum.Done != 0 {
		t.Fatalf("summary %+v, want both recordings failed", sum)
	}
	if n := s.Count(emulator.EndpointAddresses); n != 2*3 {
		t.Errorf("%d address requests for 2 recordings under attempts: 3, want 6", n)
	}
	for _, f := range sum.Failures {
		if f.Kind != step.KindTransient.String() || !strings.Contains(f.Error, "addresses") {
			t.Errorf("failure %+v, want a transient address failure", f)
		}
	}
}
