package emulator

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const maxSpan = 31 * 24 * time.Hour

// num encodes an integer, as a string in quirks mode.
func (s *Server) num(v int64) any {
	if s.opts.Quirks {
		return strconv.FormatInt(v, 10)
	}
	return v
}

// id encodes a numeric id, as a bare JSON number in quirks mode (some proxies do that to 19-digit ids).
func (s *Server) id(v string) any {
	if s.opts.Quirks && v != "" && strings.Trim(v, "0123456789") == "" && v[0] != '0' {
		return json.Number(v)
	}
	return v
}

// intParam reads an optional integer query parameter.
func intParam(q url.Values, name string, def int64) (int64, *apiError) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest(190004, "parameter %s must be an integer", name)
	}
	return n, nil
}

// pageParams reads page_size (absent or not positive: def; above max: max, the documented maxima of
// tencent-meeting-api.md §2.1/§2.2/§3.1, capped as the emulator always has) and page, which starts at 1.
func pageParams(q url.Values, def, max int64) (size, page int64, err *apiError) {
	if size, err = intParam(q, "page_size", def); err != nil {
		return 0, 0, err
	}
	if size <= 0 {
		size = def
	}
	size = min(size, max)
	if page, err = intParam(q, "page", 1); err != nil {
		return 0, 0, err
	}
	if page < 1 {
		return 0, 0, badRequest(190004, "page starts at 1")
	}
	return size, page, nil
}

// operator reads operator_id (+ operator_id_type) or the legacy userid, and checks it is a registered
// user.
func (s *Server) operator(q url.Values) (string, *apiError) {
	op := q.Get("operator_id")
	if op != "" {
		if t := q.Get("operator_id_type"); t != "1" {
			return "", badRequest(190004, "operator_id_type %q is not supported here (use 1, userid)", t)
		}
	} else {
		op = q.Get("userid")
	}
	if op == "" {
		return "", badRequest(190004, "operator_id is required")
	}
	if !s.registered(op) {
		return "", badRequest(190001, "user %s is not registered", op)
	}
	return op, nil
}

func (s *Server) registered(u string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admins[u] || s.users[u] {
		return true
	}
	for _, m := range s.order {
		if m.Host == u || m.Creator == u {
			return true
		}
		for _, p := range m.Participants {
			if p.UserID == u {
				return true
			}
		}
	}
	return false
}

func (s *Server) isAdmin(u string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admins[u]
}

// errPermission is 9042, "权限受限或鉴权失败" (permission restricted or authentication failed,
// 1095/43704; tencent-meeting-api.md correction 9).
func errPermission(op string) *apiError {
	return badRequest(9042, "权限受限或鉴权失败: operator %s may not read this recording's addresses (creator, super admin or 录制管理 only)", op)
}

func noPermission(op string) *apiError {
	return badRequest(500133, "operator %s has no permission (needs 录制管理 permission or super-admin)", op)
}

