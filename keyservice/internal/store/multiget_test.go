package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestLastOf checks the batched read a group of verifications uses for
// its idempotency records: every key's entry as it stands (live, deleted,
// absent), in one read, taken only when the answering server holds the
// fence at the revision asked; an answer that never gets there is
// errStale, not a stale read.
func TestLastOf(t *testing.T) {
	st, _ := openStore(t)
	ctx := context.Background()
	b := st.state
	revA, err := b.commitSeq(ctx, write{key: "p.a", value: []byte(`{"at":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.commitSeq(ctx, write{key: "p.b", value: []byte(`x`)}); err != nil {
		t.Fatal(err)
	}
	revB, err := b.commitSeq(ctx, write{key: "p.b", anyRev: true, del: true})
	if err != nil {
		t.Fatal(err)
	}
	fence, err := b.commitSeq(ctx, write{key: "k.fence", value: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}

	at, got, err := b.lastOf(ctx, "k.fence", fence, []string{"p.a", "p.b", "p.c"})
	if err != nil {
		t.Fatal(err)
	}
	if !at.live || at.rev != fence || string(at.value) != `{}` {
		t.Errorf("fence = %+v, want live at %d", at, fence)
	}
	if e := got["p.a"]; !e.live || e.rev != revA || string(e.value) != `{"at":1}` {
		t.Errorf("p.a = %+v, want live at %d", e, revA)
	}
	if e := got["p.b"]; e.live || e.rev != revB {
		t.Errorf("p.b = %+v, want deleted at %d", e, revB)
	}
	if e, ok := got["p.c"]; !ok || e.live || e.rev != 0 {
		t.Errorf("p.c = %+v (%v), want the zero entry", e, ok)
	}
	if len(got) != 3 {
		t.Errorf("got %d entries, want the 3 asked", len(got))
	}

	// The fence written again since the revision asked: the answer
	// carries it as the answering server holds it now.
	fence2, err := b.commitSeq(ctx, write{key: "k.fence", value: []byte(`{"v":2}`), rev: fence})
	if err != nil {
		t.Fatal(err)
	}
	if at, _, err := b.lastOf(ctx, "k.fence", fence, []string{"p.a"}); err != nil || at.rev != fence2 || string(at.value) != `{"v":2}` {
		t.Errorf("fence rewritten: %+v %v, want it at %d", at, err, fence2)
	}

	// A fence nobody has stored yet: every answer is stale.
	start := time.Now()
	if _, _, err := b.lastOf(ctx, "k.fence", fence2+1, []string{"p.a"}); !errors.Is(err, errStale) {
		t.Fatalf("read ahead of every server: %v, want errStale", err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("gave up after %v, without waiting for the servers to catch up", waited)
	}
	// Nor does a fence with no message at all prove anything.
	if _, _, err := b.lastOf(ctx, "k.none", 1, []string{"p.a"}); !errors.Is(err, errStale) {
		t.Fatalf("read fenced on a missing entry: %v, want errStale", err)
	}
	// A cancelled read stops.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := b.lastOf(cctx, "k.fence", fence, []string{"p.a"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	// Closing the store ends the subscription; a read after subscribes again.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got, err := b.lastOf(ctx, "k.fence", fence, []string{"p.a"}); err != nil || got["p.a"].rev != revA {
		t.Fatalf("read after Close: %+v %v", got, err)
	}
}

// FuzzParseLast feeds the reader of batched answers any header block and
// body: it reports an entry with its subject and revision, the answer's
// end, or an error, and never panics.
func FuzzParseLast(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nNats-Stream: KV_s\r\nNats-Subject: $KV.s.p.a\r\nNats-Sequence: 7\r\nNats-Time-Stamp: 2026-11-23T00:00:00Z\r\nNats-Num-Pending: 1\r\nNats-Last-Sequence: 0\r\n\r\n"), []byte(`{"at":1}`))
	f.Add([]byte("NATS/1.0\r\nKV-Operation: DEL\r\nNats-Subject: $KV.s.p.b\r\nNats-Sequence: 9\r\n\r\n"), []byte(nil))
	f.Add([]byte("NATS/1.0 204 EOB\r\nNats-Num-Pending: 0\r\nNats-Last-Sequence: 9\r\nNats-UpTo-Sequence: 9\r\n\r\n"), []byte(nil))
	f.Add([]byte("NATS/1.0 404 No Results\r\n\r\n"), []byte(nil))
	f.Add([]byte("NATS/1.0 408 Bad Request\r\n\r\n"), []byte(nil))
	f.Add([]byte("NATS/1.0 503\r\n\r\n"), []byte(nil))
	f.Add([]byte("NATS/1.0\r\nNats-Subject: $KV.s.p.a\r\nNats-Sequence: -1\r\n\r\n"), []byte("x"))
	f.Fuzz(func(t *testing.T, hdr, data []byte) {
		h, err := nats.DecodeHeadersMsg(hdr)
		if err != nil {
			return
		}
		subj, e, end, err := parseLast(&nats.Msg{Header: h, Data: data})
		switch status := h.Get("Status"); {
		case status == "204" || status == "404":
			if !end || err != nil {
				t.Fatalf("status %s: end %v, err %v", status, end, err)
			}
		case status != "":
			if err == nil {
				t.Fatalf("status %s taken as an answer", status)
			}
		case err == nil:
			if end || subj == "" || e.rev == 0 || !bytes.Equal(e.value, data) {
				t.Fatalf("entry %q %+v (end %v) from %q", subj, e, end, hdr)
			}
		}
	})
}
