package media

// Span is a planned chunk of a recording, in seconds.
type Span struct {
	Start, End float64
	// Hard is true when no silence was found near the limit: the span ends at the limit and the next one
	// starts Overlap seconds earlier, so no word is lost to the cut.
	Hard bool
}

// PlanOptions says how to cut a recording into chunks.
type PlanOptions struct {
	Max     float64 // longest chunk, seconds
	Window  float64 // a cut goes at the longest silence whose middle lies within this span before the limit
	Overlap float64 // overlap after a hard cut
}

// Plan cuts [0,total] into spans of at most o.Max seconds. Each cut is at the middle of the longest silence
// whose middle lies in the o.Window seconds before the limit (a silence with End < 0 lasts to the end);
// where there is none, it is a hard cut at the limit and the next span overlaps by o.Overlap.
func Plan(total float64, silences []Silence, o PlanOptions) []Span {
	if o.Max <= 0 || total <= 0 {
		return []Span{{0, max(total, 0), false}}
	}
	window := min(o.Window, o.Max/2) // a cut never makes a chunk shorter than half the maximum
	overlap := min(max(o.Overlap, 0), o.Max/4)
	const eps = 1e-6
	var out []Span
	for start := 0.0; ; {
		if total-start <= o.Max+eps {
			return append(out, Span{start, total, false})
		}
		limit := start + o.Max
		cut, longest := -1.0, 0.0
		for _, s := range silences {
			end := s.End
			if end < 0 {
				end = total
			}
			mid := (s.Start + end) / 2
			if mid <= limit-window || mid > limit || mid <= start {
				continue
			}
			if l := end - s.Start; l > longest || (l == longest && mid > cut) {
				cut, longest = mid, l
			}
		}
		if cut >= 0 {
			out = append(out, Span{start, cut, false})
			start = cut
			continue
		}
		out = append(out, Span{start, limit, true})
		start = limit - overlap
	}
}
