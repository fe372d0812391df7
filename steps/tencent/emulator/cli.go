package emulator

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// RunCLI runs an emulator as a command (`runner emulate tencent`): it parses args, starts the server,
// prints "tencent emulator listening on URL" on stdout and serves until ctx is done.
//
//	--addr 127.0.0.1:0  --fixture F  --secret-id ID --secret-key KEY --app-id CORP [--sdk-id ID]
//	--fault-rate 0.05  --latency 20ms  --throttle 2MB  --url-ttl 6h  --corp-rpm 10  --quirks  --seed N
func RunCLI(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("emulate tencent", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o Options
	var fixture, throttle string
	var seed uint64
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&fixture, "fixture", "", "JSON fixture of meetings (required)")
	fs.StringVar(&o.SecretID, "secret-id", DefaultSecretID, "accepted SecretId (X-TC-Key)")
	fs.StringVar(&o.SecretKey, "secret-key", DefaultSecretKey, "accepted SecretKey")
	fs.StringVar(&o.AppID, "app-id", DefaultAppID, "accepted AppId (enterprise id)")
	fs.StringVar(&o.SdkID, "sdk-id", "", "required SdkId, if any")
	fs.Float64Var(&o.FaultRate, "fault-rate", 0, "fraction of requests answered with a random fault (gateway error, rate limit, reset)")
	fs.DurationVar(&o.Latency, "latency", 0, "latency added to every answer")
	fs.StringVar(&throttle, "throttle", "0", "media bytes per second per connection (e.g. 512KB, 2MB; 0: unlimited)")
	fs.DurationVar(&o.URLTTL, "url-ttl", 6*time.Hour, "validity of download addresses")
	fs.IntVar(&o.CorpRecordsPerMinute, "corp-rpm", 0, "enforce this many /v1/corp/records calls per minute (0: off; the real service allows 10)")
	fs.BoolVar(&o.Quirks, "quirks", false, "send numbers as strings and ids as bare numbers")
	fs.BoolVar(&o.AnswerEndedMeetings, "answer-ended-meetings", false, "answer /v1/meetings/{id} for ended meetings (Tencent does not)")
	fs.BoolVar(&o.StableUUIDs, "stable-uuids", false, "serve each person's fixture uuid in every meeting (Tencent's uuid is per meeting)")
	fs.IntVar(&o.DailyQuota, "daily-quota", 0, "answer 190311 after this many API calls in a day (0: off; the real quota is 200,000)")
	fs.IntVar(&o.CorpMeetingsPerMinute, "corp-meetings-rpm", 0, "enforce this many /v1/corp/meetings calls per "+
		"minute with 190313 (0: off; the real service allows 100)")
	fs.Uint64Var(&seed, "seed", 1, "seed of the fault generator")
	var skew time.Duration
	fs.Func("allowed-ips", "the app's IP whitelist, comma-separated (others get 500125; default: any)", func(v string) error {
		o.AllowedIPs = strings.Split(v, ",")
		return nil
	})
	fs.Func("no-record-rights", "operators without 录制管理 rights, comma-separated (their listings get 500133)", func(v string) error {
		o.NoRecordRights = strings.Split(v, ",")
		return nil
	})
	fs.DurationVar(&skew, "clock-skew", 0, "run the server clock this far ahead of this machine's (e.g. 10m)")
	fs.StringVar(&o.Push.URL, "push-url", "", "webhook receiver to push events to (common.sts-token after each STS "+
		"request); token and EncodingAESKey from $TQM_WEBHOOK_TOKEN and $TQM_WEBHOOK_AES_KEY")
	o.Push.Token, o.Push.EncodingAESKey = os.Getenv("TQM_WEBHOOK_TOKEN"), os.Getenv("TQM_WEBHOOK_AES_KEY")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if skew != 0 {
		o.Now = func() time.Time { return time.Now().Add(skew) }
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("emulate tencent: unexpected argument %q", fs.Arg(0))
	}
	if fixture == "" {
		return fmt.Errorf("emulate tencent: --fixture is required")
	}
	if o.FaultRate < 0 || o.FaultRate > 1 {
		return fmt.Errorf("emulate tencent: --fault-rate %v is not between 0 and 1", o.FaultRate)
	}
	rate, err := parseBytes(throttle)
	if err != nil {
		return fmt.Errorf("emulate tencent: --throttle: %w", err)
	}
	o.Throttle, o.Seed = rate, seed
	if o.Fixture, err = LoadFixture(fixture); err != nil {
		return err
	}
	o.Logger = slog.Default()
	s, err := Start(o)
	if err != nil {
		return fmt.Errorf("emulate tencent: %w", err)
	}
	defer s.Close()
	fmt.Fprintf(stdout, "tencent emulator listening on %s\n", s.URL())
	<-ctx.Done()
	return nil
}

// parseBytes reads 1048576, 512KB, 2MB, 1GB (powers of 1024).
func parseBytes(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte count", v)
	}
	return int64(n * float64(mult)), nil
}
