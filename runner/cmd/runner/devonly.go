//go:build !dev

package main

import (
	"context"
	"fmt"
	"io"
)

// demo and emulate start the emulators of Tencent Meeting, the ASR server, Moonshot and the WeCom robot,
// and generate the demo's meetings: they are in the development build (build tag dev, bin/runner-dev),
// so that the binary deployed to a server links none of that.

func cmdDemo(_ context.Context, args []string, stdout, _ io.Writer) error {
	return devOnly("demo", args, stdout)
}

func cmdEmulate(_ context.Context, args []string, stdout, _ io.Writer) error {
	return devOnly("emulate", args, stdout)
}

// devOnly answers for a command of the development build: its help when asked for, else exit 2 saying
// where the command is.
func devOnly(name string, args []string, stdout io.Writer) error {
	if wantsHelp(args) {
		writeCommandHelp(stdout, nil, commandDocs[name])
		return nil
	}
	return usageError{fmt.Errorf("%s is not in this binary: it is in the development build, %s", name, devBuild)}
}
