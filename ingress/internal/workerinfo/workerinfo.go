// Package workerinfo learns which Tesseract languages the OCR workers have
// installed, from the INFO replies of their micro services, so the ingress
// can refuse a language no worker can read before a key is charged.
//
// A job may go to any worker, so a language counts as installed only when
// every worker that answers has it. The answer is a hint: when it is not
// known (no worker answered, or one did not say) the ingress skips its
// check, and the worker still refuses a language it does not have.
package workerinfo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
)

// Defaults of Config.
const (
	DefaultWindow = 200 * time.Millisecond
	DefaultTTL    = 30 * time.Second
)

// InstalledKey is the worker's micro service metadata key listing its
// installed language codes joined with "+".
const InstalledKey = "installed"

// notForText lists models that may be installed but recognise no text: osd
// detects orientation and script only.
var notForText = []string{"osd"}

// Config holds a Languages' connection and timings.
type Config struct {
	// Conn is the NATS connection the INFO requests go out on.
	Conn *nats.Conn
	// Window is how long a refresh collects replies, and so the longest a
	// caller waits; 0 means DefaultWindow.
	Window time.Duration
	// TTL is how long an answer is reused before the next call refreshes
	// it; 0 means DefaultTTL.
	TTL time.Duration
	// Logger reports failed refreshes; nil discards.
	Logger *slog.Logger
	// Now is the clock of the TTL; nil means time.Now.
	Now func() time.Time
}

// Languages answers which languages every OCR worker has installed. It is
// safe for concurrent use.
type Languages struct {
	cfg     Config
	subject string

	mu sync.Mutex
	// langs and known are the last answer, taken at fetched (zero before
	// the first refresh ends).
	langs   []string
	known   bool
	fetched time.Time
	// refreshing is closed when the refresh in flight ends; nil when none is.
	refreshing chan struct{}
}

// New returns a Languages that asks on cfg.Conn. Nothing is sent before the
// first call to Installed.
func New(cfg Config) *Languages {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The error is only for an unknown verb or a missing name.
	subject, _ := micro.ControlSubject(micro.InfoVerb, contracts.WorkerName, "")
	return &Languages{cfg: cfg, subject: subject}
}

// Installed returns the sorted language codes every answering worker has
// installed, and whether that is known. A fresh answer is returned at once;
// a stale one is returned at once too while a refresh runs in the
// background. Only the first call waits, for at most the window or until
// ctx is done (the answer is then unknown). Callers must not modify the
// slice.
func (l *Languages) Installed(ctx context.Context) ([]string, bool) {
	l.mu.Lock()
	if !l.fetched.IsZero() && l.cfg.Now().Sub(l.fetched) < l.cfg.TTL {
		defer l.mu.Unlock()
		return l.langs, l.known
	}
	done := l.refreshing
	if done == nil {
		done = make(chan struct{})
		l.refreshing = done
		go l.refresh(done)
	}
	if !l.fetched.IsZero() {
		defer l.mu.Unlock()
		return l.langs, l.known
	}
	l.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.langs, l.known
}

// refresh asks the workers, stores the answer and closes done.
func (l *Languages) refresh(done chan struct{}) {
	langs, known, err := l.ask()
	if err != nil {
		l.cfg.Logger.Warn("ask workers for their languages", "subject", l.subject, "err", err)
	}
	l.mu.Lock()
	l.langs, l.known, l.fetched = langs, known, l.cfg.Now()
	l.refreshing = nil
	l.mu.Unlock()
	close(done)
}

// ask publishes one INFO request and gathers every reply that arrives
// within the window: there is no telling how many workers run, so it never
// stops early.
func (l *Languages) ask() ([]string, bool, error) {
	deadline := time.Now().Add(l.cfg.Window)
	inbox := l.cfg.Conn.NewRespInbox()
	sub, err := l.cfg.Conn.SubscribeSync(inbox)
	if err != nil {
		return nil, false, fmt.Errorf("subscribe to replies: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// One connection keeps its order, so the server has the subscription
	// before it routes the request.
	if err := l.cfg.Conn.PublishRequest(l.subject, inbox, nil); err != nil {
		return nil, false, fmt.Errorf("publish %s: %w", l.subject, err)
	}
	var sets [][]string
	unreadable := false
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		m, err := sub.NextMsg(wait)
		// The server says at once when nobody listens on the subject.
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("read replies: %w", err)
		}
		set, ok := installedOf(m.Data)
		if !ok {
			unreadable = true
			continue
		}
		sets = append(sets, set)
	}
	// A worker whose languages are unknown may get any job, so one such
	// worker makes the whole answer unknown.
	if unreadable || len(sets) == 0 {
		return nil, false, nil
	}
	return intersect(sets), true, nil
}

// installedOf reads a worker's installed languages from its INFO reply,
// without the models that recognise no text; false when the reply does not
// say.
func installedOf(data []byte) ([]string, bool) {
	var info micro.Info
	if err := json.Unmarshal(data, &info); err != nil || info.Name != contracts.WorkerName {
		return nil, false
	}
	v := strings.TrimSpace(info.Metadata[InstalledKey])
	if v == "" {
		return nil, false
	}
	return slices.DeleteFunc(strings.Split(v, "+"), func(s string) bool {
		return s == "" || slices.Contains(notForText, s)
	}), true
}

// intersect returns the sorted codes present in every set, never nil.
func intersect(sets [][]string) []string {
	out := []string{}
	for _, l := range sets[0] {
		all := !slices.Contains(out, l)
		for _, set := range sets[1:] {
			all = all && slices.Contains(set, l)
		}
		if all {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}
