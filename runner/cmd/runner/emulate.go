//go:build dev

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	wecom "meetpipe/plugins/wecom_notify/emulator"
	kimi "meetpipe/steps/kimi/emulator"
	tencent "meetpipe/steps/tencent/emulator"
)

// cmdEmulate serves one of the emulated remote services on loopback until interrupted, for demos and for
// trying a pipeline without credentials. It is in the development build only (devonly.go).
func cmdEmulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	services := map[string]func(context.Context, []string, io.Writer) error{
		"tencent":  tencent.RunCLI,
		"asr":      kimi.RunASRCLI,
		"moonshot": kimi.RunMoonshotCLI,
		"wecom":    wecom.RunCLI,
	}
	if len(args) > 0 && wantsHelp(args[:1]) {
		writeCommandHelp(stdout, nil, commandDocs["emulate"])
		return nil
	}
	if len(args) == 0 || services[args[0]] == nil {
		return usageError{fmt.Errorf("emulate: want one of tencent, asr, moonshot, wecom (then -h for its flags)")}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return services[args[0]](ctx, args[1:], stdout)
}
