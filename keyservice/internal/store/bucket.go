package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/ocrstack/ocrstack/ops/jsetup"
)

// JetStream API error codes that mean a compare-and-set lost a race (or an
// atomic batch could not be staged now) and the caller should retry.
var retryCodes = map[jetstream.ErrorCode]bool{
	jetstream.JSErrCodeStreamWrongLastSequence:         true, // single server
	jetstream.JSErrCodeStreamWrongLastSequenceConstant: true, // replicated (R>1) stream
	10176: true, // atomic publish batch is incomplete
	10210: true, // atomic publish too many inflight
}

// errRevision is a compare-and-set that lost a race: the caller re-reads
// and retries.
var errRevision = errors.New("revision changed")

// bucket reads and writes one KV bucket through its stream, so that several
// entries can change in one atomic batch, each with a compare-and-set. What
// it writes is plain KV data (deletes are KV-Operation: DEL markers), so the
// KV API and the nats CLI read it as usual.
type bucket struct {
	name   string
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	// touched, when set, is told of every key a commit may have changed
	// (whether or not it succeeded), so a cache of the bucket forgets it.
	touched func(key string)
	// replies gathers the answers of batched reads (lastOf).
	replies replies
}

// entry is one KV entry as read.
type entry struct {
	value []byte
	// rev is the sequence of the entry's last message, a delete marker
	// included; 0 when there is none. A write expects exactly this.
	rev  uint64
	live bool
}

// write is one change of a commit.
type write struct {
	key   string
	value []byte
	// rev is the revision the entry must still have; ignored with anyRev.
	rev    uint64
	anyRev bool
	del    bool
	// ttl, when set, removes the entry that long after the write.
	ttl time.Duration
	// cached means the caller updates its cache itself with the revision
	// the commit returns, so touched is not called for this write.
	cached bool
}

// openBucket creates the bucket unless it exists, without touching an
// existing one's configuration (CreateOrUpdate would switch the stream
// options below off again), then enables what the store needs.
//
// Every JetStream API call here is retried on a lost reply (see package jsetup of module ops).
func openBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, ttl bool) (*bucket, error) {
	var kv jetstream.KeyValue
	err := jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				kv, err = js.KeyValue(ctx, cfg.Bucket)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", cfg.Bucket, err)
	}
	var stream jetstream.Stream
	err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
		stream, err = js.Stream(ctx, "KV_"+cfg.Bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s stream: %w", cfg.Bucket, err)
	}
	sc := stream.CachedInfo().Config
	// Replicas are a floor: raised to cfg's, never lowered (an operator's
	// higher count stays).
	if !sc.AllowAtomicPublish || (ttl && !sc.AllowMsgTTL) || sc.Replicas < cfg.Replicas {
		sc.AllowAtomicPublish = true
		sc.AllowMsgTTL = sc.AllowMsgTTL || ttl
		sc.Replicas = max(sc.Replicas, cfg.Replicas)
		err := jsetup.Retry(ctx, func(ctx context.Context) error {
			_, err := js.UpdateStream(ctx, sc)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("enable atomic batches and %d replicas on %s: %w", sc.Replicas, cfg.Bucket, err)
		}
		err = jsetup.Retry(ctx, func(ctx context.Context) (err error) {
			stream, err = js.Stream(ctx, "KV_"+cfg.Bucket)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("open bucket %s stream: %w", cfg.Bucket, err)
		}
	}
	return &bucket{name: cfg.Bucket, nc: js.Conn(), js: js, stream: stream, kv: kv}, nil
}

func (b *bucket) subject(key string) string { return "$KV." + b.name + "." + key }

// get reads the last message of key.
func (b *bucket) get(ctx context.Context, key string) (entry, error) {
	m, err := b.stream.GetLastMsgForSubject(ctx, b.subject(key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return entry{}, nil
	}
	if err != nil {
		return entry{}, fmt.Errorf("get %s/%s: %w", b.name, key, err)
	}
	op := m.Header.Get("KV-Operation")
	return entry{value: m.Data, rev: m.Sequence, live: op == ""}, nil
}

// commit applies ws all together or not at all: one write is a plain
// publish with a compare-and-set, several are one atomic batch. A lost race
// on any entry is errRevision and nothing is written.
func (b *bucket) commit(ctx context.Context, ws ...write) error {
	_, err := b.commitSeq(ctx, ws...)
	return err
}

// commitSeq is commit that also returns the revision of the last write (the
// stream sequence the commit was stored at).
func (b *bucket) commitSeq(ctx context.Context, ws ...write) (uint64, error) {
	if b.touched != nil {
		defer func() {
			for _, w := range ws {
				if !w.cached {
					b.touched(w.key)
				}
			}
		}()
	}
	id := nuid.Next()
	for i, w := range ws {
		m := b.message(w)
		if len(ws) > 1 {
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		}
		if i < len(ws)-1 {
			if err := b.nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("stage %s/%s: %w", b.name, w.key, err)
			}
			continue
		}
		if len(ws) > 1 {
			m.Header.Set("Nats-Batch-Commit", "1")
		}
		ack, err := b.js.PublishMsg(ctx, m)
		if err != nil {
			return 0, b.commitErr(w.key, err)
		}
		return ack.Sequence, nil
	}
	return 0, nil
}

// commitEach commits every write of ws on its own, as commit would one at
// a time, but with all of them in flight at once, and returns each one's
// error. Writes are not told to touched: the caller keeps no cache of
// them.
func (b *bucket) commitEach(ctx context.Context, ws []write) []error {
	errs := make([]error, len(ws))
	acks := make([]jetstream.PubAckFuture, len(ws))
	for i, w := range ws {
		acks[i], errs[i] = b.js.PublishMsgAsync(b.message(w))
		if errs[i] != nil {
			errs[i] = b.commitErr(w.key, errs[i])
		}
	}
	for i, f := range acks {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i] = b.commitErr(ws[i].key, err)
		case <-ctx.Done():
			errs[i] = b.commitErr(ws[i].key, ctx.Err())
		}
	}
	return errs
}

// message is the JetStream message making write w alone.
func (b *bucket) message(w write) *nats.Msg {
	m := nats.NewMsg(b.subject(w.key))
	m.Data = w.value
	if !w.anyRev {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(w.rev, 10))
	}
	if w.del {
		m.Header.Set("KV-Operation", "DEL")
	}
	if w.ttl > 0 {
		m.Header.Set(jetstream.MsgTTLHeader, strconv.FormatInt(int64(max(w.ttl, time.Second)/time.Second), 10)+"s")
	}
	return m
}

// commitErr is the error a commit of key failed with: errRevision for a
// lost race.
func (b *bucket) commitErr(key string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && retryCodes[apiErr.ErrorCode] {
		return errRevision
	}
	return fmt.Errorf("commit %s/%s: %w", b.name, key, err)
}

// list returns the keys matching filter (a KV key pattern), deleted ones
// excluded, each once, in no particular order.
func (b *bucket) list(ctx context.Context, filter string) ([]string, error) {
	lister, err := b.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", b.name, filter, err)
	}
	seen := map[string]bool{}
	var out []string
	for k := range lister.Keys() {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	// The lister stops early, without an error, when ctx ends.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", b.name, filter, err)
	}
	return out, nil
}
