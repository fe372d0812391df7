package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"meetpipe/runner/finding"
)

// CheckConfig is what Check needs to know of the listing it stands for.
type CheckConfig struct {
	Mode     string   // ModeCorp or ModePerTeacher
	Operator string   // the admin in corp mode
	Teachers []string // the operators in per_teacher mode; the first is checked
	// Whitelist are the teachers whose userids are looked up at Tencent (GET /v1/users/{userid}).
	Whitelist []string
	// RequestsPerSecond and CorpRecordsPerMinute are the client-side limits configured.
	RequestsPerSecond    float64
	CorpRecordsPerMinute float64
}

// Documented limits and codes the check maps (docs/tencent-meeting-api.md corrections 4 and 5:
// 1095/105276 for the limits, 1095/43704 for 190300 and 190303).
const (
	appCallsPerMinute  = 300
	corpCallsPerMinute = 10
	maxClockSkew       = 5 * time.Minute
	codeTimestampSkew  = 190300 // X-TC-Timestamp more than 5 minutes from the server clock
	codeUnknownSecret  = 190303 // AK/SK: unrecognised secret (AppId, X-TC-Key, an unassigned SdkId); new code 200190303
)

// ipCandidateRE finds words that may be an IP address; net.ParseIP decides (a time such as 10:30:45 is not).
var ipCandidateRE = regexp.MustCompile(`[0-9A-Fa-f.:]{7,}`)

// ipIn returns the first IP address in an error message, or "".
func ipIn(msg string) string {
	for _, w := range ipCandidateRE.FindAllString(msg, -1) {
		w = strings.Trim(w, ".:")
		if ip := net.ParseIP(w); ip != nil && (ip.To4() != nil || strings.Contains(w, ":")) {
			return ip.String()
		}
	}
	return ""
}

// Check makes one signed, cheap call in the configured mode (a one-record page of the last hour, with the
// operator of that mode) and reports what stands in the way of listing: the network, the clock against
// the server's Date, the signature, AppId and SdkId, the IP whitelist and the operator's rights. It also
// compares the configured rate limits with the documented ones. It changes nothing at Tencent.
func (c *Client) Check(ctx context.Context, cc CheckConfig) []finding.Finding {
	out := []finding.Finding{rateFinding(cc)}
	path, op := "/v1/records", ""
	switch cc.Mode {
	case ModeCorp:
		path, op = "/v1/corp/records", cc.Operator
	default:
		if len(cc.Teachers) > 0 {
			op = cc.Teachers[0]
		}
	}
	subject := fmt.Sprintf("Tencent %s listing as %s", cc.Mode, op)
	now := c.now()
	q, err := RecordsQuery{Operator: op, Start: now.Add(-time.Hour), End: now, Page: 1, PageSize: 1, RecordType: 1}.values()
	if err != nil {
		return append(out, finding.Fail(subject, err.Error(), "set operator_id (TQM_OPERATOR_ID) in corp mode, or teachers in per_teacher mode"))
	}
	status, date, ae, err := c.probe(ctx, path, q)
	var nl *notListingError
	if errors.As(err, &nl) {
		return append(out, finding.Fail(subject, nl.Error(),
			"set TQM_BASE_URL to Tencent Meeting's API (https://api.meeting.qq.com); a proxy or portal answered instead"))
	}
	if err != nil {
		return append(out, finding.Fail("Tencent API "+c.base.String(), err.Error(),
			"check that TQM_BASE_URL is reachable from this machine (DNS, proxy, firewall)"))
	}
	clockBad := false
	if f, ok := clockFinding(date, now, ae); ok {
		out = append(out, f)
		clockBad = f.Status == finding.StatusFail
	}
	if ae == nil {
		out = append(out, finding.OK(subject, fmt.Sprintf("HTTP %d: signature, AppId, SdkId, IP whitelist and operator rights accepted", status)))
		uctx, cancel := context.WithTimeout(ctx, userCheckTimeout)
		defer cancel()
		return append(out, c.checkTeachers(uctx, cc)...)
	}
	if clockBad && (ae.HasCode(CodeBadSignature) || ae.HasCode(codeTimestampSkew)) {
		return out // the clock finding says it: a timestamp out of the window fails the signature too
	}
	return append(out, c.apiFinding(subject, op, cc.Mode, ae))
}

