package runner

import (
	"encoding/json"
	"fmt"
	"strings"

	"meetpipe/runner/table"
)

type reportEntry struct {
	Item     string      `json:"item"`
	Decision string      `json:"decision"`
	Reason   string      `json:"reason,omitempty"`
	Steps    []stepTrace `json:"steps,omitempty"`
}

// reportLine prints one item's decision for dry runs and --explain.
func (r *run) reportLine(id string, out Outcome, reason string, trace []stepTrace) {
	if r.o.Report == nil || !(r.o.DryRun || r.o.Explain) {
		return
	}
	decision := out.reportName()
	e := reportEntry{Item: id, Decision: decision, Reason: reason, Steps: trace}
	var line string
	if r.o.JSON {
		b, _ := json.Marshal(e)
		line = string(b)
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", table.Pad(printable(id), 22), table.Pad(decision, 13)) // ids come from remote APIs
		if reason != "" {
			fmt.Fprintf(&b, " %s", printable(reason))
		}
		for _, t := range trace {
			fmt.Fprintf(&b, "\n    %s %s", table.Pad(t.Step, 16), table.Pad(string(t.Action), 9))
			if t.Reason != "" {
				b.WriteString(" " + printable(t.Reason))
			}
			if t.Estimate != "" {
				b.WriteString(" [" + t.Estimate + "]")
			}
		}
		line = b.String()
	}
	line = r.p.Secrets.Scrub(line)
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(r.o.Report, line)
}
