package tencent

import (
	"fmt"
	"testing"
)

func TestEveryCall(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&APIError{Status: 400, Code: CodeBadSignature}, true},
		{fmt.Errorf("list: %w", &APIError{Status: 400, Code: CodeClockSkew}), true},
		{&APIError{Status: 400, NewCode: 200000000 + CodeUnknownSecret}, true},
		{&APIError{Status: 400, Code: CodeDailyQuota}, true},
		{&APIError{Status: 400, Code: CodeRecordDeleted}, false},
		{&APIError{Status: 400, Code: CodeNoPermissionOld}, false}, // one meeting's permission
		{&APIError{Status: 502}, false},
		{fmt.Errorf("plain"), false},
	} {
		if got := EveryCall(tt.err); got != tt.want {
			t.Errorf("EveryCall(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
