package tencent

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Target is a recording a push event names, as the engine's pending entry: its meeting_record_id and the
// hint by which a listing finds it again.
type Target struct {
	ID   string
	Hint json.RawMessage
}

// Pushed is what a recording.completed or smart.transcripts event says of a recording (1095/53230,
// 1095/121282): the meeting, its creator, the meeting's times and the record_file_ids. The event has no
// meeting_record_id.
type Pushed struct {
	MeetingID  string
	Creator    string // meeting_info.creator.userid
	Start, End time.Time
	FileIDs    []string
}

// locateMargin widens the search around the meeting's times (tencent-meeting-api.md §10.1.4: "a time
// window, e.g. start_time−1d … end_time+1d"), since a recording's media start may differ from them.
const locateMargin = 24 * time.Hour

// Locate finds the recordings an event names: /v1/records?meeting_id=… as the meeting's creator (it lists
// only the operator's own meetings, 1095/51189), else, in corp mode, the corp listing of the span as the
// admin, filtered by meeting id. Recordings are matched by record_file_id when the event gives some.
// Nothing found is not an error (the listing may lag): the caller keeps the event for the nightly run.
func (l *Lister) Locate(ctx context.Context, p Pushed) ([]Target, error) {
	if p.MeetingID == "" {
		return nil, permanentf("tencent: the event names no meeting_id")
	}
	start, end := p.Start, p.End
	if start.IsZero() {
		start = l.cfg.Now()
	}
	if end.Before(start) {
		end = start
	}
	since, until := start.Add(-locateMargin), end.Add(locateMargin)
	if until.Sub(since) > MaxWindow {
		since = until.Add(-MaxWindow)
	}
	var recs []Record
	var op string
	if p.Creator != "" {
		op = p.Creator
		got, err := l.locatePages(ctx, false, RecordsQuery{Operator: op, Start: since, End: until, MeetingID: p.MeetingID, RecordType: l.cfg.RecordType})
		if err != nil && l.cfg.Mode != ModeCorp {
			return nil, err
		}
		recs = got
	}
	if len(recs) == 0 && l.cfg.Mode == ModeCorp {
		op = l.cfg.Operator
		got, err := l.locatePages(ctx, true, RecordsQuery{Operator: op, Start: since, End: until, RecordType: l.cfg.RecordType})
		if err != nil {
			return nil, err
		}
		recs = got
	}
	var out []Target
	for _, rec := range recs {
		if rec.MeetingID != p.MeetingID || !hasFile(rec, p.FileIDs) {
			continue
		}
		h := hint{MediaStartMs: rec.MediaStart.UnixMilli(), MeetingID: rec.MeetingID, Host: rec.HostUserID, Operator: op,
			Creator: cmp.Or(p.Creator, l.creatorOf(rec, op))}
		if l.cfg.Mode == ModeCorp {
			h.Operator = l.cfg.Operator // a corp re-check lists as the admin
		}
		b, err := json.Marshal(h)
		if err != nil {
			return nil, fmt.Errorf("tencent: hint: %w", err)
		}
		out = append(out, Target{ID: rec.MeetingRecordID, Hint: b})
	}
	return out, nil
}

// hasFile reports whether rec has one of ids (any, when ids is empty).
func hasFile(rec Record, ids []string) bool {
	if len(ids) == 0 {
		return true
	}
	for _, f := range rec.Files {
		if slices.Contains(ids, f.ID) {
			return true
		}
	}
	return false
}

// locatePages follows the pages of one listing (bounded by MaxPages).
func (l *Lister) locatePages(ctx context.Context, corp bool, q RecordsQuery) ([]Record, error) {
	var out []Record
	q.PageSize = l.cfg.PageSize
	for q.Page = 1; q.Page <= l.cfg.MaxPages; q.Page++ {
		var p *RecordsPage
		path := "/v1/records"
		if corp {
			path = "/v1/corp/records"
		}
		err := l.again(ctx, path, func() (err error) {
			if corp {
				p, err = l.c.CorpRecords(ctx, q)
			} else {
				p, err = l.c.Records(ctx, q)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, p.Records...)
		if q.Page >= p.TotalPage || len(p.Records) < q.PageSize {
			break
		}
	}
	return out, nil
}

// targeted lists the recordings a push named. One whose hint has its creator and meeting is listed with
// /v1/records?meeting_id=… as the creator, around its start: a per-user call within the app's 300/min,
// where the corp re-check would spend one of /v1/corp/records' 10 a minute (1095/105276) and make the next
// event wait. The rest, and any not found so, go through the mode's re-check.
func (r *run) targeted(ctx context.Context, pending []Pending) error {
	l := r.l
	var rest []Pending
	r.only = map[string]bool{}
	for _, p := range pending {
		r.only[p.ID] = true
	}
	for _, p := range pending {
		var h hint
		if err := json.Unmarshal(p.Hint, &h); err != nil || h.Creator == "" || h.MeetingID == "" || h.MediaStartMs == 0 {
			rest = append(rest, p)
			continue
		}
		t := time.UnixMilli(h.MediaStartMs).UTC()
		since, until := t.Add(-recheckMargin), t.Add(recheckMargin)
		recs, err := l.locatePages(ctx, false, RecordsQuery{Operator: h.Creator, Start: since, End: until,
			MeetingID: h.MeetingID, RecordType: l.cfg.RecordType})
		if err != nil {
			l.logger(ctx).LogAttrs(ctx, slog.LevelWarn, "pushed recording not listed as its creator; trying the re-check",
				slog.String("item", p.ID), slog.String("error", err.Error()))
			rest = append(rest, p)
			continue
		}
		r.span = [2]time.Time{since, until}
		op := h.Creator
		if l.cfg.Mode == ModeCorp {
			op = l.cfg.Operator // the admin reads details and addresses, as in the corp listing
		}
		for _, rec := range recs {
			if rec.MeetingRecordID != p.ID {
				continue
			}
			if l.cfg.Mode == ModeCorp {
				// Listed by /v1/records as the creator: host_user_id is the host, and the creator is the one
				// the event named (corrections 3 and 8), as the corp listing's userid would say.
				rec.CreatorUserID = h.Creator
			}
			if err := r.handle(ctx, rec, op); err != nil {
				return err
			}
		}
		if !r.seen[p.ID] {
			rest = append(rest, p)
		}
	}
	r.only = nil
	return r.recheck(ctx, rest)
}
