package report

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// Digest is the short weekly message: sessions, new students, the review queue, failures.
func (r *Report) Digest() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s %s – %s\n", mdText(r.Title), r.Since.In(r.Loc).Format("01-02"), r.UntilIncl().Format("01-02"))
	fmt.Fprintf(&b, "> 会话 **%d** 次 · %.1f 小时 · 学员 %d（新学员 %d）\n", r.Sessions(), r.Hours(), len(r.Students), r.NewStudents)
	if len(r.Recordings) > 0 {
		var parts []string
		counts := map[string]int{}
		for _, rec := range r.Recordings {
			counts[phaseOr(rec.Phase)]++
		}
		for _, p := range r.phasesWith() {
			if counts[p] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", mdText(p), counts[p]))
			}
		}
		fmt.Fprintf(&b, "> 阶段：%s\n", strings.Join(parts, " · "))
	}
	fmt.Fprintf(&b, "> 待复核 <font color=\"warning\">%d</font> · 失败 %d · 待处理 %d\n", len(r.Review), len(r.Failures), len(r.Pending))
	for i, it := range r.Review {
		if i == 5 {
			fmt.Fprintf(&b, "- …另有 %d 条\n", len(r.Review)-5)
			break
		}
		fmt.Fprintf(&b, "- 待复核 `%s` %s %s：%s\n", mdText(it.ID), mdText(it.Teacher), mdText(firstLine(it.Subject, 20)), mdText(firstLine(it.Reason, 40)))
	}
	for i, g := range r.FailuresByStep {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "- 失败 %s ×%d：%s\n", mdText(g.Step), g.Count, mdText(firstLine(g.Reason, 60)))
	}
	r.coachDigest(&b)
	return strings.TrimRight(b.String(), "\n")
}

// mdMarks are the characters WeCom's markdown gives a meaning mid-line: links, bold, inline code, <font>
// tags (developer.work.weixin.qq.com/document/path/91770, markdown type; no italics, so _ stays). The
// robot documents no escape character, so text from meetings (a subject, a name, an error) gets their
// full-width forms: a subject "[点我](http://e.vil)" then shows as typed and links nowhere.
var mdMarks = strings.NewReplacer("[", "［", "]", "］", "(", "（", ")", "）", "<", "＜", ">", "＞",
	"*", "＊", "`", "｀", "\\", "＼", "\n", " ", "\r", " ")

// mdText is s shown as text in a WeCom markdown message.
func mdText(s string) string { return mdMarks.Replace(s) }

// WeCom is a WeCom group robot: its webhook key (a secret) and base URL.
type WeCom struct {
	Key     string
	BaseURL string // default https://qyapi.weixin.qq.com
	Client  *http.Client
}

// maxWeComContent is the most bytes the robot takes in a markdown message (plugins/wecom_notify).
const maxWeComContent = 4096

// Send posts content as a markdown message. The key never appears in the error.
func (w WeCom) Send(ctx context.Context, content string) error {
	if w.Key == "" {
		return errors.New("wecom: no webhook key (WECOM_WEBHOOK_KEY, the key of wecom_notify)")
	}
	base := w.BaseURL
	if base == "" {
		base = "https://qyapi.weixin.qq.com"
	}
	if len(content) > maxWeComContent {
		content = cutBytes(content, maxWeComContent)
	}
	body, _ := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": content}})
	endpoint := strings.TrimRight(base, "/") + "/cgi-bin/webhook/send"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"?key="+url.QueryEscape(w.Key), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("wecom: post %s: %v", endpoint, scrub(err, w.Key))
	}
	req.Header.Set("Content-Type", "application/json")
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("wecom: post %s: %v", endpoint, scrub(err, w.Key))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		// A trickling answer runs into the client's timeout while the body is read: a timeout, not bad JSON.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("wecom: post %s: HTTP %s, reading the answer: %v", endpoint, resp.Status, scrub(err, w.Key))
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wecom: post %s: HTTP %s", endpoint, resp.Status)
	}
	var ans struct {
		Errcode *int   `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Errcode == nil {
		return fmt.Errorf("wecom: post %s: answer is not the robot's JSON: %.100q", endpoint, raw)
	}
	if *ans.Errcode != 0 {
		return fmt.Errorf("wecom: the robot answered errcode %d (%s)", *ans.Errcode, ans.Errmsg)
	}
	return nil
}

// SMTP is a mail server and the report's sender and recipients. Pass is a secret.
type SMTP struct {
	Host     string
	Port     int
	User     string
	Pass     string
	From     string
	To       []string
	StartTLS string // "true" (required, the default), "opportunistic", or "false" (plain, for a local relay)
	// TLSConfig overrides the TLS settings (tests trust their own CA with it).
	TLSConfig *tls.Config
	Timeout   time.Duration
}

// Attachment is a file sent with the mail.
type Attachment struct {
	Name string
	Data []byte
}

// Mail sends the digest as the body and the attachments (the HTML report, the workbook) over SMTP.
func (s SMTP) Mail(ctx context.Context, subject, body string, files ...Attachment) error {
	if s.Host == "" || s.From == "" || len(s.To) == 0 {
		return errors.New("smtp: SMTP_HOST, SMTP_FROM and SMTP_TO are required to mail the report")
	}
	policy := mail.TLSMandatory
	switch strings.ToLower(s.StartTLS) {
	case "", "true", "yes", "1", "mandatory":
	case "opportunistic":
		policy = mail.TLSOpportunistic
	case "false", "no", "0":
		policy = mail.NoTLS
	default:
		return fmt.Errorf("smtp: STARTTLS %q: want true, opportunistic or false", s.StartTLS)
	}
	port := s.Port
	if port == 0 {
		port = 587
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSPolicy(policy), mail.WithTimeout(max(s.Timeout, 5*time.Second))}
	if s.User != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.User), mail.WithPassword(s.Pass))
	}
	c, err := mail.NewClient(s.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp: %s:%d: %v", s.Host, port, scrub(err, s.Pass))
	}
	if s.TLSConfig != nil {
		if err := c.SetTLSConfig(s.TLSConfig); err != nil {
			return fmt.Errorf("smtp: %v", err)
		}
	}
	m := mail.NewMsg()
	if err := m.From(s.From); err != nil {
		return fmt.Errorf("smtp: SMTP_FROM %q: %v", s.From, err)
	}
	if err := m.To(s.To...); err != nil {
		return fmt.Errorf("smtp: SMTP_TO %q: %v", strings.Join(s.To, ","), err)
	}
	m.Subject(subject)
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, body)
	for _, f := range files {
		if err := m.AttachReader(f.Name, bytes.NewReader(f.Data)); err != nil {
			return fmt.Errorf("smtp: attach %s: %v", f.Name, err)
		}
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("smtp: send to %s:%d: %v", s.Host, port, scrub(err, s.Pass))
	}
	return nil
}

func scrub(err error, secret string) string {
	if secret == "" {
		return err.Error()
	}
	return strings.ReplaceAll(err.Error(), secret, "***")
}

func cutBytes(s string, n int) string {
	const tail = "\n…"
	n -= len(tail)
	for n > 0 && n < len(s) && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + tail
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
