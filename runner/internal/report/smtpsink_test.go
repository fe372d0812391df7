package report

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpSink is a small SMTP server on loopback for tests: it speaks enough ESMTP for a client to
// authenticate (PLAIN), optionally upgrade with STARTTLS, and deliver; it keeps what it received.
type smtpSink struct {
	ln       net.Listener
	tls      *tls.Config // nil: STARTTLS not offered
	mu       sync.Mutex
	messages []sinkMessage
}

type sinkMessage struct {
	From       string
	To         []string
	Data       string
	User, Pass string
	TLS        bool
}

func startSMTPSink(t *testing.T, withTLS bool) (*smtpSink, *x509.CertPool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	var pool *x509.CertPool
	if withTLS {
		cert, p := selfSigned(t)
		s.tls, pool = &tls.Config{Certificates: []tls.Certificate{cert}}, p
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, pool
}

func (s *smtpSink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpSink) received() []sinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMessage(nil), s.messages...)
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { c.Write([]byte(line + "\r\n")) }
	say("220 sink ESMTP")
	var cur sinkMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			ext := []string{"sink", "AUTH PLAIN", "8BITMIME"}
			if s.tls != nil && !cur.TLS {
				ext = append(ext, "STARTTLS")
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				say("250" + sep + e)
			}
		case "STARTTLS":
			if s.tls == nil {
				say("502 not offered")
				continue
			}
			say("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r, cur.TLS = tc, bufio.NewReader(tc), true
			say = func(line string) { tc.Write([]byte(line + "\r\n")) }
		case "AUTH":
			f := strings.Fields(line)
			if len(f) < 3 || strings.ToUpper(f[1]) != "PLAIN" {
				say("504 only PLAIN with an initial response")
				continue
			}
			b, _ := base64.StdEncoding.DecodeString(f[2])
			parts := strings.Split(string(b), "\x00")
			if len(parts) == 3 {
				cur.User, cur.Pass = parts[1], parts[2]
			}
			say("235 authenticated")
		case "MAIL":
			cur.From = strings.Trim(strings.TrimPrefix(strings.SplitN(line, ":", 2)[1], " "), "<>")
			cur.From = strings.SplitN(cur.From, ">", 2)[0]
			say("250 ok")
		case "RCPT":
			to := strings.Trim(strings.SplitN(line, ":", 2)[1], " <>")
			cur.To = append(cur.To, strings.SplitN(to, ">", 2)[0])
			say("250 ok")
		case "DATA":
			say("354 end with .")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			cur.Data = b.String()
			s.mu.Lock()
			s.messages = append(s.messages, cur)
			s.mu.Unlock()
			cur = sinkMessage{User: cur.User, Pass: cur.Pass, TLS: cur.TLS}
			say("250 queued")
		case "RSET", "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("500 unknown command")
		}
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