func (s *Server) listRecords(w *statusWriter, r *http.Request, corp bool) *apiError {
	q := r.URL.Query()
	op, e := s.operator(q)
	if e != nil {
		return e
	}
	admin := s.isAdmin(op)
	if corp && !admin || s.lacksRights(op) {
		return noPermission(op)
	}
	if corp && s.opts.CorpRecordsPerMinute > 0 && !s.corpAllowed() {
		// 190310 comes with HTTP 500 (1095/53805's error table).
		return &apiError{status: http.StatusInternalServerError, code: 190310,
			msg: fmt.Sprintf("/v1/corp/records: at most %d calls per minute", s.opts.CorpRecordsPerMinute)}
	}
	if q.Get("start_time") == "" || q.Get("end_time") == "" {
		return badRequest(190004, "start_time and end_time are required")
	}
	start, e := intParam(q, "start_time", 0)
	if e != nil {
		return e
	}
	end, e := intParam(q, "end_time", 0)
	if e != nil {
		return e
	}
	if end < start {
		return badRequest(190004, "end_time is before start_time")
	}
	if time.Duration(end-start)*time.Second > maxSpan {
		return badRequest(190004, "the time range may not exceed 31 days")
	}
	size, page, e := pageParams(q, 10, 20)
	if e != nil {
		return e
	}
	qrt, e := intParam(q, "query_record_type", 1)
	if e != nil {
		return e
	}
	meetingID, meetingCode := q.Get("meeting_id"), q.Get("meeting_code")
	if corp {
		meetingID, meetingCode = "", ""
	}

	type hit struct {
		m *Meeting
		r Record
	}
	var hits []hit
	s.mu.Lock()
	for _, m := range s.order {
		if !corp && m.creator() != op && !(admin && s.opts.RecordsForAdmins) {
			// /v1/records lists only the meetings the operator created, an admin's included (1095/51189,
			// 2026-01; tencent-meeting-api.md corrections 3 and 8).
			continue
		}
		if meetingID != "" && m.MeetingID != meetingID {
			continue
		}
		if meetingID == "" && meetingCode != "" && m.MeetingCode != meetingCode {
			continue
		}
		for _, rec := range m.Records {
			switch {
			case qrt == 1 && rec.RecordType != 0, qrt == 2 && rec.RecordType != 2:
				continue
			}
			ms := rec.Start.UnixMilli()
			if ms < start*1000 || ms > end*1000+999 {
				continue
			}
			rec.Files = slices.Clone(rec.Files)
			hits = append(hits, hit{m, rec})
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(hits, func(a, b hit) int {
		return cmp.Or(a.r.Start.Compare(b.r.Start), strings.Compare(a.r.ID, b.r.ID))
	})
	total := int64(len(hits))
	from, to := min((page-1)*size, total), min(page*size, total)
	list := make([]map[string]any, 0, to-from)
	for _, h := range hits[from:to] {
		rm := map[string]any{
			"meeting_record_id": s.id(h.r.ID),
			"meeting_id":        s.id(h.m.MeetingID),
			"meeting_code":      h.m.MeetingCode,
			"media_start_time":  s.num(h.r.Start.UnixMilli()),
			"subject":           h.m.Subject,
			"state":             h.r.State,
			"record_type":       h.r.RecordType,
		}
		// /v1/corp/records names the creator as userid (1095/53224); /v1/records names the host as
		// host_user_id (GO records/model.go, PY records/model.py: 主持人用户 ID; corrections 3 and 8).
		if corp {
			rm["userid"] = h.m.creator()
		} else if h.m.Host != "" {
			rm["host_user_id"] = h.m.Host
		}
		if h.r.State == 3 {
			files := make([]map[string]any, 0, len(h.r.Files))
			for _, f := range h.r.Files {
				fm := map[string]any{
					"record_file_id":    s.id(f.ID),
					"record_start_time": s.num(f.Start.UnixMilli()),
					"record_end_time":   s.num(f.End.UnixMilli()),
					"record_size":       s.num(f.Size),
					"sharing_state":     0,
				}
				if corp {
					fm["view_address"] = s.url + "/crm/" + f.ID
					fm["download_address"] = s.mediaURL(f)
				}
				files = append(files, fm)
			}
			rm["record_files"] = files
		}
		list = append(list, rm)
	}
	s.writeJSON(w, map[string]any{
		"total_count":     s.num(total),
		"current_size":    len(list),
		"current_page":    page,
		"total_page":      s.num((total + size - 1) / size),
		"record_meetings": list,
	})
	return nil
}

// corpAllowed enforces the per-minute limit of /v1/corp/records.
func (s *Server) corpAllowed() bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corpCalls = slices.DeleteFunc(s.corpCalls, func(t time.Time) bool { return now.Sub(t) >= time.Minute })
	if len(s.corpCalls) >= s.opts.CorpRecordsPerMinute {
		return false
	}
	s.corpCalls = append(s.corpCalls, now)
	return true
}

// meetingFor finds a meeting the operator may read: its host, or an admin.
func (s *Server) meetingFor(id, op string) (*Meeting, *apiError) {
	s.mu.Lock()
	m := s.meetings[id]
	s.mu.Unlock()
	if m == nil {
		// The official example of this error is an HTTP 500.
		return nil, &apiError{status: http.StatusInternalServerError, code: 9003, msg: "MEETING NOT EXIST"}
	}
	if m.Host != op && m.creator() != op && !s.isAdmin(op) {
		return nil, noPermission(op)
	}
	return m, nil
}

func (s *Server) addresses(w *statusWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	rid := q.Get("meeting_record_id")
	if rid == "" {
		return badRequest(190004, "meeting_record_id is required")
	}
	op, e := s.operator(q)
	if e != nil {
		return e
	}
	s.mu.Lock()
	ref := s.records[rid]
	var rec Record
	var m *Meeting
	if ref != nil {
		rec, m = *ref.r, ref.m
		rec.Files = slices.Clone(rec.Files)
	}
	s.mu.Unlock()
	if ref == nil {
		return &apiError{status: http.StatusBadRequest, code: 4051, newCode: 108004051, msg: "record does not exist or was deleted"}
	}
	if m.creator() != op && !s.isAdmin(op) && !s.opts.AddressesForHost {
		// Only "会议创建者、企业超级管理员或有企业录制管理权限的用户" (1095/51174): the host is refused.
		return errPermission(op)
	}
	size, page, e := pageParams(q, 50, 50)
	if e != nil {
		return e
	}
	var files []File
	if rec.State == 3 {
		files = rec.Files
	}
	total := int64(len(files))
	from, to := min((page-1)*size, total), min(page*size, total)
	list := make([]map[string]any, 0, to-from)
	for _, f := range files[from:to] {
		e := map[string]any{
			"record_file_id":             s.id(f.ID),
			"view_address":               s.url + "/crm/" + f.ID,
			"download_address":           s.mediaURL(f),
			"download_address_file_type": "mp4",
		}
		if f.AudioPath != "" {
			// The audio-only rendition beside the MP4 (tencent-meeting-api.md correction 6).
			e["audio_address"] = s.audioURL(f)
			e["audio_address_file_type"] = "m4a"
		}
		list = append(list, e)
	}
	s.writeJSON(w, map[string]any{
		"meeting_record_id": s.id(rec.ID),
		"meeting_id":        s.id(m.MeetingID),
		"meeting_code":      m.MeetingCode,
		"subject":           m.Subject,
		"total_count":       total,
		"total_page":        s.num((total + size - 1) / size),
		"current_page":      page,
		"current_size":      len(list),
		"record_files":      list,
	})
	return nil
}

type row struct {
	p Person
	s Session
	i int
}

func (s *Server) participants(w *statusWriter, r *http.Request, meetingID string) *apiError {
	q := r.URL.Query()
	op, e := s.operator(q)
	if e != nil {
		return e
	}
	m, e := s.meetingFor(meetingID, op)
	if e != nil {
		return e
	}
	sub := q.Get("sub_meeting_id")
	var from, to time.Time // join-time filter
	if m.Recurring {
		if sub == "" {
			return badRequest(190004, "sub_meeting_id is required for a recurring meeting")
		}
		if !slices.ContainsFunc(m.SubMeetings, func(x SubMeeting) bool { return x.ID == sub }) {
			return badRequest(190004, "unknown sub_meeting_id %s", sub)
		}
	} else {
		st, e := intParam(q, "start_time", 0)
		if e != nil {
			return e
		}
		et, e := intParam(q, "end_time", 0)
		if e != nil {
			return e
		}
		now := s.now()
		switch {
		case st == 0 && et == 0:
			from, to = now.Add(-90*24*time.Hour), now
		case et == 0:
			from = time.Unix(st, 0)
			to = from.Add(maxSpan)
		case st == 0:
			to = time.Unix(et, 0)
			from = to.Add(-maxSpan)
		default:
			from, to = time.Unix(st, 0), time.Unix(et, 0)
			if to.Before(from) || to.Sub(from) > maxSpan {
				return badRequest(190004, "start_time..end_time must be at most 31 days")
			}
		}
	}
	pos, e := intParam(q, "pos", 0)
	if e != nil {
		return e
	}
	size, e := intParam(q, "size", 20)
	if e != nil {
		return e
	}
	if size <= 0 {
		size = 20
	}
	size = min(size, 100)
	if pos < 0 {
		return badRequest(190004, "pos must not be negative")
	}

	s.mu.Lock()
	var rows []row
	for i, p := range m.Participants {
		for _, ss := range p.Sessions {
			if m.Recurring && ss.SubMeetingID != sub {
				continue
			}
			if !m.Recurring && (ss.Join.Before(from) || ss.Join.After(to)) {
				continue
			}
			rows = append(rows, row{p, ss, i})
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Or(a.s.Join.Compare(b.s.Join), a.i-b.i) })
	total := int64(len(rows))
	lo, hi := min(pos, total), min(pos+size, total)
	list := make([]map[string]any, 0, hi-lo)
	for _, rw := range rows[lo:hi] {
		join, left := strconv.FormatInt(rw.s.Join.Unix(), 10), strconv.FormatInt(rw.s.Left.Unix(), 10)
		var jv, lv any = join, left
		if s.opts.Quirks {
			jv, lv = rw.s.Join.Unix(), rw.s.Left.Unix()
		}
		list = append(list, map[string]any{
			"userid":             rw.p.UserID,
			"uuid":               s.uuidIn(m, rw.p.UUID),
			"ms_open_id":         "ms" + s.uuidIn(m, rw.p.UUID),
			"open_id":            "",
			"user_name":          base64.StdEncoding.EncodeToString([]byte(rw.p.Name)),
			"join_time":          jv,
			"left_time":          lv,
			"instanceid":         s.num(int64(cmp.Or(rw.p.InstanceID, 1))),
			"user_role":          rw.p.Role,
			"is_enterprise_user": rw.p.UserID != "",
		})
	}
	s.writeJSON(w, map[string]any{
		"meeting_id":          s.id(m.MeetingID),
		"meeting_code":        m.MeetingCode,
		"subject":             m.Subject,
		"schedule_start_time": strconv.FormatInt(m.Start.Unix(), 10),
		"schedule_end_time":   strconv.FormatInt(m.End.Unix(), 10),
		"total_count":         total,
		"has_remaining":       hi < total,
		"next_pos":            s.num(hi),
		"participants":        list,
	})
	return nil
}

func (s *Server) meeting(w *statusWriter, r *http.Request, meetingID string) *apiError {
	q := r.URL.Query()
	if q.Get("instanceid") == "" {
		return badRequest(190004, "instanceid is required")
	}
	op, e := s.operator(q)
	if e != nil {
		return e
	}
	m, e := s.meetingFor(meetingID, op)
	if e != nil {
		return e
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opts.AnswerEndedMeetings && endedAt(m, now) {
		// 1095/42418: an ended meeting is no longer returned; the documented answer is an empty list.
		s.writeJSON(w, map[string]any{"meeting_number": 0, "meeting_info_list": []any{}})
		return nil
	}
	mt := 0
	if m.Recurring {
		mt = 1
	}
	invitees := []map[string]any{}
	for _, p := range m.Participants {
		if p.UserID != "" {
			invitees = append(invitees, map[string]any{"userid": p.UserID})
		}
	}
	info := map[string]any{
		"meeting_id":   s.id(m.MeetingID),
		"meeting_code": m.MeetingCode,
		"subject":      m.Subject,
		"type":         0,
		"meeting_type": mt,
		"status":       "MEETING_STATE_ENDED",
		"start_time":   strconv.FormatInt(m.Start.Unix(), 10),
		"end_time":     strconv.FormatInt(m.End.Unix(), 10),
		"hosts":        []map[string]any{{"userid": m.Host}},
		"participants": invitees,
		"join_url":     s.url + "/dm/" + m.MeetingCode,
	}
	if m.Recurring {
		subs := make([]map[string]any, 0, len(m.SubMeetings))
		for _, x := range m.SubMeetings {
			subs = append(subs, map[string]any{
				"sub_meeting_id": x.ID, "status": 0,
				"start_time": strconv.FormatInt(x.Start.Unix(), 10), "end_time": strconv.FormatInt(x.End.Unix(), 10),
			})
		}
		info["sub_meetings"] = subs
		info["current_sub_meeting_id"] = m.SubMeetings[len(m.SubMeetings)-1].ID
		info["has_more_sub_meeting"] = 0
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(map[string]any{"meeting_number": 1, "meeting_info_list": []any{info}}) //nolint:errcheck
	return nil
}

// uuidIn is the uuid a person has in meeting m: valid for that meeting only, unless StableUUIDs.
func (s *Server) uuidIn(m *Meeting, uuid string) string {
	if s.opts.StableUUIDs || uuid == "" {
		return uuid
	}
	sum := sha256.Sum256([]byte(m.MeetingID + "/" + uuid))
	return "WM" + hex.EncodeToString(sum[:12])
}

// endedAt reports whether /v1/meetings/{id} no longer returns m at now (1095/42418): a one-off meeting
// that ended (a finished recording proves it) or is an hour past its scheduled end; a recurring one 30
// days past its last occurrence. s.mu is held.
func endedAt(m *Meeting, now time.Time) bool {
	if m.Recurring {
		last := m.End
		for _, x := range m.SubMeetings {
			if x.End.After(last) {
				last = x.End
			}
		}
		return !last.IsZero() && now.After(last.Add(30*24*time.Hour))
	}
	for _, r := range m.Records {
		if r.State == 3 {
			return true
		}
	}
	return !m.End.IsZero() && now.After(m.End.Add(time.Hour))
}

// endedEntry is one ended meeting or occurrence of the ended-meeting listings.
type endedEntry struct {
	m          *Meeting
	sub        string
	start, end time.Time
}

// endedEntriesLocked lists the ended meetings and ended occurrences, with their media-room times: the
// span of their recordings when there are some, else the schedule. s.mu is held.
func (s *Server) endedEntriesLocked(now time.Time) []endedEntry {
	var out []endedEntry
	for _, m := range s.order {
		span := func(from, to time.Time) (time.Time, time.Time) {
			var a, b time.Time
			for _, r := range m.Records {
				if r.Start.Before(from) || r.Start.After(to) {
					continue
				}
				if a.IsZero() || r.Start.Before(a) {
					a = r.Start
				}
				for _, f := range r.Files {
					if f.End.After(b) {
						b = f.End
					}
				}
			}
			if a.IsZero() {
				return from, to
			}
			if b.Before(a) {
				b = a
			}
			return a, b
		}
		if m.Recurring {
			for _, x := range m.SubMeetings {
				if !x.End.Before(now) {
					continue
				}
				a, b := span(x.Start.Add(-time.Hour), x.End.Add(time.Hour))
				out = append(out, endedEntry{m, x.ID, a, b})
			}
			continue
		}
		ended := !m.End.IsZero() && m.End.Before(now)
		for _, r := range m.Records {
			ended = ended || r.State == 3
		}
		if ended {
			a, b := span(m.Start.Add(-24*time.Hour), m.End.Add(24*time.Hour))
			out = append(out, endedEntry{m: m, start: a, end: b})
		}
	}
	slices.SortStableFunc(out, func(a, b endedEntry) int { return a.start.Compare(b.start) })
	return out
}

// endedMeetings serves /v1/corp/meetings?meeting_state=1 (user == "": the enterprise, admins only,
// times in ms, userid = the creator; 1095/52492) and /v1/history/meetings/{user} (meetings the user
// created or attended, times in seconds, span at most 90 days; 1095/53805). Pages of at most 20.
func (s *Server) endedMeetings(w *statusWriter, r *http.Request, user string) *apiError {
	q := r.URL.Query()
	op, e := s.operator(q)
	if e != nil {
		return e
	}
	corp := user == ""
	if corp {
		if !s.isAdmin(op) {
			return noPermission(op)
		}
		if q.Get("meeting_state") != "1" {
			return badRequest(190004, "this emulator serves meeting_state=1 (ended) only")
		}
	} else if user != op && !s.isAdmin(op) {
		return noPermission(op)
	}
	st, e := intParam(q, "start_time", 0)
	if e != nil {
		return e
	}
	et, e := intParam(q, "end_time", 0)
	if e != nil {
		return e
	}
	now := s.now()
	from, to := time.Unix(st, 0), time.Unix(et, 0)
	switch {
	case st == 0 && et == 0:
		from, to = now.Add(-maxSpan), now
	case et == 0:
		to = from.Add(maxSpan)
	case st == 0:
		from = to.Add(-maxSpan)
	}
	if to.Before(from) || (!corp && to.Sub(from) > 90*24*time.Hour) {
		return badRequest(190004, "start_time..end_time must be at most 90 days")
	}
	size, page, e := pageParams(q, 20, 20)
	if e != nil {
		return e
	}
	s.mu.Lock()
	var hits []endedEntry
	for _, x := range s.endedEntriesLocked(now) {
		if x.start.Before(from) || x.start.After(to) {
			continue
		}
		if !corp && x.m.creator() != user && !slices.ContainsFunc(x.m.Participants, func(p Person) bool { return p.UserID == user }) {
			continue
		}
		hits = append(hits, x)
	}
	s.mu.Unlock()
	total := int64(len(hits))
	lo, hi := min((page-1)*size, total), min(page*size, total)
	list := make([]map[string]any, 0, hi-lo)
	for _, x := range hits[lo:hi] {
		mt := 0
		if x.m.Recurring {
			mt = 1
		}
		at := func(t time.Time) any {
			if corp {
				return s.num(t.UnixMilli())
			}
			return s.num(t.Unix())
		}
		e := map[string]any{
			"meeting_id": s.id(x.m.MeetingID), "meeting_code": x.m.MeetingCode, "subject": x.m.Subject,
			"meeting_type": mt, "start_time": at(x.start), "end_time": at(x.end),
		}
		if x.sub != "" {
			e["sub_meeting_id"] = x.sub
		}
		if corp {
			e["userid"] = x.m.creator()
			e["userid_type"] = 1
			e["participants_num"] = len(x.m.Participants)
		}
		list = append(list, e)
	}
	s.writeJSON(w, map[string]any{
		"total_count": s.num(total), "total_page": s.num((total + size - 1) / size),
		"current_page": page, "current_size": len(list), "meeting_info_list": list,
	})
	return nil
}
