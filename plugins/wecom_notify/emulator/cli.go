package emulator

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// RunCLI runs the emulator as a command (`runner emulate wecom`): it parses args, starts the server,
// prints "wecom emulator listening on URL" on stdout and serves until ctx is done, logging every message.
//
//	--addr 127.0.0.1:0  --key KEY  --per-minute 20
func RunCLI(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("emulate wecom", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o Options
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&o.Key, "key", "", "the robot's webhook key (required; pass the same as WECOM_WEBHOOK_KEY)")
	fs.IntVar(&o.PerMinute, "per-minute", 20, "messages accepted in any minute; more are answered errcode 45009")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("emulate wecom: unexpected argument %q", fs.Arg(0))
	}
	if o.Key == "" {
		return fmt.Errorf("emulate wecom: --key is required")
	}
	o.Logger = slog.Default()
	s, err := Start(o)
	if err != nil {
		return fmt.Errorf("emulate wecom: %w", err)
	}
	defer s.Close()
	fmt.Fprintf(stdout, "wecom emulator listening on %s\n", s.URL())
	<-ctx.Done()
	return nil
}
