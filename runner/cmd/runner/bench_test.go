package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/internal/demo"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
	kimiemu "meetpipe/steps/kimi/emulator"
	"meetpipe/steps/media/mediatest"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
	tencentemu "meetpipe/steps/tencent/emulator"
)

// BenchmarkPipeline runs 200 recordings through pipelines/meeting.yaml with emulated latencies (Tencent
// 20 ms a call, ASR 300 ms a chunk, model 200 ms a call, media throttled per connection) and reports the
// wall time against the lower bound the configured limits allow, against every concurrency set to 1, the
// rerun's wall time and the runner's peak RSS. It runs only with MEETPIPE_BENCH=1 (`just bench`):
//
//	MEETPIPE_BENCH=1 go test -run '^$' -bench Pipeline -benchtime 1x ./runner/cmd/runner/
func BenchmarkPipeline(b *testing.B) {
	if os.Getenv("MEETPIPE_BENCH") == "" {
		b.Skip("set MEETPIPE_BENCH=1 to run the pipeline benchmark (about 3 minutes)")
	}
	const n = 200
	lat := demo.ServerOptions{TencentLatency: 20 * time.Millisecond, ASRLatency: 300 * time.Millisecond,
		MoonshotLatency: 200 * time.Millisecond, Throttle: 1 << 20}
	env := map[string]string{"TQM_MODE": "per_teacher", "TQM_RPS": "50", "ASR_CONCURRENCY": "4", "ASR_RPM": "6000",
		"KIMI_CONCURRENCY": "4", "KIMI_RPM": "6000"}
	data := benchData(b, n)

	for range b.N {
		fast := benchRun(b, data, lat, env, false)
		seq := benchRun(b, data, lat, env, true)
		b.ReportMetric(fast.wall.Seconds(), "s/run")
		b.ReportMetric(fast.rerun.Seconds(), "s/rerun")
		b.ReportMetric(fast.bound.Seconds(), "s/bound")
		b.ReportMetric(seq.wall.Seconds(), "s/run-conc1")
		b.ReportMetric(float64(fast.rss)/(1<<20), "MiB-peak-rss")
		fmt.Printf("\n200 recordings, latencies: tencent 20ms/call, asr 300ms/chunk, model 200ms/call, media 1 MiB/s per connection\n")
		fmt.Printf("  lower bound (configured limits): %6.1f s   (%s)\n", fast.bound.Seconds(), fast.why)
		fmt.Printf("  first run:                       %6.1f s   = %.2f × the bound\n", fast.wall.Seconds(), fast.wall.Seconds()/fast.bound.Seconds())
		fmt.Printf("  every concurrency 1:             %6.1f s   = %.2f × the first run (bound %.1f s)\n", seq.wall.Seconds(), seq.wall.Seconds()/fast.wall.Seconds(), seq.bound.Seconds())
		fmt.Printf("  rerun (all memoized):            %6.2f s   = %.1f%% of the first run\n", fast.rerun.Seconds(), 100*fast.rerun.Seconds()/fast.wall.Seconds())
		fmt.Printf("  runner peak RSS:                 %6.1f MiB (rerun %.1f MiB)\n", float64(fast.rss)/(1<<20), float64(fast.rerunRSS)/(1<<20))
		fmt.Printf("  remote calls, first run: tencent %d, asr %d, model %d\n", fast.tencent, fast.asr, fast.chat)
	}
}

