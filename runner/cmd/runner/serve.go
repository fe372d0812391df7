package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"meetpipe/runner"
	"meetpipe/runner/internal/push"
	"meetpipe/runner/internal/state"
	"meetpipe/runner/step"
	"meetpipe/steps/tencent"
	"meetpipe/steps/tencent/webhook"
)

// runner serve: Tencent's webhook receiver, the nightly catch-up and the STS token requests in one
// long-running service. The engine knows nothing of it: serve asks the pipeline's source (tencent_list)
// to locate an event's recordings and runs them through the same pipeline as `runner run --only`.

// Secrets of the webhook, from the environment or the env file; never logged.
const (
	envWebhookToken  = "TQM_WEBHOOK_TOKEN"
	envWebhookAESKey = "TQM_WEBHOOK_AES_KEY"
)

// locator is the source's push hook (steps/tencent_push.go).
type locator interface {
	Locate(ctx context.Context, ev *webhook.Event) ([]step.Pending, error)
}

// stsRequester asks for an STS token ([COMMUNITY] POST /v1/app/sts-token).
type stsRequester interface {
	RequestSTSToken(ctx context.Context, hours int) (string, error)
}

// STS timing: 24 h tokens, asked again when a third of the lifetime is left (community code uses 5 min or
// a third; tencent-meeting-api.md §10.2.5), and not more often than stsCooldown while none arrives.
const (
	stsHours         = 24
	stsRefreshBefore = 8 * time.Hour
	stsCooldown      = 10 * time.Minute
	stsGiveUp        = 6 * time.Hour
)

