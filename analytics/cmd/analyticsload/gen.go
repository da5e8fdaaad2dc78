package main

import (
	"encoding/json"
	"fmt"

	"github.com/ocrstack/ocrstack/analytics/internal/events"
	"github.com/ocrstack/ocrstack/contracts"
)

// gen makes the events of one phase: event i is a verification for even i
// and a usage event for odd i (one of each per OCR request), with sizes
// like the platform's (about 310 and 400 bytes of JSON), spread over 1,000
// keys of 100 owners, and times 0.1 ms apart from base (10,000 a second).
type gen struct {
	prefix string // makes event ids unique to the run and phase
	base   int64  // unix ms of event 0
}

func (g gen) event(i int) events.Event {
	id := fmt.Sprintf("%s-%09d", g.prefix, i)
	t := g.base + int64(i)/10
	key, owner := fmt.Sprintf("key_%05d", i%1000), fmt.Sprintf("owner_%03d@example.com", i%100)
	if i%2 == 0 {
		outcome := contracts.VerifyValid
		if i%20 == 0 {
			outcome = contracts.VerifyRateLimited
		}
		return events.Event{Verification: &contracts.VerificationEvent{
			EventID: id, Time: t, RequestID: "req_" + id, KeyID: key, APIID: "api_ocr", OwnerID: owner,
			Outcome: outcome, Cost: 1, CreditsRemaining: int64(100000 - i%1000), LatencyUs: int64(80 + i%200),
			Tags: []string{"route=/upload", "plan=paid"},
		}}
	}
	return events.Event{Usage: &contracts.UsageEvent{
		EventID: id, Time: t, RequestID: "req_" + id, JobID: "job_" + id, Producer: "ingress",
		KeyID: key, OwnerID: owner, Outcome: contracts.JobSucceeded, Pages: int64(1 + i%3),
		Bytes: int64(20000 + i%50000), RecognitionMs: int64(200 + i%400), Characters: int64(500 + i%2000),
		Languages: []string{"eng", "spa"},
	}}
}

// message returns event i as the subject, body and message id it is
// published with.
func (g gen) message(i int) (subject string, data []byte, id string, err error) {
	e := g.event(i)
	if e.Verification != nil {
		data, err = json.Marshal(e.Verification)
		return contracts.SubjectEventsVerification, data, e.ID(), err
	}
	data, err = json.Marshal(e.Usage)
	return contracts.SubjectEventsUsage, data, e.ID(), err
}
