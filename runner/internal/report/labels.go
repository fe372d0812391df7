package report

import (
	"strings"
	"unicode"

	"meetpipe/steps/store"
)

// reasonWords put the codes an operator meets in the report into Chinese; the code stays beside the
// words for machines and for searching the logs.
var reasonWords = []struct{ match, words string }{
	{"too-short", "过短"},
	{"transcoding", "转码中"},
	{"still recording", "录制中"},
	{"interrupted", "运行中断"},
	{"not ready", "未就绪"},
}

// ReasonLabel is reason with its Chinese words in front ("过短 (too-short)"); a reason already in Chinese
// or unknown is returned as it is.
func ReasonLabel(reason string) string {
	if strings.IndexFunc(reason, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
		return reason
	}
	for _, w := range reasonWords {
		if strings.Contains(reason, w.match) && !strings.Contains(reason, w.words) {
			return w.words + " (" + reason + ")"
		}
	}
	return reason
}

// RunStatusLabel names a run's outcome in Chinese with the stored status beside it: a run that stored
// most items and failed some is partly failed, not failed.
func RunStatusLabel(r store.RunRow) string {
	switch {
	case r.Status == "ok":
		return "成功 (ok)"
	case r.Status == "failed" && r.Done > 0:
		return "部分失败 (partly failed)"
	case r.Status == "failed":
		return "失败 (failed)"
	case r.Status == "pending":
		return "有待处理 (pending)"
	case r.Status == "interrupted":
		return "中断 (interrupted)"
	case r.Status == "running" || r.Status == "":
		return "运行中 (running)"
	}
	return r.Status
}
