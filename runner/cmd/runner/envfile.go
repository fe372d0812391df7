package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"meetpipe/runner"
	"meetpipe/runner/step"
)

// defaultEnvFile is read when --env-file is not given. Its absence is fine: production may set every
// variable in the environment (systemd, docker).
const defaultEnvFile = ".env"

// envFileHelp is the --env-file flag's help.
const envFileHelp = "read variables from this file (the environment wins); default .env when present, and a named file must exist"

// readEnvFile reads the env file: the named one, which must exist (a typo in the path would otherwise
// run with no settings at all), or .env when present. missing reports that no file was read.
func readEnvFile(path string) (dot map[string]string, missing bool, err error) {
	if path == "" {
		path = defaultEnvFile
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return map[string]string{}, true, nil
		}
	} else if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, true, usageError{fmt.Errorf("--env-file %s: no such file (copy .env.example there and fill it in)", path)}
	}
	dot, err = runner.ReadDotEnv(path)
	if err != nil {
		return nil, false, usageError{err}
	}
	return dot, false, nil
}

// unsetVar finds the name in the loader's "environment variable X is not set" diagnostic.
var unsetVar = regexp.MustCompile(`^environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set`)

// noEnvError turns the diagnostics of a load made with no env file into one message when variables are
// unset: the first run of a new operator otherwise gets one error per variable (and the errors those
// cause) and no word of .env.example. Other diagnostics pass as they are.
func noEnvError(err error) error {
	var ds *step.Diagnostics
	if !errors.As(err, &ds) {
		return err
	}
	var names []string
	for _, d := range ds.List {
		if m := unsetVar.FindStringSubmatch(d.Msg); m != nil && !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		return err
	}
	return usageError{fmt.Errorf("no env file: %s is not here and %d variable(s) the pipeline needs are not set (%s); "+
		"copy .env.example to .env and fill it in (or set them in the environment, or pass --env-file)",
		defaultEnvFile, len(names), strings.Join(names, ", "))}
}