// benchData holds n recordings cycling through the five demo sessions that are stored.
func benchData(tb testing.TB, n int) *demo.Data {
	tb.Helper()
	base := demoFixture(tb, 1)
	dir := tb.TempDir()
	fx := &tencentemu.Fixture{Admins: []string{"admin"}}
	asr := &kimiemu.ASRFixture{Tolerance: base.ASR.Tolerance}
	var stored []int
	for i, m := range demo.Meetings {
		if m.WantPhase != "" {
			stored = append(stored, i)
		}
	}
	media := map[int][]mediatest.Meeting{}
	for _, i := range stored {
		files, err := demo.Media(filepath.Join(base.Dir, "media"), i, demo.Meetings[i])
		if err != nil {
			tb.Fatal(err)
		}
		media[i] = files
		asr.Entries = append(asr.Entries, base.ASR.Entries[i])
	}
	for k := range n {
		i := stored[k%len(stored)]
		m := demo.Meetings[i]
		start := demo.Since.Add(24*time.Hour + time.Duration(k)*15*time.Minute)
		fx.Meetings = append(fx.Meetings, demo.FixtureMeeting(m, fmt.Sprintf("19647870705%08d", k), fmt.Sprintf("17396264377%08d", k),
			fmt.Sprintf("9%08d", k), start, media[i]))
	}
	return &demo.Data{Dir: dir, Tencent: fx, ASR: asr}
}

type benchResult struct {
	wall, rerun, bound time.Duration
	why                string
	rss, rerunRSS      int64
	tencent, asr, chat int
}

// benchRun runs the pipeline twice on a fresh database and state: the first run and the rerun.
func benchRun(b *testing.B, data *demo.Data, o demo.ServerOptions, extra map[string]string, sequential bool) benchResult {
	b.Helper()
	srv, err := demo.StartServers(data, o)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	dir := b.TempDir()
	dsn := storetest.DB(b)
	env := srv.Env(store.Config{DSN: dsn}, filepath.Join(dir, "state"))
	env["MEETPIPE_LOG_FILE"] = filepath.Join(dir, "runner.log")
	env["LOG_LEVEL"] = "warn"
	for k, v := range extra {
		env[k] = v
	}
	delete(env, "TQM_TEACHERS") // per_teacher: list the whitelist
	pipeline := filepath.Join(repoRoot(b), "pipelines", "meeting.yaml")
	if sequential {
		for k := range env {
			if strings.HasSuffix(k, "_CONCURRENCY") {
				env[k] = "1"
			}
		}
		src, _ := os.ReadFile(pipeline)
		one := regexp.MustCompile(`(?m)^(\s+concurrency: )\d+`).ReplaceAll(src, []byte("${1}1"))
		pipeline = filepath.Join(dir, "meeting-sequential.yaml")
		os.WriteFile(pipeline, one, 0o644)
	}
	envFile := filepath.Join(dir, "bench.env")
	if err := demo.WriteEnvFile(envFile, env); err != nil {
		b.Fatal(err)
	}
	run := func() (time.Duration, int64) {
		cmd := exec.Command(runnerBinary(b), "run", pipeline, "--env-file", envFile, "--plugins", filepath.Join(repoRoot(b), "plugins"),
			"--since", demo.Since.Format(time.RFC3339), "--until", demo.Until.Format(time.RFC3339), "--log-format", "json")
		cmd.Dir = repoRoot(b)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var peak atomic.Int64
		done := make(chan struct{})
		go func() { // the runner's own resident set, not its children's
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if kb := vmHWM(cmd.Process.Pid); kb > peak.Load() {
					peak.Store(kb)
				}
			}
		}()
		err := cmd.Wait()
		close(done)
		wall := time.Since(start)
		if err != nil {
			b.Fatalf("runner: %v\n%s", err, tail(stderr.String(), 3000))
		}
		return wall, peak.Load() * 1024
	}
	var r benchResult
	r.wall, r.rss = run()
	r.tencent = len(srv.Tencent.Requests("")) - srv.Tencent.Count(tencentemu.EndpointMedia)
	r.asr = srv.ASR.Counters().Requests
	r.chat = srv.Moonshot.Counters().Chat
	r.bound, r.why = lowerBound(b, filepath.Join(dir, "state"), pipeline, env, o, r)
	r.rerun, r.rerunRSS = run()
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// vmHWM reads a process's peak resident set in KiB.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return 0
}

