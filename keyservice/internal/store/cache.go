package store

import (
	"sync"
	"time"
)

// cache is one replica's copy of bucket entries it read, each with the
// revision it was read at, so the verification path reads them from memory.
// It is only ever made staler than the bucket by a write it has not heard
// of yet, and three rules bound that:
//
//   - A read is filled in only if nothing was invalidated between the start
//     of the read (mark) and the fill, and nothing newer is cached: a slow
//     read never puts back what a watch or a local write replaced.
//   - A change the replica hears of (observe, from a KV watch) replaces an
//     older cached entry; a local write forgets the entries it touched.
//   - An entry older than maxAge is not served: a watch that silently
//     stopped delivering cannot keep an entry alive forever.
//
// When full, it is cleared: simple, and a clear only costs re-reads.
type cache[V any] struct {
	mu sync.Mutex
	m  map[string]cached[V]
	// epoch counts invalidations; fill refuses a read that started before
	// the latest.
	epoch  uint64
	max    int
	maxAge time.Duration
	// off stops filling: nothing would tell the cache of changes.
	off bool
}

// cached is one entry: the value as of revision rev (0 when the read found
// nothing), read or written at time at.
type cached[V any] struct {
	v   V
	rev uint64
	at  time.Time
}

func newCache[V any](max int, maxAge time.Duration) *cache[V] {
	return &cache[V]{m: make(map[string]cached[V]), max: max, maxAge: maxAge}
}

// get returns k's entry unless it is missing or older than maxAge.
func (c *cache[V]) get(k string) (cached[V], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Since(e.at) > c.maxAge {
		return cached[V]{}, false
	}
	return e, true
}

// mark is taken before a read whose result will be filled in.
func (c *cache[V]) mark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// fill caches v, read at rev by a read that began at mark m, unless an
// invalidation came after m or a newer revision is cached.
func (c *cache[V]) fill(k string, v V, rev, m uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || c.epoch != m {
		return
	}
	if cur, ok := c.m[k]; ok && cur.rev > rev {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = cached[V]{v: v, rev: rev, at: time.Now()}
}

// observe applies a change heard of at rev: it replaces an older cached
// entry of k (an uncached k stays uncached) and fails every read in flight.
func (c *cache[V]) observe(k string, v V, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if cur, ok := c.m[k]; ok && cur.rev < rev {
		c.m[k] = cached[V]{v: v, rev: rev, at: time.Now()}
	}
}

// forget drops k, after a local write to it, and fails every read in
// flight.
func (c *cache[V]) forget(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	delete(c.m, k)
}

// stop drops everything and fills nothing from now on.
func (c *cache[V]) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.off = true
	clear(c.m)
}
