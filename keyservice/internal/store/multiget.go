package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// errStale is a read that found no server holding the bucket's stream as
// far as it needed, however often it asked.
var errStale = errors.New("no server is current enough to answer the read")

// staleRetries bounds how often lastOf asks again after a stale answer,
// waiting a millisecond more each time (about 45 ms in all).
const staleRetries = 9

// lastOf reads the entries keys hold, all with one JetStream direct get
// (multi_last), and proves the answer current: it also reads fence, and
// takes the answer only from a server that had stored fence at revision
// minRev or later. Any server holding the stream may answer a direct get,
// including a follower some writes behind; one that holds minRev of fence
// holds everything written before it, whichever replica wrote it. A stale
// answer is asked again, then errStale. A key without a message is the
// zero entry. It also returns fence's entry as the answering server held
// it: revision minRev or later, and current for the entries read with it.
func (b *bucket) lastOf(ctx context.Context, fence string, minRev uint64, keys []string) (entry, map[string]entry, error) {
	subjects := make([]string, 0, len(keys)+1)
	subjects = append(subjects, b.subject(fence))
	for _, k := range keys {
		subjects = append(subjects, b.subject(k))
	}
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
	}{subjects})
	if err != nil {
		return entry{}, nil, err
	}
	for attempt := range staleRetries + 1 {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return entry{}, nil, fmt.Errorf("read %s/%s: %w", b.name, fence, ctx.Err())
			case <-t.C:
			}
		}
		got, err := b.multiLast(ctx, req, len(subjects))
		if err != nil {
			return entry{}, nil, fmt.Errorf("read %s/%s: %w", b.name, fence, err)
		}
		at := got[b.subject(fence)]
		if at.rev < minRev {
			continue
		}
		out := make(map[string]entry, len(keys))
		for _, k := range keys {
			out[k] = got[b.subject(k)]
		}
		return at, out, nil
	}
	return entry{}, nil, fmt.Errorf("read %s/%s at revision %d: %w", b.name, fence, minRev, errStale)
}

// multiLast sends one multi_last direct get and gathers its answer, by
// subject: one message per subject that has any, then an end-of-batch
// status, or a single "no results" status.
func (b *bucket) multiLast(ctx context.Context, req []byte, n int) (map[string]entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch, reply, done, err := b.replies.open(b.nc, n+1)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := b.nc.PublishRequest("$JS.API.DIRECT.GET.KV_"+b.name, reply, req); err != nil {
		return nil, err
	}
	got := make(map[string]entry, n)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case m := <-ch:
			subj, e, end, err := parseLast(m)
			if err != nil {
				return nil, err
			}
			if end {
				return got, nil
			}
			got[subj] = e
		}
	}
}

// parseLast reads one message of a multi_last answer: an entry and its
// subject, or the answer's end (end of batch, or no subject had a
// message), or what the server refused.
func parseLast(m *nats.Msg) (subj string, e entry, end bool, err error) {
	switch status := m.Header.Get("Status"); status {
	case "":
	case "204", "404":
		return "", entry{}, true, nil
	case "503":
		return "", entry{}, false, nats.ErrNoResponders
	default:
		return "", entry{}, false, fmt.Errorf("direct get: status %q %q", status, m.Header.Get("Description"))
	}
	subj = m.Header.Get("Nats-Subject")
	seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	if subj == "" || err != nil || seq == 0 {
		return "", entry{}, false, errors.New("direct get: a message without its subject or sequence")
	}
	return subj, entry{value: m.Data, rev: seq, live: m.Header.Get("KV-Operation") == ""}, false, nil
}

// replies routes the answers of requests answered by several messages
// (multiLast) from one subscription, made on first use, to their waiting
// callers by the last token of the reply subject.
type replies struct {
	mu      sync.Mutex
	prefix  string
	sub     *nats.Subscription
	next    uint64
	waiting map[string]chan *nats.Msg
}

// open registers a caller expecting at most n messages and returns where
// they arrive, the reply subject to ask with, and what to call once done.
func (r *replies) open(nc *nats.Conn, n int) (<-chan *nats.Msg, string, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sub == nil {
		// The connection's own inbox prefix: nats.conf lets each user
		// subscribe under its own prefix only.
		prefix := nc.NewInbox() + "."
		sub, err := nc.Subscribe(prefix+"*", r.route)
		if err != nil {
			return nil, "", nil, err
		}
		r.prefix, r.sub, r.waiting = prefix, sub, map[string]chan *nats.Msg{}
	}
	r.next++
	token := strconv.FormatUint(r.next, 36)
	ch := make(chan *nats.Msg, n)
	r.waiting[token] = ch
	return ch, r.prefix + token, func() {
		r.mu.Lock()
		delete(r.waiting, token)
		r.mu.Unlock()
	}, nil
}

// route hands m to the caller waiting for it; a message nobody waits for
// any more (its caller gave up), or more than were expected, is dropped.
func (r *replies) route(m *nats.Msg) {
	r.mu.Lock()
	ch := r.waiting[m.Subject[len(r.prefix):]]
	r.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- m:
	default:
	}
}

// close ends the subscription, if one was made.
func (r *replies) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sub == nil {
		return nil
	}
	err := r.sub.Unsubscribe()
	r.sub = nil
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil
	}
	return err
}
