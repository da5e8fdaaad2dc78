package mailer

import (
	"bufio"
	"context"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOutbox checks that each message becomes one .eml file a mail parser
// reads back with its recipient, subject and text.
func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o := &Outbox{Dir: dir, From: "OCR <no-reply@ocr.example>"}
	require.NoError(t, o.Send(context.Background(), Message{To: "ada@example.com", Subject: "Verify your email ✓", Text: "Follow\nhttp://x/verify-email?token=abc\n"}))
	require.NoError(t, o.Send(context.Background(), Message{To: "bob@example.com", Subject: "Hi", Text: "two"}))
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file left")
	var found bool
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		m, err := mail.ReadMessage(strings.NewReader(string(b)))
		require.NoError(t, err)
		if m.Header.Get("To") != "ada@example.com" {
			continue
		}
		found = true
		subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		require.NoError(t, err)
		require.Equal(t, "Verify your email ✓", subject)
		require.Contains(t, string(b), "http://x/verify-email?token=abc\r\n")
	}
	require.True(t, found)
}

// TestBadMessage checks that header injection and non-addresses are
// refused before anything is written or sent.
func TestBadMessage(t *testing.T) {
	o := &Outbox{Dir: t.TempDir(), From: "no-reply@ocr.example"}
	for _, m := range []Message{
		{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "x"},
		{To: "not an address", Subject: "x"},
		{To: "ada@example.com", Subject: "x\r\nBcc: eve@example.com"},
	} {
		require.ErrorIs(t, o.Send(context.Background(), m), ErrBadMessage)
	}
	entries, _ := os.ReadDir(o.Dir)
	require.Empty(t, entries)
}

// TestSMTP checks the SMTP client against a minimal in-process SMTP
// server: the envelope and the message arrive as sent.
func TestSMTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r, w := bufio.NewReader(conn), conn
		var lines []string
		reply := func(s string) { _, _ = w.Write([]byte(s + "\r\n")) }
		reply("220 test ESMTP")
		inData := false
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				got <- lines
				return
			}
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			switch {
			case inData && l == ".":
				inData = false
				reply("250 queued")
			case inData:
			case strings.HasPrefix(l, "EHLO"):
				reply("250 test")
			case l == "DATA":
				inData = true
				reply("354 go ahead")
			case l == "QUIT":
				reply("221 bye")
				got <- lines
				return
			default:
				reply("250 ok")
			}
		}
	}()
	s := &SMTP{Addr: ln.Addr().String(), From: "OCR <no-reply@ocr.example>", Timeout: 5 * time.Second}
	require.NoError(t, s.Send(context.Background(), Message{To: "ada@example.com", Subject: "Verify", Text: "link"}))
	lines := <-got
	require.Contains(t, lines, "MAIL FROM:<no-reply@ocr.example>")
	require.Contains(t, lines, "RCPT TO:<ada@example.com>")
	require.Contains(t, lines, "Subject: Verify")
	require.Contains(t, lines, "link")
}
