package events

import "github.com/ocrstack/ocrstack/contracts"

// Batch gathers decoded events per destination table. The zero value is an
// empty batch ready to use.
type Batch struct {
	Verifications []contracts.VerificationEvent
	Usage         []contracts.UsageEvent
	Notices       []contracts.NoticeEvent
}

// Add appends e to the batch.
func (b *Batch) Add(e Event) {
	switch {
	case e.Verification != nil:
		b.Verifications = append(b.Verifications, *e.Verification)
	case e.Usage != nil:
		b.Usage = append(b.Usage, *e.Usage)
	case e.Notice != nil:
		b.Notices = append(b.Notices, *e.Notice)
	}
}

// Len is the number of events in the batch.
func (b *Batch) Len() int { return len(b.Verifications) + len(b.Usage) + len(b.Notices) }

// Reset empties the batch, keeping its memory for the next one.
func (b *Batch) Reset() {
	clear(b.Verifications)
	clear(b.Usage)
	clear(b.Notices)
	b.Verifications = b.Verifications[:0]
	b.Usage = b.Usage[:0]
	b.Notices = b.Notices[:0]
}
