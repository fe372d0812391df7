package tencent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SettingError is a refusal of the configuration NewClient or NewLister was given, about one setting as
// the step's `with:` names it ("a,b": the first of them the operator wrote), so that the step can report
// it at that value.
type SettingError struct {
	Setting string
	Err     error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

func settingErr(setting string, format string, args ...any) error {
	return &SettingError{Setting: setting, Err: fmt.Errorf(format, args...)}
}

// APIError is an error answered by the service (an error_info body, or a non-2xx status without one, such
// as a gateway's HTML page).
type APIError struct {
	Method string
	Path   string // without the query
	Status int    // HTTP status
	// Code and NewCode are error_info.error_code and error_info.new_error_code (0 when absent).
	Code    int64
	NewCode int64
	Message string
	Trace   string // X-TC-Trace response header, for support tickets
	// Snippet is the start of a body that carried no error_info.
	Snippet string
	// RetryAfter is the answer's Retry-After header (0 when absent).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tencent %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != 0 || e.NewCode != 0 {
		fmt.Fprintf(&b, " error %d", e.Code)
		if e.NewCode != 0 {
			fmt.Fprintf(&b, " (new %d)", e.NewCode)
		}
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " %q", e.Message)
	} else if e.Snippet != "" {
		fmt.Fprintf(&b, " %q", e.Snippet)
	}
	if c := e.Cause(); c != "" {
		b.WriteString(": ")
		b.WriteString(c)
	}
	if e.Trace != "" {
		fmt.Fprintf(&b, " [trace %s]", e.Trace)
	}
	return b.String()
}

// HasCode reports whether the error carries code, as error_code or as new_error_code (which is the old code
// behind a module prefix, e.g. 108004051 for 4051).
func (e *APIError) HasCode(code int64) bool {
	if e.Code == code || e.NewCode == code {
		return true
	}
	if e.NewCode > code && code >= 1000 {
		return strings.HasSuffix(strconv.FormatInt(e.NewCode, 10), strconv.FormatInt(code, 10))
	}
	return false
}

// Error codes the client treats specially (docs/tencent-meeting-api.md §5).
const (
	CodeBadSignature     = 200003
	CodeReplay           = 190301
	CodeInvalidParam     = 190004
	CodeUserUnregistered = 190001
	CodeNoPermission     = 500133
	CodeMeetingNotFound  = 201003
	CodeCorpMismatch     = 146000010
	CodeIPNotWhitelisted = 500125
	CodeRecordDeleted    = 4051
	CodeMeetingNotExist  = 9003
	CodeNoPermissionOld  = 9042
	CodeTooFrequent      = 9061
	CodeUserNotExist     = 20001
	CodeInvalidCorp      = 50000
	CodeUnavailableCorp  = 50001
	// CodeUnknownSecret is 190303 (new code 200190303): under AK/SK the service did not recognise the
	// secret, or an SdkId was sent that the app has none of (tencent-meeting-api.md, correction 5).
	CodeUnknownSecret  = 190303
	CodeClockSkew      = 190300 // X-TC-Timestamp more than 5 minutes from the server's clock
	CodePerMinuteLimit = 190310 // 300 calls/min per app; arrives with HTTP 500 (1095/105276, 1095/53805)
	CodeDailyQuota     = 190311 // 200,000 calls/day per app (1095/105276)
	CodeInterfaceLimit = 190313 // per-interface limit, e.g. account-level APIs at 100/min (1095/105276)
	CodeQuotaExhausted = 500246
)

