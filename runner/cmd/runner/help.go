package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"meetpipe/runner/textdist"
)

// commandDoc is what `runner COMMAND -h` prints around the flags: the synopsis, what the command does,
// and examples an operator can paste.
type commandDoc struct {
	synopsis, summary string
	examples          []string
}

// devBuild says where the commands of the development build (demo, emulate) are: the binary to deploy
// links neither the emulators nor the media generator they start.
const devBuild = "bin/runner-dev, which `just demo` builds and runs (`just build-dev`, or go build -tags dev ./runner/cmd/runner)"

var commandDocs = map[string]commandDoc{
	"run": {"runner run FILE [flags]", "Run a pipeline over the recordings of a window. Items that fail are kept pending for the next run.", []string{
		"runner run pipelines/meeting.yaml --since 26h",
		"runner run pipelines/meeting.yaml --since 7d --dry-run",
		"runner run pipelines/meeting.yaml --explain --output json",
		"runner run pipelines/meeting.yaml --from kimi_classify --since 2026-11-01",
	}},
	"validate": {"runner validate FILE... [flags]", "Check pipelines without running them: every problem as file:line:col.", []string{
		"runner validate pipelines/meeting.yaml",
	}},
	"doctor": {"runner doctor FILE [flags]", "Check what the pipeline will touch: credentials, services, database, " +
		"tools, disk, and .env values still holding the template's placeholders.", []string{
		"runner doctor pipelines/meeting.yaml",
		"runner doctor pipelines/meeting.yaml --spend",
		"runner doctor pipelines/meeting.yaml --output json",
	}},
	"steps": {"runner steps [NAME...] [flags]", "List the steps, or document the named ones (settings, defaults, examples).", []string{
		"runner steps", "runner steps tencent_list",
	}},
	"schema": {"runner schema [flags]", "Print the JSON Schema of pipeline files, for editors.", []string{
		"runner schema > pipeline.schema.json",
	}},
	"status": {"runner status [flags]", "Show what the database holds (counts, recent runs, failures, students) and " +
		"the pending recordings of the state folder (MEETPIPE_STATE_DIR of --env-file).", []string{
		"runner status", "runner status --env-file /opt/meetpipe/.env --output json",
	}},
	"migrate": {"runner migrate [flags]", "Apply the SQL migrations in sql/ that the database lacks.", []string{
		"runner migrate", "runner migrate --env-file /opt/meetpipe/.env",
	}},
	"deploy": {"runner deploy [flags]", "Install under a prefix as a Debian service: binary, plugins, pipeline, .env " +
		"template, a dedicated user, a hardened systemd timer (or crontab line, or --serve), doctor and migrate. No " +
		"schedule is enabled while doctor fails.", []string{
		"sudo runner deploy", "sudo runner deploy --prefix /srv/meetpipe --at 02:30", "sudo runner deploy --serve --listen 127.0.0.1:8080",
	}},
	"undeploy": {"runner undeploy [flags]", "Remove every schedule deploy installed, the binary and the unchanged " +
		"plugin files it installed; keep .env, the pipeline, your plugins and the data.", []string{
		"sudo runner undeploy", "sudo runner undeploy --prefix /srv/meetpipe",
	}},
	"emulate": {"runner emulate SERVICE [flags]", "Serve an emulated remote service on loopback: tencent, asr, " +
		"moonshot or wecom. In the development build only: " + devBuild + ".", []string{
		"runner emulate tencent -h", "runner emulate wecom",
	}},
	"demo": {"runner demo [flags]", "Run pipelines/meeting.yaml on the bundled meetings against the emulators and " +
		"show what MySQL holds. In the development build only: " + devBuild + ".", []string{
		"runner demo", "runner demo --explain",
	}},
	"report": {"runner report [FILE] [flags]", "Write the HTML report (and a workbook) from the database; --send " +
		"posts the digest to WeCom and mails the report.", []string{
		"runner report --since 7d --out report.html --xlsx report.xlsx", "runner report --send --dry-run",
	}},
	"version": {"runner version [flags]", "Print the version and the commit it was built from.", []string{
		"runner version", "runner version --output json",
	}},
	"serve": {"runner serve FILE [flags]", "Receive Tencent's webhook events at /webhook/tencent and run each pushed " +
		"recording through the pipeline minutes after it ends; also run the nightly catch-up of the pipeline's " +
		"schedule:, keep the STS token, and serve /healthz, /readyz and /metrics.", []string{
		"runner serve pipelines/meeting.yaml", "runner serve pipelines/meeting.yaml --listen 127.0.0.1:8787 --env-file /opt/meetpipe/.env",
	}},
	"forget": {"runner forget FILE STUDENT_ID... [flags]", "Erase students on request: their rows in every table, " +
		"recordings where they were the only student (the others' statistics recomputed), every state entry naming " +
		"them; a tombstone (hashes, never the id or name) keeps later runs from storing them again; the erasure is logged without content.", []string{
		"runner forget pipelines/meeting.yaml stu_li --dry-run", "runner forget pipelines/meeting.yaml stu_li 'name:赵同学' --by dpo@example.com",
	}},
	"help": {"runner help [COMMAND]", "Print the commands, or the help of one.", []string{"runner help run"}},
	"notify-failure": {"runner notify-failure UNIT [flags]", "Tell the WeCom robot that a systemd unit failed (what " +
		"deploy's OnFailure= unit runs); nothing without WECOM_WEBHOOK_KEY.", []string{
		"runner notify-failure --env-file /opt/meetpipe/.env meetpipe.service",
	}},
}

const exitCodes = `Exit codes:
  0  all good
  1  some items failed, or the environment stopped the run: a service down or refusing every call,
     a listing outage, the state folder locked by another run (the items stay pending)
  2  configuration or usage error: a bad flag or argument, a pipeline or .env that does not load,
     a corrupt state file, a database that refuses the configured user or name or lacks its tables
`

// setUsage makes -h print the command's synopsis, summary, flags, examples and exit codes.
func setUsage(fs *flag.FlagSet) {
	doc, ok := commandDocs[fs.Name()]
	if !ok {
		return
	}
	fs.Usage = func() { writeCommandHelp(fs.Output(), fs, doc) }
}

func writeCommandHelp(w io.Writer, fs *flag.FlagSet, doc commandDoc) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", doc.synopsis, doc.summary)
	if fs != nil {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	if len(doc.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range doc.examples {
			fmt.Fprintln(w, "  "+e)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, exitCodes)
}

// suggest returns the candidate closest to s (a typo, or a prefix), or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 3 {
		bestD = 2
	}
	for _, c := range candidates {
		d := textdist.Distance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 3 {
			d = 1
		}
		if d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	return best
}

// commandNames are the commands (from their docs: commands itself refers to cmdHelp, which uses this).
func commandNames() []string {
	var names []string
	for n := range commandDocs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// suggestFlag adds "did you mean --x?" to the flag package's "flag provided but not defined" error.
func suggestFlag(fs *flag.FlagSet, err error) {
	const undefined = "flag provided but not defined: -"
	msg := err.Error()
	if !strings.HasPrefix(msg, undefined) {
		return
	}
	name := strings.TrimLeft(strings.TrimPrefix(msg, undefined), "-")
	name, _, _ = strings.Cut(name, "=")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := suggest(name, names); s != "" {
		fmt.Fprintf(fs.Output(), "did you mean --%s?\n", s)
	}
}

// wantsHelp reports whether the arguments ask for help, which then goes to stdout.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "--h":
			return true
		case "--":
			return false
		}
	}
	return false
}
