package tencent

import "errors"

// everyCallCodes are refusals that do not depend on the recording asked about: the app's credentials,
// clock, egress IP, enterprise or quota. Every later call of the run meets them, so the step reports them
// as the environment's fault and the items stay pending (the 错误码 page, shared docs tencent-meeting-api.md
// D-ERR and §errors; limits 1095/105276; the codes are the ones errors.go explains).
var everyCallCodes = []int64{
	CodeBadSignature, CodeUnknownSecret, CodeClockSkew, CodeIPNotWhitelisted,
	CodeCorpMismatch, CodeInvalidCorp, CodeUnavailableCorp, CodeDailyQuota, CodeQuotaExhausted,
}

// EveryCall reports whether err is a Tencent refusal that every call would meet, whatever the recording.
func EveryCall(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range everyCallCodes {
		if ae.HasCode(c) {
			return true
		}
	}
	return false
}
