package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"meetpipe/runner/finding"
	"meetpipe/runner/textdist"
)

// User is the part of GET /v1/users/{userid} the doctor reads. The answer also carries a phone number and
// an e-mail address: never decoded, never logged.
type User struct {
	UserID string
	Name   string
	// Status is 1 normal, 2 注销 (cancelled), 3 未激活 (not activated), 4 禁用 (disabled).
	Status string
}

// User looks one userid up (GET /v1/users/{userid}?operator_id=&operator_id_type=1, the Go SDK's
// service/user_manager V1UsersUseridGet, which requires the operator). It returns nil and no error when
// the enterprise does not know the userid: 20001 "user does not exist" (D-ERR), or 190001 when the
// userid is itself the operator (1095/112924).
func (c *Client) User(ctx context.Context, userid, operator string) (*User, error) {
	v := url.Values{}
	v.Set("operator_id", operator)
	v.Set("operator_id_type", "1")
	var w struct {
		UserID   flexString `json:"userid"`
		Username flexString `json:"username"`
		Status   flexString `json:"status"`
	}
	err := c.Get(ctx, "/v1/users/"+url.PathEscape(userid), v, func(b []byte) error { return json.Unmarshal(b, &w) })
	var ae *APIError
	switch {
	case errors.As(err, &ae) && (ae.HasCode(CodeUserNotExist) || ae.HasCode(CodeUserUnregistered) && operator == userid):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("user %s: %w", userid, err)
	}
	return &User{UserID: string(w.UserID), Name: string(w.Username), Status: string(w.Status)}, nil
}

// maxUserChecks bounds the doctor's user look-ups: one cheap signed call per whitelisted teacher.
const maxUserChecks = 50

// checkTeachers looks every whitelisted userid up (at most maxUserChecks) and fails naming those Tencent
// does not know, with the nearest userid among the hosts and creators a recent listing showed. A typo in
// the whitelist otherwise filters out every recording of that teacher, night after night, in silence.
func (c *Client) checkTeachers(ctx context.Context, cc CheckConfig) []finding.Finding {
	list := cc.Whitelist
	if len(list) == 0 {
		return nil
	}
	const subject = "teacher whitelist"
	checked := list[:min(len(list), maxUserChecks)]
	var unknown, inactive, failed []string
	for _, id := range checked {
		op := cc.Operator
		if cc.Mode != ModeCorp || op == "" {
			op = id // per_teacher: each teacher asks about itself
		}
		u, err := c.User(ctx, id, op)
		switch {
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s (%v)", id, err))
		case u == nil:
			unknown = append(unknown, id)
		case u.Status != "" && u.Status != "1":
			inactive = append(inactive, fmt.Sprintf("%s (status %s)", id, u.Status))
		}
		if ctx.Err() != nil {
			break
		}
	}
	var out []finding.Finding
	if len(unknown) > 0 {
		seen := c.seenUsers(ctx, cc, unknown)
		var parts []string
		for _, id := range unknown {
			p := fmt.Sprintf("%q", id)
			if m := didYouMean(id, seen); m != "" {
				p += fmt.Sprintf(" (did you mean %q?)", m)
			}
			parts = append(parts, p)
		}
		out = append(out, finding.Fail(subject, fmt.Sprintf("Tencent does not know %d of %d whitelisted "+
			"userid(s): %s", len(unknown), len(checked), strings.Join(parts, ", ")),
			"correct TEACHER_WHITELIST: an unknown userid never hosts anything, so every recording of that teacher is filtered out"))
	}
	if len(inactive) > 0 {
		out = append(out, finding.Warn(subject, "not active at Tencent: "+strings.Join(inactive, ", "), "status 2 "+
			"cancelled, 3 not activated, 4 disabled: check the accounts in the admin console"))
	}
	if len(failed) > 0 {
		out = append(out, finding.Warn(subject, "could not be looked up: "+strings.Join(failed, "; "), "run the "+
			"doctor again; the listing check above says whether Tencent is reachable"))
	}
	if len(out) == 0 {
		out = append(out, finding.OK(subject, fmt.Sprintf("Tencent knows all %d whitelisted userid(s)", len(checked))))
	}
	if len(list) > len(checked) {
		out = append(out, finding.Warn(subject, fmt.Sprintf("%d more userid(s) not looked up (the doctor makes at "+
			"most %d calls here)", len(list)-len(checked), maxUserChecks), ""))
	}
	return out
}

// maxSeenListings bounds the listing pages the did-you-mean reads in per_teacher mode.
const maxSeenListings = 5

// seenUsers are the hosts and creators of the recordings of the last 31 days, from one listing page (the
// admin's in corp mode; in per_teacher mode, of up to maxSeenListings teachers Tencent knows):
// candidates for a did-you-mean.
func (c *Client) seenUsers(ctx context.Context, cc CheckConfig, unknown []string) []string {
	now := c.now()
	q := RecordsQuery{Start: now.Add(-MaxWindow), End: now, Page: 1, PageSize: MaxPageSize, RecordType: 1}
	var ops []string
	if cc.Mode == ModeCorp {
		ops = []string{cc.Operator}
	} else {
		for _, t := range cc.Teachers {
			if !slices.Contains(unknown, t) && len(ops) < maxSeenListings {
				ops = append(ops, t)
			}
		}
	}
	var out []string
	for _, op := range ops {
		q.Operator = op
		var p *RecordsPage
		var err error
		if cc.Mode == ModeCorp {
			p, err = c.CorpRecords(ctx, q)
		} else {
			p, err = c.Records(ctx, q)
		}
		if err != nil {
			continue
		}
		for _, r := range p.Records {
			for _, id := range []string{r.HostUserID, r.CreatorUserID, op} {
				if id != "" && !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// didYouMean returns the candidate nearest to id (same letters once case, full width and separators are
// folded, or within a small edit distance), or "".
func didYouMean(id string, candidates []string) string {
	if slices.Contains(candidates, id) {
		return ""
	}
	f := foldID(id)
	best, bestD := "", max(2, len([]rune(f))/4)+1
	for _, c := range candidates {
		d := textdist.Distance(f, foldID(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// foldID lower-cases, turns full-width ASCII into ASCII and drops white space.
func foldID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		if unicode.IsSpace(r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// userCheckTimeout bounds the whole whitelist check.
const userCheckTimeout = 2 * time.Minute
