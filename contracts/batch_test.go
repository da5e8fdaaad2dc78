package contracts

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
)

func TestEventBatchRoundTrip(t *testing.T) {
	events := [][]byte{[]byte(`{"eventId":"a","time":1}`), []byte(`{"eventId":"b","time":2}`), []byte(`{"eventId":"c","time":3}`)}
	body, count := JoinEventBatch(events)
	if count != "3" {
		t.Fatalf("count %q", count)
	}
	got, err := SplitEventBatch(count, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(events) {
		t.Fatalf("got %d events", len(got))
	}
	for i := range events {
		if !bytes.Equal(got[i], events[i]) {
			t.Errorf("event %d: %q, want %q", i, got[i], events[i])
		}
	}
	// One trailing newline, as a line-oriented writer leaves it, is fine.
	if got, err := SplitEventBatch(count, append(body, '\n')); err != nil || len(got) != 3 {
		t.Errorf("trailing newline: %d events, %v", len(got), err)
	}
}

func TestEventBodies(t *testing.T) {
	got, err := EventBodies("", []byte(`{"eventId":"a"}`))
	if err != nil || len(got) != 1 || string(got[0]) != `{"eventId":"a"}` {
		t.Fatalf("single: %q, %v", got, err)
	}
	got, err = EventBodies("2", []byte("{}\n{}"))
	if err != nil || len(got) != 2 {
		t.Fatalf("batch: %q, %v", got, err)
	}
	if _, err := EventBodies("2", []byte("{}")); !errors.Is(err, ErrEventBatch) {
		t.Fatalf("short batch: %v", err)
	}
}

func TestSplitEventBatchRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		count, body string
	}{
		"count not a number": {"x", `{}`},
		"count zero":         {"0", ``},
		"count negative":     {"-1", `{}`},
		"count too big":      {strconv.Itoa(MaxEventBatch + 1), `{}`},
		"fewer lines":        {"3", "{}\n{}"},
		"more lines":         {"1", "{}\n{}"},
		"empty line":         {"3", "{}\n\n{}"},
		"blank line":         {"2", "{}\n  "},
		"empty body":         {"1", ""},
		"two newlines":       {"1", "{}\n\n"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := SplitEventBatch(c.count, []byte(c.body))
			if !errors.Is(err, ErrEventBatch) {
				t.Fatalf("got %d events, err %v; want ErrEventBatch", len(got), err)
			}
		})
	}
}

// FuzzSplitEventBatch: any body and count either split into exactly count
// non-empty lines that join back to the body, or are refused with
// ErrEventBatch; nothing panics.
func FuzzSplitEventBatch(f *testing.F) {
	f.Add("2", []byte("{\"a\":1}\n{\"b\":2}"))
	f.Add("1", []byte("{}\n"))
	f.Add("3", []byte("a\n\nb"))
	f.Add("1000", []byte("x"))
	f.Fuzz(func(t *testing.T, count string, body []byte) {
		got, err := SplitEventBatch(count, body)
		if err != nil {
			if !errors.Is(err, ErrEventBatch) {
				t.Fatalf("error %v does not wrap ErrEventBatch", err)
			}
			return
		}
		if strconv.Itoa(len(got)) != count && count != "+"+strconv.Itoa(len(got)) && !leadingZeros(count, len(got)) {
			t.Fatalf("count %q, got %d lines", count, len(got))
		}
		for i, line := range got {
			if len(bytes.TrimSpace(line)) == 0 || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line %d %q", i, line)
			}
		}
		joined, _ := JoinEventBatch(got)
		if !bytes.Equal(joined, bytes.TrimSuffix(body, []byte{'\n'})) {
			t.Fatalf("join %q != body %q", joined, body)
		}
	})
}

// leadingZeros reports whether count is n written with leading zeros (or a
// sign), which strconv.Atoi accepts.
func leadingZeros(count string, n int) bool {
	v, err := strconv.Atoi(count)
	return err == nil && v == n
}
