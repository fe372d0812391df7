package emulator

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// RunASRCLI runs the ASR emulator from command-line arguments until ctx is done. It prints
// "asr emulator listening on URL" once it serves.
//
//	--addr 127.0.0.1:0  --mode openai|vllm|kimi-audio|whispercpp|localai|siliconflow
//	--fixture FILE      --api-key KEY  --max-mb 25
//	--fault-rate 0.1    --faults server_error,reset,rate_limit  --retry-after 1s
//	--latency 300ms     --seed 1
func RunASRCLI(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("asr emulator", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o ASROptions
	var mode, fixture, faultList string
	var maxMB float64
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&mode, "mode", string(ModeOpenAI), "server to mimic: openai, vllm, kimi-audio, whispercpp, localai, siliconflow")
	fs.StringVar(&fixture, "fixture", "", "ASR fixture file (YAML or JSON); none: generated transcripts")
	fs.StringVar(&o.APIKey, "api-key", "", "bearer key to require (empty: any)")
	fs.Float64Var(&maxMB, "max-mb", 25, "upload limit in MiB (413 above)")
	fs.Float64Var(&o.FaultRate, "fault-rate", 0, "chance of a random fault per request")
	fs.StringVar(&faultList, "faults", "", "faults to draw from (default server_error,reset,rate_limit)")
	fs.DurationVar(&o.RetryAfter, "retry-after", time.Second, "wait announced by 429s")
	fs.DurationVar(&o.Latency, "latency", 0, "added latency per transcription")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed for faults")
	fs.Func("models", "list these model ids at GET /v1/models (comma-separated; default: not served)", func(v string) error {
		o.Models = strings.Split(v, ",")
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Mode = ASRMode(mode)
	o.MaxBytes = int64(maxMB * (1 << 20))
	if fixture != "" {
		f, err := LoadASRFixture(fixture)
		if err != nil {
			return err
		}
		o.Fixture = f
	}
	if faultList != "" {
		fl, err := ParseFaults(faultList)
		if err != nil {
			return err
		}
		o.Faults = fl
	}
	s, err := StartASR(o)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "asr emulator listening on %s\n", s.URL())
	<-ctx.Done()
	return nil
}

// RunMoonshotCLI runs the Moonshot emulator from command-line arguments until ctx is done. It prints
// "moonshot emulator listening on URL" once it serves.
//
//	--addr 127.0.0.1:0  --fixture FILE  --api-key KEY
//	--entry-tier (= --concurrency 1 --rpm 3)  --concurrency N  --rpm N  --retry-after 1s
//	--fault-rate 0.1    --faults server_error,reset,rate_limit,overloaded,invalid_json
//	--latency 200ms     --seed 1
func RunMoonshotCLI(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("moonshot emulator", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o MoonshotOptions
	var fixture, faultList string
	var entry bool
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&fixture, "fixture", "", "chat fixture file (YAML or JSON); none: keywords of the five default phases")
	fs.StringVar(&o.APIKey, "api-key", "", "bearer key to require (empty: any)")
	fs.BoolVar(&entry, "entry-tier", false, "limit like Moonshot's entry tier: concurrency 1, 3 requests per minute")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "max chat completions in flight (0: no limit)")
	fs.IntVar(&o.RPM, "rpm", 0, "max chat completions per minute (0: no limit)")
	fs.DurationVar(&o.RetryAfter, "retry-after", time.Second, "wait announced by rate-limit 429s")
	fs.Float64Var(&o.FaultRate, "fault-rate", 0, "chance of a random fault per chat completion")
	fs.StringVar(&faultList, "faults", "", "faults to draw from (default server_error,reset,rate_limit,overloaded,invalid_json)")
	fs.DurationVar(&o.Latency, "latency", 0, "added latency per chat completion")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed for faults")
	fs.Func("models", "serve these model ids (comma-separated; default: the usual roster)", func(v string) error {
		o.Models = strings.Split(v, ",")
		return nil
	})
	fs.BoolVar(&o.EmptyBalance, "empty-balance", false, "report a balance of 0")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if entry {
		o.Concurrency, o.RPM = 1, 3
	}
	if fixture != "" {
		f, err := LoadChatFixture(fixture)
		if err != nil {
			return err
		}
		o.Fixture = f
	}
	if faultList != "" {
		fl, err := ParseFaults(faultList)
		if err != nil {
			return err
		}
		o.Faults = fl
	}
	s, err := StartMoonshot(o)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "moonshot emulator listening on %s\n", s.URL())
	<-ctx.Done()
	return nil
}