// rateFinding compares the configured client-side limits with the app's documented ones.
func rateFinding(cc CheckConfig) finding.Finding {
	const subject = "Tencent rate limits"
	perMin := cc.RequestsPerSecond * 60
	if cc.RequestsPerSecond <= 0 {
		perMin = DefaultRequestsPerSecond * 60 // what the client runs at when none is configured: 240/min
	}
	detail := fmt.Sprintf("%.0f requests/min configured of the app's %d/min", perMin, appCallsPerMinute)
	if cc.Mode == ModeCorp {
		cpm := cc.CorpRecordsPerMinute
		if cpm <= 0 {
			cpm = corpCallsPerMinute
		}
		detail += fmt.Sprintf("; /v1/corp/records %.0f/min of %d/min", cpm, corpCallsPerMinute)
		if cpm > corpCallsPerMinute {
			return finding.Warn(subject, detail, fmt.Sprintf("set corp_records_per_minute to %d or less, or listings will be refused with 190310", corpCallsPerMinute))
		}
	}
	if perMin > appCallsPerMinute {
		return finding.Warn(subject, detail, fmt.Sprintf("set TQM_RPS (requests_per_second) to %d or less, or calls "+
			"will be refused with 190310", appCallsPerMinute/60))
	}
	return finding.OK(subject, detail)
}

// clockFinding measures this machine's clock against the server's Date header (and 190300, which says
// the same without a figure).
func clockFinding(date, now time.Time, ae *APIError) (finding.Finding, bool) {
	const subject = "clock"
	const remedy = "synchronise this machine's clock (timedatectl set-ntp true, or chrony/ntpd)"
	skewed := ae != nil && ae.HasCode(codeTimestampSkew)
	if date.IsZero() {
		if skewed {
			return finding.Fail(subject, "Tencent says X-TC-Timestamp is more than 5 minutes from its clock (190300)", remedy), true
		}
		return finding.Finding{}, false
	}
	skew := now.Sub(date).Round(time.Second)
	detail := fmt.Sprintf("%s from the server's Date", skew)
	switch {
	case skewed || skew > maxClockSkew || skew < -maxClockSkew:
		return finding.Fail(subject, detail+"; requests more than 5 minutes off are refused", remedy), true
	case skew > time.Minute || skew < -time.Minute:
		return finding.Warn(subject, detail, remedy), true
	}
	return finding.OK(subject, detail), true
}

// apiFinding turns an error answer into what to do about it.
func (c *Client) apiFinding(subject, op, mode string, ae *APIError) finding.Finding {
	detail := fmt.Sprintf("HTTP %d error %d", ae.Status, ae.Code)
	if ae.NewCode != 0 {
		detail += fmt.Sprintf(" (new %d)", ae.NewCode)
	}
	if ae.Message != "" {
		detail += ": " + ae.Message
	} else if ae.Snippet != "" {
		detail += ": " + ae.Snippet
	}
	sdk := "no SdkId is sent, which is right only for apps that were assigned none"
	if c.sdkID != "" {
		sdk = "check APP_ID (sent as SdkId), and leave it empty if the app was assigned none"
	}
	switch {
	case ae.HasCode(CodeIPNotWhitelisted):
		ip := "this server's egress IP"
		if m := ipIn(ae.Message); m != "" {
			ip = m
		}
		return finding.Fail(subject+": IP whitelist", detail, fmt.Sprintf("add %s to the app's IP whitelist in the "+
			"Tencent Meeting admin console (企业自建应用 → IP 白名单)", ip))
	case ae.HasCode(codeUnknownSecret), ae.HasCode(CodeCorpMismatch), ae.HasCode(CodeInvalidCorp),
		ae.HasCode(CodeInvalidParam) && (containsFold(ae.Message, "AppId") || containsFold(ae.Message, "SdkId")):
		return finding.Fail(subject+": AppId/SdkId", detail, "check ENTERPRISE_ID (sent as AppId) and TQM_SECRET_ID (X-TC-Key) against the app's page; "+sdk)
	case ae.HasCode(codeTimestampSkew):
		return finding.Fail(subject+": clock", detail, "synchronise this machine's clock (timedatectl set-ntp true, or chrony/ntpd)")
	case ae.HasCode(CodeBadSignature):
		return finding.Fail(subject+": signature", detail, "check TQM_SECRET_ID and TQM_SECRET_KEY (copy them again from the app's page)")
	case ae.HasCode(CodeNoPermission), ae.HasCode(CodeNoPermissionOld):
		who := "TQM_OPERATOR_ID"
		if mode == ModePerTeacher {
			who = "the teacher"
		}
		return finding.Fail(subject+": operator rights", detail, fmt.Sprintf("grant %s (%s) 录制管理 rights in the admin "+
			"console, or use a super-admin, and give the app 查看/管理企业录制", op, who))
	case ae.HasCode(CodeUserUnregistered), ae.HasCode(CodeUserNotExist):
		return finding.Fail(subject+": operator", detail, fmt.Sprintf("%s is not a user of the enterprise: check TQM_OPERATOR_ID or the teacher whitelist", op))
	case ae.HasCode(CodeTooFrequent), ae.HasCode(CodePerMinuteLimit), ae.Status == http.StatusTooManyRequests:
		return finding.Warn(subject, detail, "the app is being rate limited right now: lower TQM_RPS or run the doctor again in a minute")
	case ae.Status >= 500 && ae.Code == 0:
		return finding.Warn(subject, detail, "Tencent or a proxy in between failed; run the doctor again, and check TQM_BASE_URL")
	}
	remedy := "see the code in docs/tencent-meeting-api.md §5 or Tencent's error table (1095/43704)"
	if cause := ae.Cause(); cause != "" {
		remedy = cause
	}
	return finding.Fail(subject, detail, remedy)
}

