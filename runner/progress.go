package runner

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// stageProgress is what the live display shows of one stage in one run.
type stageProgress struct {
	id                                   string
	running, done, memo, failed, skipped atomic.Int64
	units                                *atomic.Int64 // the stage's, over the pipeline's life
	unitsBase                            int64         // units when the run started
}

// statusLine renders every stage as "id done✓ running▶ failed✗".
func (r *run) statusLine() string {
	var b strings.Builder
	for i, p := range r.prog {
		if i > 0 {
			b.WriteString(" │ ")
		}
		fmt.Fprintf(&b, "%s %d✓", p.id, p.done.Load()+p.memo.Load())
		if n := p.running.Load(); n > 0 {
			fmt.Fprintf(&b, " %d▶", n)
		}
		if n := p.failed.Load(); n > 0 {
			fmt.Fprintf(&b, " %d✗", n)
		}
		if n := p.skipped.Load(); n > 0 {
			fmt.Fprintf(&b, " %d↷", n)
		}
		if n := p.units.Load() - p.unitsBase; n > 0 {
			fmt.Fprintf(&b, " %.1fMB", float64(n)/1e6)
		}
	}
	return b.String()
}