// Retry waits of the worker.
const (
	lockedRetry   = 30 * time.Second // a `runner run` holds the state directory
	locateRetry   = 2 * time.Minute  // the listing does not show the pushed recording yet
	locateTries   = 6
	failedRetry   = time.Minute
	readyCacheFor = 30 * time.Second
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var (
		lf                  loadFlags
		listen              string
		logLevel, logFormat string
		logFile             string
		grace               time.Duration
		maxBody             int64
	)
	lf.register(fs)
	fs.StringVar(&listen, "listen", "127.0.0.1:8787", "address of the webhook receiver, /healthz, /readyz and /metrics (put a TLS reverse proxy in front)")
	fs.StringVar(&logLevel, "log-level", "", "debug, info, warn or error (default $LOG_LEVEL or info)")
	fs.StringVar(&logFormat, "log-format", "auto", "auto (colours on a terminal, else JSON), text or json")
	fs.StringVar(&logFile, "log-file", "", "also append JSON logs to this file (default: the pipeline's log_file)")
	fs.DurationVar(&grace, "grace", 0, "after SIGTERM, how long in-flight work may finish (default: the pipeline's grace)")
	fs.Int64Var(&maxBody, "max-body", push.DefaultMaxBody, "largest webhook body accepted, in bytes (larger: 413)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 {
		return usageError{errors.New("serve: want exactly one pipeline file")}
	}
	if grace < 0 || grace > runner.MaxWait {
		return usageError{fmt.Errorf("serve: --grace %s: want a duration from 0s to %s", grace, runner.MaxWait)}
	}
	if maxBody < 1024 {
		return usageError{fmt.Errorf("serve: --max-body %d: want at least 1024", maxBody)}
	}
	env, err := lf.env()
	if err != nil {
		return err
	}
	if logLevel == "" {
		logLevel = env["LOG_LEVEL"]
	}
	secrets := &step.Secrets{}
	token, aesKey := strings.TrimSpace(env[envWebhookToken]), strings.TrimSpace(env[envWebhookAESKey])
	secrets.Add(token)
	secrets.Add(aesKey)
	file := &lateFile{}
	defer file.Close()
	log, _, closeLog, err := newLog(stderr, logSetup{level: logLevel, format: logFormat, tee: file, secrets: secrets})
	if err != nil {
		return usageError{fmt.Errorf("serve: %w", err)}
	}
	defer closeLog()
	cipher, err := webhook.NewCipher(aesKey)
	if err != nil {
		return usageError{fmt.Errorf("serve: %s: %w", envWebhookAESKey, err)}
	}
	p, err := lf.loadWith(pos[0], env, false, time.Now(), secrets)
	if err != nil {
		return usageError{err}
	}
	defer p.Close()
	if logFile == "" {
		logFile = p.LogFile
	}
	if err := file.Open(logFile); err != nil {
		return usageError{fmt.Errorf("serve: %w", err)}
	}
	if grace == 0 {
		grace = p.Grace
	}
	inbox, err := push.OpenInbox(p.StateDir)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer inbox.Close()

	s := &service{p: p, log: log, inbox: inbox, wake: make(chan struct{}, 1), grace: grace, attempts: map[string]int{}}
	s.m = push.NewMetrics(func() float64 { return float64(inbox.Len()) })
	rc := &push.Receiver{Token: token, Cipher: cipher, Inbox: inbox, Metrics: s.m, Log: log.With("component", "webhook"),
		MaxBody: maxBody, Accepted: s.poke, Ready: s.ready}
	mux := http.NewServeMux()
	if token == "" {
		// Without a token nothing can be verified: the receiver is off, the rest of the service runs.
		log.Warn("webhook receiver off: " + envWebhookToken + " is not set; serving the catch-up run, /healthz, /readyz and /metrics")
		h := rc.Handler()
		mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == push.Path {
				http.Error(w, "webhook not configured", http.StatusNotFound)
				return
			}
			h.ServeHTTP(w, r)
		}))
	} else {
		mux.Handle("/", rc.Handler())
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { s.work(ctx) })
	if token != "" {
		wg.Go(func() { s.stsLoop(ctx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "runner serve: listening on http://%s%s\n", ln.Addr(), push.Path)
	log.Info("serving", "addr", ln.Addr().String(), "path", push.Path, "queued", inbox.Len(),
		"catch_up", p.Schedule.At, "catch_up_since", p.Schedule.Since.String())

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stop()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopping: no new events; in-flight work may finish", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	srv.Shutdown(sctx) //nolint:errcheck // after grace, connections are closed anyway
	wg.Wait()          // the run in flight drains within grace (RunOptions.Grace)
	log.Info("stopped", "queued", inbox.Len())
	return nil
}

// service is serve's worker state.
type service struct {
	p        *runner.Pipeline
	log      *slog.Logger
	inbox    *push.Inbox
	m        *push.Metrics
	wake     chan struct{}
	grace    time.Duration
	attempts map[string]int // locate tries per inbox entry

	readyMu  sync.Mutex
	readyAt  time.Time
	readyErr error
}

func (s *service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// work processes the inbox (at start: what a crash left) and runs the catch-up on schedule, one run at a
// time: runs share the state directory's lock with `runner run`, so the two never process it at once.
func (s *service) work(ctx context.Context) {
	next := s.p.Schedule.Next(time.Now())
	for {
		retry := s.processInbox(ctx)
		if ctx.Err() != nil {
			return
		}
		if !time.Now().Before(next) {
			if again := s.catchUp(ctx, next); again > 0 {
				next = time.Now().Add(again)
			} else {
				next = s.p.Schedule.Next(time.Now().Add(time.Minute))
			}
			continue
		}
		wait := time.Until(next)
		if retry > 0 && retry < wait {
			wait = retry
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// catchUp runs the schedule's window, as the nightly timer did; it returns a wait when it must be tried
// again (the state directory was busy).
func (s *service) catchUp(ctx context.Context, at time.Time) time.Duration {
	now := time.Now()
	s.log.Info("catch-up run", "scheduled", at.Format(time.RFC3339), "since", s.p.Schedule.Since.String())
	sum, err := s.p.Run(ctx, runner.RunOptions{Since: now.Add(-s.p.Schedule.Since), Until: now, Logger: s.log, Grace: s.grace})
	if errors.Is(err, state.ErrLocked) {
		s.log.Info("catch-up run waits: the state directory is busy (a `runner run`?)", "retry_in", lockedRetry.String())
		return lockedRetry
	}
	s.count("catchup", sum, err)
	return 0
}

// count records a run's outcome in the metrics.
func (s *service) count(kind string, sum *step.Summary, err error) {
	if sum == nil {
		s.m.Runs.WithLabelValues(kind, "error").Inc()
		s.log.Error("run could not start", "kind", kind, "err", s.p.Secrets.Scrub(fmt.Sprint(err)))
		return
	}
	s.m.Runs.WithLabelValues(kind, string(sum.Status)).Inc()
	s.m.Items.WithLabelValues("done").Add(float64(sum.Done))
	s.m.Items.WithLabelValues("skipped").Add(float64(sum.Skipped))
	s.m.Items.WithLabelValues("failed").Add(float64(sum.Failed))
	s.m.Items.WithLabelValues("pending").Add(float64(sum.Deferred + sum.NotReady + sum.Stuck)) // this run's outcomes: a counter
}

// processInbox handles every stored event once and returns how soon to look again (0: nothing waits).
func (s *service) processInbox(ctx context.Context) time.Duration {
	entries, err := s.inbox.Pending()
	if err != nil {
		s.log.Error("cannot read the push inbox", "err", err)
		return failedRetry
	}
	var retry time.Duration
	later := func(d time.Duration) {
		if retry == 0 || d < retry {
			retry = d
		}
	}
	var targets []step.Pending
	var batch []push.Entry
	for _, e := range entries {
		if ctx.Err() != nil {
			return 0
		}
		ev, err := webhook.Parse(e.Event)
		if err != nil {
			s.log.Error("stored event unreadable; dropped", "entry", e.ID, "err", err)
			s.done(e)
			continue
		}
		log := s.log.With("event", ev.Name, "trace_id", ev.TraceID)
		switch ev.Name {
		case webhook.STSTokenEvent:
			if err := s.saveSTS(ev); err != nil {
				log.Error("cannot keep the STS token", "err", err)
				later(failedRetry)
				continue
			}
		case webhook.RecordingDeleted:
			s.m.Deleted.Inc()
			log.Info("recording deleted at Tencent (noted; stored rows are kept)", "record_file_ids", strings.Join(ev.RecordFileIDs(), ","))
		case webhook.RecordingCompleted, webhook.SmartTranscripts:
			loc, ok := s.p.Source().(locator)
			if !ok {
				log.Warn("the pipeline's source cannot locate pushed recordings; the catch-up run will list them")
				break
			}
			ts, err := loc.Locate(ctx, ev)
			if err != nil {
				if k, _ := step.Classify(err); k == step.KindPermanent {
					log.Error("cannot locate the event's recording; the catch-up run will list it", "err", s.p.Secrets.Scrub(err.Error()))
					break
				}
				log.Warn("locating the event's recording failed; trying again", "err", s.p.Secrets.Scrub(err.Error()))
				later(failedRetry)
				continue
			}
			if len(ts) == 0 {
				if s.attempts[e.ID]++; s.attempts[e.ID] < locateTries {
					log.Info("the event's recording is not listed yet; trying again", "retry_in", locateRetry.String())
					later(locateRetry)
					continue
				}
				log.Warn("the event's recording was never listed; the catch-up run will look again", "record_file_ids", strings.Join(ev.RecordFileIDs(), ","))
				break
			}
			targets = append(targets, ts...)
			batch = append(batch, e)
			continue
		default:
			log.Info("event not used; acknowledged and dropped")
		}
		s.done(e)
	}
	if len(targets) == 0 {
		return retry
	}
	now := time.Now()
	sum, err := s.p.Run(ctx, runner.RunOptions{Targets: targets, Since: now.Add(-24 * time.Hour), Until: now, Logger: s.log, Grace: s.grace})
	if errors.Is(err, state.ErrLocked) {
		s.log.Info("pushed recordings wait: the state directory is busy (a `runner run`?)", "retry_in", lockedRetry.String())
		later(lockedRetry)
		return retry
	}
	s.count("push", sum, err)
	if sum == nil {
		later(failedRetry)
		return retry
	}
	if sum.Status == step.RunInterrupted {
		return retry // the events stay stored and are replayed at the next start
	}
	// The run settled the targets: done, skipped, or in the pending list for later runs.
	for _, e := range batch {
		s.m.EventToRow.Observe(time.Since(e.Received).Seconds())
		s.done(e)
	}
	return retry
}

func (s *service) done(e push.Entry) {
	delete(s.attempts, e.ID)
	if err := s.inbox.Done(e.ID); err != nil {
		s.log.Error("cannot remove a processed event", "entry", e.ID, "err", err)
	}
}

// saveSTS keeps the event's tokens (mode 0600 under state_dir; the one that expires last wins).
func (s *service) saveSTS(ev *webhook.Event) error {
	for _, p := range ev.Payload {
		if p.Token == nil || p.Token.Token == "" {
			continue
		}
		s.p.Secrets.Add(p.Token.Token)
		if err := tencent.NewSTSStore(s.p.StateDir).Save(tencent.STSToken{Token: p.Token.Token, ExpireAt: p.Token.ExpireAt}); err != nil {
			return err
		}
		s.log.Info("STS token kept", "req_id", p.Token.ReqID, "expires", p.Token.ExpireAt.Format(time.RFC3339))
	}
	return nil
}

// stsLoop requests an STS token at start and before the stored one expires ([COMMUNITY] endpoint; the
// token arrives as a common.sts-token push).
func (s *service) stsLoop(ctx context.Context) {
	req, ok := s.p.Source().(stsRequester)
	if !ok {
		return
	}
	store := tencent.NewSTSStore(s.p.StateDir)
	for {
		now := time.Now()
		wait := stsCooldown
		tok, valid, err := store.Load(now)
		switch {
		case err != nil:
			s.log.Error("cannot read the STS token", "err", err)
		case valid && tok.ExpireAt.Sub(now) > stsRefreshBefore:
			wait = tok.ExpireAt.Sub(now) - stsRefreshBefore
		default:
			id, err := req.RequestSTSToken(ctx, stsHours)
			if err != nil {
				if k, _ := step.Classify(err); k == step.KindPermanent {
					wait = stsGiveUp // a missing operator or a refused right: asking every 10 minutes cannot help
				}
				s.log.Warn("STS token request failed", "err", s.p.Secrets.Scrub(err.Error()), "retry_in", wait.String())
			} else {
				s.log.Info("STS token requested; it arrives as a common.sts-token event", "req_id", id)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// ready reports whether the database, the other sinks and Tencent answer (the run's preflight and the
// source's own checks), cached for a while: probes come often, the checks make remote calls.
func (s *service) ready(ctx context.Context) error {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if time.Since(s.readyAt) < readyCacheFor {
		return s.readyErr
	}
	var fails []string
	for _, f := range s.p.Check(ctx, step.CheckOptions{Preflight: true}) {
		if f.Status == step.StatusFail {
			fails = append(fails, f.Step+": "+f.Subject+": "+f.Detail)
		}
	}
	if c, ok := s.p.Source().(step.Checker); ok {
		for _, f := range c.Check(ctx, step.CheckOptions{StateDir: s.p.StateDir}) {
			if f.Status == step.StatusFail {
				fails = append(fails, s.p.Stages()[0]+": "+f.Subject+": "+f.Detail)
			}
		}
	}
	s.readyAt, s.readyErr = time.Now(), nil
	if len(fails) > 0 {
		s.readyErr = errors.New(s.p.Secrets.Scrub(strings.Join(fails, "; ")))
	}
	return s.readyErr
}
