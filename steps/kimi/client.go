package kimi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// endpoint joins a base URL and an API path. Every OpenAI-compatible base ends in /v1
// (https://api.moonshot.cn/v1, http://gpu:8000/v1); a bare host such as an emulator's URL gets /v1 added,
// so that both spellings work.
func endpoint(base, path string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("base URL %q is not an absolute http(s) URL", runnerSafe(base))
	}
	p := strings.TrimRight(u.Path, "/")
	if p == "" {
		p = "/v1"
	}
	u.Path = p + "/" + strings.TrimLeft(path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// CheckBaseURL says whether base can be a server's base URL (an absolute http or https URL), so that a
// bad one is refused when the pipeline loads rather than by every request of a run.
func CheckBaseURL(base string) error {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := runnerSafe(base)
		if err != nil { // "127.0.0.1:8000" does not parse: show it, without any user info
			shown = strings.TrimSpace(base)
			if i := strings.LastIndexByte(shown, '@'); i >= 0 {
				shown = shown[i+1:]
			}
		}
		return fmt.Errorf("base URL %q is not an absolute http(s) URL such as http://host:8000/v1", shown)
	}
	return nil
}

// runnerSafe drops user info and query from a URL for error messages.
func runnerSafe(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return http.DefaultClient
}

// readBody reads at most limit bytes of a response body.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return b, nil
}

// do sends req and returns the body of a 2xx response, or an *APIError.
func do(ctx context.Context, hc *http.Client, req *http.Request, op string, limit int64) ([]byte, http.Header, error) {
	resp, err := httpClient(hc).Do(req.WithContext(ctx))
	if err != nil {
		// url.Error repeats the URL; the base URL carries no secret, but keep errors short and uniform.
		return nil, nil, fmt.Errorf("%s: %w", op, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := readBody(resp.Body, maxErrorBody)
		return nil, resp.Header, parseAPIError(op, resp.StatusCode, resp.Header, b, time.Now())
	}
	b, err := readBody(resp.Body, limit)
	if err != nil {
		return nil, resp.Header, fmt.Errorf("%s: read response: %w", op, err)
	}
	return b, resp.Header, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s %s: %w", ue.Op, runnerSafe(ue.URL), ue.Err)
	}
	return err
}
