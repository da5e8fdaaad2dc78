package contracts

import "time"

// StreamSpec describes a JetStream stream as plain data. Every service that
// publishes to or consumes from a stream creates it from the same spec
// (ops/jsetup.Stream), so whichever starts first, the configuration is
// identical and no two services fight over it.
type StreamSpec struct {
	Name     string
	Subjects []string
	// WorkQueue selects work-queue retention (a message is removed once
	// acknowledged); otherwise limits retention.
	WorkQueue bool
	MaxAge    time.Duration
	// MaxMsgs bounds the messages kept, 0 for no limit. When it is reached
	// the oldest message is dropped to make room (discard old), never the
	// new one: on a limits stream the oldest messages are the ones every
	// consumer has long read, so a consumer that fell behind loses nothing
	// until its backlog alone fills the stream. A count, not a byte size,
	// because a stream's max bytes is reserved on the server when the stream
	// is created and is refused outright where the disk is smaller (laptops,
	// CI machines); the messages these limits apply to have a bounded size.
	MaxMsgs int64
	// MaxMsgsPerSubject is 0 for no limit.
	MaxMsgsPerSubject int64
	// Duplicates is the Nats-Msg-Id de-duplication window.
	Duplicates time.Duration
}

// The platform's streams.
var (
	JobsStreamSpec = StreamSpec{
		Name: JobsStream, Subjects: []string{SubjectJobs}, WorkQueue: true,
		MaxAge: JobsMaxAge, Duplicates: 2 * time.Minute,
	}
	ResultsStreamSpec = StreamSpec{
		Name: ResultsStream, Subjects: []string{SubjectResultsAll},
		MaxAge: ResultsMaxAge, MaxMsgsPerSubject: 1, Duplicates: 2 * time.Minute,
	}
	EventsStreamSpec = StreamSpec{
		Name: EventsStream, Subjects: []string{SubjectEventsAll},
		MaxAge: EventsMaxAge, MaxMsgs: EventsMaxMsgs, Duplicates: EventsDuplicateWindow,
	}
	DeadStreamSpec = StreamSpec{
		Name: DeadStream, Subjects: []string{SubjectDeadAll},
		MaxAge: DeadMaxAge, Duplicates: 2 * time.Minute,
	}
)
