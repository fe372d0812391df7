package report

import (
	"context"
	"crypto/tls"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	wecomemu "meetpipe/plugins/wecom_notify/emulator"
)

func TestDigest(t *testing.T) {
	d := build().Digest()
	for _, want := range []string{"会话 **4** 次", "新学员 2", "待复核 <font color=\"warning\">1</font>", "失败 2", "待处理 1",
		"`1004`", "too-short", "kimi_asr ×2", "阶段：简历优化 1 · 项目深挖 1 · Offer后续 1 · 其他 1"} {
		if !strings.Contains(d, want) {
			t.Errorf("digest lacks %q:\n%s", want, d)
		}
	}
	if len(d) > maxWeComContent {
		t.Errorf("digest is %d bytes, over the robot's limit", len(d))
	}
}

func TestWeComDigestThroughTheEmulator(t *testing.T) {
	const key = "robot-key-7f3a"
	srv, err := wecomemu.Start(wecomemu.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := build()
	if err := (WeCom{Key: key, BaseURL: srv.URL()}).Send(context.Background(), r.Digest()); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].MsgType != "markdown" || msgs[0].Content != r.Digest() {
		t.Fatalf("the robot got %+v", msgs)
	}
	// A wrong key is the robot's refusal, and the key is not in the error.
	err = (WeCom{Key: "wrong-key-123", BaseURL: srv.URL()}).Send(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "93000") || strings.Contains(err.Error(), "wrong-key-123") {
		t.Fatalf("wrong key: %v", err)
	}
	// A long digest is cut to what the robot takes, at a character boundary.
	long := strings.Repeat("学员进度", 1000)
	if err := (WeCom{Key: key, BaseURL: srv.URL()}).Send(context.Background(), long); err != nil {
		t.Fatalf("long digest: %v", err)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Fatalf("messages = %d", n)
	}
}

func TestMailThroughAnSMTPSink(t *testing.T) {
	r := build()
	html := []byte("<html><body>报告</body></html>")
	t.Run("STARTTLS", func(t *testing.T) {
		sink, pool := startSMTPSink(t, true)
		m := SMTP{Host: "127.0.0.1", Port: sink.port(), User: "reports@example.com", Pass: "s3cret-pass",
			From: "reports@example.com", To: []string{"jiaowu@example.com", "lead@example.com"}, StartTLS: "true",
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
		if err := m.Mail(context.Background(), "辅导进度报告 11-02", r.Digest(), Attachment{Name: "report.html", Data: html}); err != nil {
			t.Fatal(err)
		}
		got := sink.received()
		if len(got) != 1 {
			t.Fatalf("the sink got %d messages", len(got))
		}
		g := got[0]
		if !g.TLS || g.User != "reports@example.com" || g.Pass != "s3cret-pass" {
			t.Errorf("delivery not over STARTTLS with the credentials: tls %v user %q", g.TLS, g.User)
		}
		if g.From != "reports@example.com" || strings.Join(g.To, ",") != "jiaowu@example.com,lead@example.com" {
			t.Errorf("envelope %s → %v", g.From, g.To)
		}
		msg, err := mail.ReadMessage(strings.NewReader(g.Data))
		if err != nil {
			t.Fatal(err)
		}
		if subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); subj != "辅导进度报告 11-02" {
			t.Errorf("subject = %q", subj)
		}
		for _, want := range []string{`filename="report.html"`, "Content-Disposition: attachment"} {
			if !strings.Contains(g.Data, want) {
				t.Errorf("message lacks %q:\n%.2000s", want, g.Data)
			}
		}
	})
	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		sink, _ := startSMTPSink(t, false)
		m := SMTP{Host: "127.0.0.1", Port: sink.port(), User: "u", Pass: "s3cret-pass", From: "a@example.com",
			To: []string{"b@example.com"}, StartTLS: "true"}
		err := m.Mail(context.Background(), "x", "y")
		if err == nil || strings.Contains(err.Error(), "s3cret-pass") {
			t.Fatalf("want a refusal without the password, got %v", err)
		}
		if n := len(sink.received()); n != 0 {
			t.Fatalf("a message went out in the clear (%d)", n)
		}
	})
	t.Run("plain relay", func(t *testing.T) {
		sink, _ := startSMTPSink(t, false)
		m := SMTP{Host: "127.0.0.1", Port: sink.port(), From: "a@example.com", To: []string{"b@example.com"}, StartTLS: "false"}
		if err := m.Mail(context.Background(), "x", r.Digest()); err != nil {
			t.Fatal(err)
		}
		if got := sink.received(); len(got) != 1 || got[0].TLS || got[0].User != "" {
			t.Fatalf("got %+v", got)
		}
	})
}

// Text from meetings is shown as text: a subject or a name cannot become a link, a bold line or a tag.
func TestDigestEscapesMarkdown(t *testing.T) {
	r := build()
	r.Review[0].Subject = "[点我](http://e.vil)"
	r.Review[0].Teacher = "<font color=\"info\">**boss**</font>"
	r.Review[0].Reason = "`x`"
	d := r.Digest()
	for _, bad := range []string{"[点我]", "](http", "<font color=\"info\">", "**boss**", "`x`"} {
		if strings.Contains(d, bad) {
			t.Errorf("digest keeps the markdown %q:\n%s", bad, d)
		}
	}
	if !strings.Contains(d, "［点我］（http://e.vil）") {
		t.Errorf("the subject is not shown as typed:\n%s", d)
	}
}

// A robot answering a byte at a time runs into the client's timeout: reported as a timeout, not as an
// answer that is not JSON.
func TestWeComTricklingAnswerIsATimeout(t *testing.T) {
	const key = "robot-key-7f3a"
	srv, err := wecomemu.Start(wecomemu.Options{Key: key, Trickle: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = (WeCom{Key: key, BaseURL: srv.URL(), Client: &http.Client{Timeout: 500 * time.Millisecond}}).Send(context.Background(), "x")
	if err == nil || strings.Contains(err.Error(), "not the robot's JSON") || !strings.Contains(err.Error(), "reading the answer") ||
		!strings.Contains(err.Error(), "Timeout") || strings.Contains(err.Error(), key) {
		t.Fatalf("trickling answer: %v", err)
	}
}