// probe makes one signed GET without retries and returns the status, the server's Date and the error
// answer, if any. It signs like once (the official SDK's authenticator) but keeps the headers once drops.
func (c *Client) probe(ctx context.Context, path string, q url.Values) (int, time.Time, *APIError, error) {
	u := *c.base
	u.Path, u.RawPath, u.RawQuery = c.base.Path+path, "", q.Encode()
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, time.Time{}, nil, err
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	nonce := c.nonce()
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-TC-Key", c.secretID)
	h.Set("X-TC-Timestamp", ts)
	h.Set("X-TC-Nonce", nonce)
	h.Set("X-TC-Signature", Signature(c.secretKey, http.MethodGet, c.secretID, nonce, ts, req.URL.RequestURI(), nil))
	h.Set("AppId", c.enterprise)
	if c.sdkID != "" {
		// Not sent when none was assigned (1095/43704; tencent-meeting-api.md correction 5), as production
		// requests do.
		h.Set("SdkId", c.sdkID)
	}
	h.Set("X-TC-Registered", "1")
	h.Set("User-Agent", "meetpipe")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, time.Time{}, nil, fmt.Errorf("tencent GET %s: %w", path, netCause(err, actx))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, time.Time{}, nil, fmt.Errorf("tencent GET %s: HTTP %d, reading body: %w", path, resp.StatusCode, netCause(err, actx))
	}
	date, _ := http.ParseTime(resp.Header.Get("Date"))
	info := decodeErrorInfo(body)
	if resp.StatusCode/100 == 2 && info == nil {
		if !isListing(body) {
			// An HTML portal page or `{}` with 200 is not Tencent accepting the signature: a proxy, a captive
			// portal or a wrong TQM_BASE_URL answered (issue 19 item 5).
			return resp.StatusCode, date, nil, &notListingError{path: path, status: resp.StatusCode, snippet: snippet(body)}
		}
		return resp.StatusCode, date, nil, nil
	}
	ae := &APIError{Method: http.MethodGet, Path: path, Status: resp.StatusCode, Trace: resp.Header.Get("X-TC-Trace")}
	if info != nil {
		ae.Code, ae.NewCode, ae.Message = int64(info.ErrorCode), int64(info.NewErrorCode), string(info.Message)
	} else {
		ae.Snippet = snippet(body)
	}
	return resp.StatusCode, date, ae, nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// notListingError is a 2xx answer that is not a listing.
type notListingError struct {
	path    string
	status  int
	snippet string
}

func (e *notListingError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d but not a listing answer (no total_count or record_meetings): %s", e.path, e.status, e.snippet)
}

// isListing reports whether body is a JSON object carrying one of the paging fields both listings answer
// (total_count, total_page, current_page, record_meetings: /v1/records 1095/51189, /v1/corp/records
// 1095/53224); `{}` or an HTML page is not one.
func isListing(body []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	for _, k := range []string{"total_count", "total_page", "current_page", "record_meetings"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}
