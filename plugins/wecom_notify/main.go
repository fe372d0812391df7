// Command wecom_notify is an exec plugin (see plugins/README.md) that posts a markdown message about a
// meeting to a WeCom (企业微信) group robot webhook.
//
// Exit status: 0 sent; 75 try again later (the robot's 20 messages a minute, errcode 45009, a busy or
// unreachable server); 1 the robot refused the message; 2 bad input or settings.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	_ "time/tzdata" // the timezone setting must work on machines without zoneinfo
)

const (
	exitOK       = 0
	exitRefused  = 1
	exitUsage    = 2
	exitTempFail = 75

	// maxContent is the most bytes the robot takes in a markdown message.
	maxContent = 4096
	// tooFrequent is the robot's errcode for more than 20 messages a minute; a minute later it takes more.
	tooFrequent = 45009
	systemBusy  = -1
)

// reads are the item fields the plugin gets (the manifest's reads); absent ones render as empty.
var reads = []string{"subject", "teacher_id", "student_ids", "phase", "summary", "duration_min", "start"}

type request struct {
	ItemID   string         `json:"item_id"`
	Settings settings       `json:"settings"`
	Fields   map[string]any `json:"fields"`
}

type settings struct {
	Key         string `json:"key"`
	BaseURL     string `json:"base_url"`
	Template    string `json:"template"`
	Timezone    string `json:"timezone"`
	HTTPTimeout string `json:"http_timeout"`
	// ThrottleWait is how long to wait after errcode 45009 (the robot counts messages per minute).
	ThrottleWait string `json:"throttle_wait"`
}

// notified is what the plugin writes to the item.
type notified struct {
	At        string `json:"at"`
	Errcode   int    `json:"errcode"`
	Bytes     int    `json:"bytes"`
	Truncated bool   `json:"truncated"`
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr, http.DefaultTransport))
}

// failure is an error with the exit status it calls for.
type failure struct {
	code int
	err  error
	// retryAfter is printed on stdout with exitTempFail so the runner waits that long.
	retryAfter time.Duration
}

func (f *failure) Error() string { return f.err.Error() }

func fail(code int, format string, args ...any) *failure {
	return &failure{code: code, err: fmt.Errorf(format, args...)}
}

func run(stdin io.Reader, stdout, stderr io.Writer, rt http.RoundTripper) int {
	var req request
	dec := json.NewDecoder(stdin)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		fmt.Fprintf(stderr, "error: read input: %v\n", err)
		return exitUsage
	}
	out, err := notify(req, rt)
	if err != nil {
		var f *failure
		if !errors.As(err, &f) {
			f = &failure{code: exitRefused, err: err}
		}
		msg := f.Error()
		if req.Settings.Key != "" {
			msg = strings.ReplaceAll(msg, req.Settings.Key, "***")
		}
		fmt.Fprintf(stderr, "error: %s\n", msg)
		if f.retryAfter > 0 {
			fmt.Fprintf(stdout, `{"retry_after":%q}`+"\n", f.retryAfter.String())
		}
		return f.code
	}
	fmt.Fprintf(stderr, "sent %d bytes to the WeCom robot (truncated: %v)\n", out.Bytes, out.Truncated)
	if err := json.NewEncoder(stdout).Encode(map[string]any{"notified": out}); err != nil {
		fmt.Fprintf(stderr, "error: write output: %v\n", err)
		return exitTempFail
	}
	return exitOK
}