// causes name the likely cause of each known code, in words an operator can act on.
var causes = []struct {
	code  int64
	cause string
}{
	{CodeBadSignature, "signature rejected: check secret_id/secret_key, and that this machine's clock is within 5 minutes of the real time"},
	{CodeReplay, "nonce and timestamp reused within 5 minutes (replayed request, or a broken clock)"},
	{CodeIPNotWhitelisted, "this machine's egress IP is not in the app's IP whitelist (企业自建应用 → IP 白名单)"},
	{CodeNoPermission, "the operator lacks permission: operator_id must be a super-admin or hold 录制管理 (recording " +
		"management) permission, and the app needs 查看/管理企业录制"},
	// 9042 is "权限受限或鉴权失败" (1095/43704; tencent-meeting-api.md correction 9): permission OR
	// authentication. /v1/addresses answers it to anyone but the creator, a super admin or 录制管理 (1095/51174).
	{CodeNoPermissionOld, "权限受限或鉴权失败 (permission restricted or authentication failed): the operator may not read " +
		"this meeting or recording (only its creator, a super admin or a holder of 录制管理 may), or the app's credentials were not accepted"},
	{CodeUserUnregistered, "operator_id is not a registered user of the enterprise"},
	{CodeUserNotExist, "the user does not exist in the enterprise"},
	{CodeInvalidParam, "invalid or missing parameter (enterprise_id sent as AppId, sdk_id, operator_id_type, a window over 31 days)"},
	{CodeCorpMismatch, "enterprise_id does not match the app's enterprise"},
	{CodeInvalidCorp, "enterprise_id is invalid"},
	{CodeUnavailableCorp, "the enterprise account is unavailable (expired or lacking 商业版/企业版/教育版)"},
	{CodeMeetingNotFound, "the meeting does not exist"},
	{CodeMeetingNotExist, "the meeting does not exist"},
	{CodeRecordDeleted, "the recording was deleted"},
	{CodeUnknownSecret, "the service does not recognise the secret: check enterprise_id (AppId) and secret_id " +
		"(X-TC-Key); leave sdk_id empty when the app was assigned no SdkId"},
	{CodeClockSkew, "X-TC-Timestamp is more than 5 minutes from Tencent's clock: set this machine's clock (NTP)"},
	{CodeDailyQuota, "the app's daily call quota (200,000/day) is spent: left for the next run"},
	{CodeInterfaceLimit, "rate limited: this interface's own per-minute limit exceeded"},
	{CodeTooFrequent, "rate limited: queries too frequent"},
	{CodePerMinuteLimit, "rate limited: per-minute call limit exceeded"},
	{CodeQuotaExhausted, "API quota exhausted"},
}

// Cause is the likely cause of a known code, or "".
func (e *APIError) Cause() string {
	if e.Code == 0 && e.NewCode == 0 {
		return ""
	}
	for _, c := range causes {
		if e.HasCode(c.code) {
			return c.cause
		}
	}
	return ""
}

// disposition says how an answer is marked, and whether the client signs it again at once (a replay).
type disposition int

const (
	dispPermanent disposition = iota
	dispRetry                 // transient: 5xx, gateway pages, network, timeouts
	dispFresh                 // a replay rejection: signed again once with a fresh nonce, else permanent
	dispRateLimit             // rate limited: transient, after holding the limiters and asking for a wait
	dispDeferred              // quota: leave the item for a later run
)

// classify decides the disposition of an APIError. Codes decide before the HTTP status: the service
// answers some permanent errors (9003) with HTTP 500.
func classify(e *APIError) disposition {
	switch {
	case e.HasCode(CodeTooFrequent), e.HasCode(CodePerMinuteLimit), e.HasCode(CodeInterfaceLimit), e.Status == 429:
		// 190310 comes with HTTP 500 (1095/53805): the code decides, not the status.
		return dispRateLimit
	case e.HasCode(CodeReplay):
		return dispFresh
	case e.HasCode(CodeQuotaExhausted), e.HasCode(CodeDailyQuota):
		return dispDeferred
	case e.Cause() != "":
		return dispPermanent
	case e.Status >= 500, e.Status == 408:
		return dispRetry
	case e.Status >= 200 && e.Status < 300:
		return dispRetry // a 2xx whose body did not decode: a truncated or proxied answer
	}
	return dispPermanent
}

// rateLimitWait is how long the engine is asked to wait when rate limiting persists: the documented
// limits are per minute.
const rateLimitWait = time.Minute