// lowerBound is the shortest time the configured limits allow: the busiest stage's total work divided by
// its capacity, plus the other stages' shortest time for one item (the first item must reach the busiest
// stage and the last must leave it). Remote stages count their emulated latency and limits; local stages
// (aria2c, ffmpeg, MySQL) count the service times the run measured.
func lowerBound(b *testing.B, stateDir, pipeline string, env map[string]string, o demo.ServerOptions, r benchResult) (time.Duration, string) {
	p, err := runner.Load(pipeline, runner.LoadOptions{Env: env, StateDir: stateDir, DryRun: true, Registry: mustRegistry(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	st, err := state.Open(stateDir, true)
	if err != nil {
		b.Fatal(err)
	}
	conc := stepConcurrency(pipeline)
	atoi := func(k string) float64 { v, _ := strconv.ParseFloat(env[k], 64); return v }
	rps := atoi("TQM_RPS")
	stages := map[string]time.Duration{}
	minItem := map[string]time.Duration{}
	ids := storedIDs(b, stateDir)
	for _, step := range []string{"aria2_download", "ffmpeg_audio", "mysql_upsert"} {
		var sum time.Duration
		min := time.Hour
		for _, id := range ids {
			rec, _ := st.Record(id, step)
			if rec == nil {
				continue
			}
			d := rec.Finished.Sub(rec.Started)
			sum += d
			if d < min {
				min = d
			}
		}
		stages[step] = sum / time.Duration(conc[step])
		minItem[step] = min
	}
	perCall := max(o.TencentLatency, time.Duration(float64(time.Second)/rps))
	stages["tencent_list"] = time.Duration(r.tencent) * perCall // the lister makes its calls one after another
	minItem["tencent_list"] = 3 * o.TencentLatency
	asrSlots := min(float64(conc["kimi_asr"]), atoi("ASR_CONCURRENCY"))
	stages["kimi_asr"] = max(time.Duration(float64(r.asr)*float64(o.ASRLatency)/asrSlots), time.Duration(float64(r.asr)/atoi("ASR_RPM")*float64(time.Minute)))
	minItem["kimi_asr"] = o.ASRLatency
	chatSlots := min(float64(conc["kimi_classify"]), atoi("KIMI_CONCURRENCY"))
	stages["kimi_classify"] = max(time.Duration(float64(r.chat)*float64(o.MoonshotLatency)/chatSlots), time.Duration(float64(r.chat)/atoi("KIMI_RPM")*float64(time.Minute)))
	minItem["kimi_classify"] = o.MoonshotLatency
	var names []string
	for k := range stages {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return stages[names[i]] > stages[names[j]] })
	busiest := names[0]
	bound := stages[busiest]
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %.1fs", k, stages[k].Seconds()))
		if k != busiest {
			bound += minItem[k]
		}
	}
	return bound, "busiest " + busiest + "; stage totals: " + strings.Join(parts, ", ")
}

func mustRegistry(b *testing.B) *step.Registry {
	reg, err := registry(filepath.Join(repoRoot(b), "plugins"), "x/x")
	if err != nil {
		b.Fatal(err)
	}
	return reg
}

// stepConcurrency reads each step's concurrency from the pipeline file.
func stepConcurrency(pipeline string) map[string]int {
	src, _ := os.ReadFile(pipeline)
	out := map[string]int{}
	var cur string
	for _, line := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "- uses: ") {
			cur = strings.TrimPrefix(t, "- uses: ")
			out[cur] = 1
		} else if strings.HasPrefix(t, "concurrency: ") && cur != "" && strings.HasPrefix(line, "    c") {
			n, _ := strconv.Atoi(strings.TrimPrefix(t, "concurrency: "))
			out[cur] = n
		}
	}
	return out
}

func storedIDs(b *testing.B, stateDir string) []string {
	entries, err := os.ReadDir(filepath.Join(stateDir, "items"))
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}