func notify(req request, rt http.RoundTripper) (*notified, error) {
	s := req.Settings
	if s.Key == "" {
		return nil, fail(exitUsage, "setting key is empty (the pipeline passes ${WECOM_WEBHOOK_KEY})")
	}
	if s.BaseURL == "" {
		s.BaseURL = "https://qyapi.weixin.qq.com"
	}
	if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fail(exitUsage, "base_url %q is not an http(s) address (WECOM_BASE_URL)", s.BaseURL)
	}
	timeout, err := duration(s.HTTPTimeout, "http_timeout", 10*time.Second)
	if err != nil {
		return nil, err
	}
	wait, err := duration(s.ThrottleWait, "throttle_wait", time.Minute)
	if err != nil {
		return nil, err
	}
	loc := time.Local
	if s.Timezone != "" {
		l, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return nil, fail(exitUsage, "timezone: %v", err)
		}
		loc = l
	}
	content, err := render(s.Template, req.Fields, loc)
	if err != nil {
		return nil, err
	}
	full := len(content)
	content = cut(content, maxContent)

	errcode, err := post(s.BaseURL, s.Key, content, &http.Client{Transport: rt, Timeout: timeout})
	var f *failure
	if errors.As(err, &f) && f.retryAfter > 0 {
		f.retryAfter = wait
	}
	if err != nil {
		return nil, err
	}
	return &notified{At: time.Now().UTC().Format(time.RFC3339), Errcode: errcode, Bytes: len(content),
		Truncated: len(content) < full}, nil
}

func duration(v, name string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fail(exitUsage, "%s: %v", name, err)
	}
	return d, nil
}

// render executes the message template over the item's fields.
func render(text string, fields map[string]any, loc *time.Location) (string, error) {
	if strings.TrimSpace(text) == "" {
		return "", fail(exitUsage, "setting template is empty")
	}
	t, err := template.New("message").Option("missingkey=zero").Funcs(template.FuncMap{
		"join":     join,
		"datetime": func(v any) string { return datetime(v, loc) },
	}).Parse(text)
	if err != nil {
		return "", fail(exitUsage, "template: %v", err)
	}
	data := make(map[string]any, len(fields)+len(reads))
	for _, r := range reads {
		data[r] = ""
	}
	for k, v := range fields {
		data[k] = v
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fail(exitUsage, "template: %v", err)
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", fail(exitUsage, "the template renders an empty message")
	}
	return b.String(), nil
}

// join joins a list's elements with sep; a string is returned as it is.
func join(v any, sep string) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, sep)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// datetime shows an RFC 3339 time or Unix seconds as "2006-01-02 15:04" in loc; anything else as it is.
func datetime(v any, loc *time.Location) string {
	switch v := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.In(loc).Format("2006-01-02 15:04")
		}
		return v
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return time.Unix(n, 0).In(loc).Format("2006-01-02 15:04")
		}
		return v.String()
	}
	return fmt.Sprint(v)
}

// cut shortens s to at most max bytes on a character boundary, ending with "…" when it cut.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const more = "…"
	n := max - len(more)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + more
}

// post sends the message and returns the robot's errcode. The key is part of the URL, so no error may
// carry the URL.
func post(base, key, content string, client *http.Client) (int, error) {
	body, err := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": content}})
	if err != nil {
		return 0, fail(exitUsage, "encode message: %v", err)
	}
	endpoint := strings.TrimRight(base, "/") + "/cgi-bin/webhook/send"
	resp, err := client.Post(endpoint+"?key="+url.QueryEscape(key), "application/json", bytes.NewReader(body))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fail(exitTempFail, "post %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, fail(exitTempFail, "post %s: read answer: %v", endpoint, err)
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return 0, fail(exitTempFail, "post %s: HTTP %s", endpoint, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return 0, fail(exitRefused, "post %s: HTTP %s", endpoint, resp.Status)
	}
	var ans struct {
		Errcode *int   `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Errcode == nil {
		return 0, fail(exitTempFail, "post %s: answer is not the robot's JSON: %.100q", endpoint, raw)
	}
	switch code := *ans.Errcode; code {
	case 0:
		return 0, nil
	case tooFrequent:
		f := fail(exitTempFail, "WeCom robot errcode %d (%s): more than 20 messages a minute", code, ans.Errmsg)
		f.retryAfter = time.Minute
		return 0, f
	case systemBusy:
		return 0, fail(exitTempFail, "WeCom robot errcode %d (%s)", code, ans.Errmsg)
	default:
		return 0, fail(exitRefused, "WeCom robot errcode %d (%s)", code, ans.Errmsg)
	}
}
