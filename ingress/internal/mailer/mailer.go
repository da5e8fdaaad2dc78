// Package mailer sends the platform's few emails (an account's
// verification link) through SMTP, or, where no SMTP server is configured,
// into a file outbox: one .eml file per mail in a directory, which a
// developer opens (or a test reads) instead of a mailbox. Both render the
// same RFC 5322 message, plain text in UTF-8.
package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one plain-text email.
type Message struct {
	// To is a plain address (ada@example.com).
	To      string
	Subject string
	Text    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// ErrBadMessage means a message cannot be sent as given (an address that
// is not one, a line break in a header): no retry helps.
var ErrBadMessage = errors.New("bad message")

// render returns the message as RFC 5322 bytes, with CRLF line ends.
func render(from string, m Message, now time.Time) ([]byte, error) {
	if _, err := mail.ParseAddress(m.To); err != nil || strings.ContainsAny(m.To, "\r\n<>") {
		return nil, fmt.Errorf("%w: recipient %q", ErrBadMessage, m.To)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("%w: line break in the subject", ErrBadMessage)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := "localhost"
	if _, d, ok := strings.Cut(from, "@"); ok {
		domain = strings.TrimSuffix(d, ">")
	}
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", from}, {"To", m.To}, {"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", now.UTC().Format(time.RFC1123Z)}, {"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"MIME-Version", "1.0"}, {"Content-Type", "text/plain; charset=utf-8"}, {"Content-Transfer-Encoding", "8bit"},
	} {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	text := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(text)
	if !strings.HasSuffix(text, "\r\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// Outbox writes each message to a file of its own in Dir.
type Outbox struct {
	// Dir is created when missing.
	Dir string
	// From is the sender address written in each file.
	From string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Send writes m to Dir/<unix nanoseconds>-<random>.eml, atomically: a
// reader never sees half a file.
func (o *Outbox) Send(_ context.Context, m Message) error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now()
	b, err := render(o.From, m, t)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	name := fmt.Sprintf("%d-%s.eml", t.UnixNano(), hex.EncodeToString(r[:]))
	tmp, err := os.CreateTemp(o.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(o.Dir, name)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// SMTP sends through an SMTP server, upgrading to TLS with STARTTLS when
// the server offers it, and authenticating with PLAIN when User is set
// (net/smtp refuses PLAIN over an unencrypted connection except to
// localhost, so a password never crosses a network in the clear).
type SMTP struct {
	// Addr is host:port.
	Addr string
	From string
	// User and Password, when User is set, authenticate.
	User, Password string
	// Timeout bounds one send; 0 means 30 s.
	Timeout time.Duration
}

// Send delivers m, within ctx and Timeout.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	b, err := render(s.From, m, time.Now())
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", s.Addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.User != "" {
		if err := c.Auth(smtp.PlainAuth("", s.User, s.Password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	from := s.From
	if a, err := mail.ParseAddress(from); err == nil {
		from = a.Address
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	return c.Quit()
}
