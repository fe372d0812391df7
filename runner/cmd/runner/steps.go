package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"meetpipe/runner"
	"meetpipe/runner/table"
)

func cmdSteps(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("steps", stderr)
	dir := fs.String("plugins", "plugins", "folder of exec plugins")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagError(err)
	}
	reg, err := registry(*dir, "x/x")
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		for _, n := range reg.Names() {
			d, _ := reg.Lookup(n)
			fmt.Fprintf(stdout, "%s %s\n", table.Pad(n, 16), firstSentence(d.Spec.Summary))
		}
		return nil
	}
	for i, n := range pos {
		d, ok := reg.Lookup(n)
		if !ok {
			return usageError{fmt.Errorf("no step %q; `runner steps` lists them", n)}
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		runner.Describe(stdout, d)
	}
	return nil
}

func cmdSchema(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("schema", stderr)
	dir := fs.String("plugins", "plugins", "folder of exec plugins")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	reg, err := registry(*dir, "x/x")
	if err != nil {
		return err
	}
	b, err := runner.Schema(reg)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// firstSentence keeps a step list to one line a step; `runner steps NAME` shows the whole summary.
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if r := []rune(s); len(r) > 110 {
		s = string(r[:109]) + "…"
	}
	return s
}
