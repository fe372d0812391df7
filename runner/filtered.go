package runner

import "meetpipe/runner/step"

// logFiltered says, at the end of a run, how many items the filters dropped and why: one line per
// reason. When the filters dropped every item of a run that listed some, it warns: a mistyped whitelist
// otherwise empties every night while the run looks green.
func (r *run) logFiltered(sum step.Summary) {
	if sum.Skipped == 0 {
		return
	}
	for _, reason := range sum.FilteredReasons() {
		r.log.Info("dropped by a filter", "items", sum.Filtered[reason], "reason", reason)
	}
	if sum.Skipped == sum.Items {
		r.log.Warn("the filters dropped every item of the run; check the values they compare against (the reasons above name them)",
			"items", sum.Items)
	}
}
