package tencent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// STSPath is the endpoint that asks Tencent for an app-level STS token. [COMMUNITY] It is not in the
// official SDKs and its page (企业自建应用票据, probably 1095/127650) could not be read; two independent
// Node.js projects and a third-party design doc call it as below (tencent-meeting-api.md §10.2.5). The
// token itself arrives asynchronously as the common.sts-token webhook event (1095/127651).
const STSPath = "/v1/app/sts-token"

// STSValidHours are the valid_time values the community code sends (hours) [COMMUNITY].
var STSValidHours = []int{6, 12, 24}

// RequestSTSToken asks for a new STS token valid for hours (6, 12 or 24) as operator (an admin userid;
// operator_id_type 1). It returns the request's req_id when the answer carries one: the
// common.sts-token event that delivers the token names it. [COMMUNITY] request and answer shape.
func (c *Client) RequestSTSToken(ctx context.Context, operator string, hours int) (string, error) {
	if operator == "" {
		return "", permanentf("tencent %s: no operator_id (an admin userid) to request an STS token as", STSPath)
	}
	body, err := json.Marshal(map[string]any{"operator_id": operator, "operator_id_type": 1, "valid_time": hours})
	if err != nil {
		return "", permanent(fmt.Errorf("tencent %s: %w", STSPath, err))
	}
	var ans struct {
		ReqID json.RawMessage `json:"req_id"`
	}
	err = c.Post(ctx, STSPath, body, func(b []byte) error {
		if len(strings.TrimSpace(string(b))) == 0 {
			return nil // the community code does not read the answer; an empty one is accepted
		}
		return json.Unmarshal(b, &ans)
	})
	if err != nil {
		return "", err
	}
	return strings.Trim(string(ans.ReqID), `"`), nil
}

// Post performs one signed POST of body (JSON) to path and hands a 2xx body to decode. Errors are marked
// like Get's; a POST is not signed again on 190301, since it is not known to be idempotent.
func (c *Client) Post(ctx context.Context, path string, body []byte, decode func(body []byte) error) error {
	u := *c.base
	raw := c.base.EscapedPath() + path
	unesc, err := url.PathUnescape(raw)
	if err != nil {
		return permanent(fmt.Errorf("tencent POST %s: %w", path, err))
	}
	u.Path, u.RawPath, u.RawQuery = unesc, raw, ""
	got, trace, err := c.once(ctx, http.MethodPost, &u, path, []Limiter{c.all}, body, nil)
	if err == nil {
		if err = decode(got); err == nil {
			return nil
		}
		err = &APIError{Method: http.MethodPost, Path: path, Status: http.StatusOK, Trace: trace,
			Snippet: "undecodable answer: " + err.Error()}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("tencent POST %s: %w", path, ctx.Err())
	}
	var te *Error
	if errors.As(err, &te) {
		return err
	}
	disp := dispRetry
	var ae *APIError
	if errors.As(err, &ae) {
		disp = classify(ae)
	}
	if disp == dispFresh {
		disp = dispRetry
	}
	return finalize(err, disp)
}

// dataSensitive names the paths that, for apps created from 2026-01-16, need the STS-Token header:
// /v1/addresses/{record_file_id} (1095/51180) and /v1/records/transcripts/* (1095/65111, 1095/127651).
// Whether /v1/smart/* and /v1/addresses need it is not documented (tencent-meeting-api.md §10.0), so they
// do not get it.
func dataSensitive(path string) bool {
	return strings.HasPrefix(path, "/v1/addresses/") || strings.HasPrefix(path, "/v1/records/transcripts/")
}

// setSTS adds the STS-Token header on a data-sensitive call when a valid token is stored. It is not
// signed: the AK/SK signature covers only X-TC-Key, nonce, timestamp, URI and body (§1.3).
func (c *Client) setSTS(h http.Header, path string) {
	if c.sts == nil || !dataSensitive(path) {
		return
	}
	if tok := c.sts(); tok != "" {
		h.Set("STS-Token", tok)
	}
}
