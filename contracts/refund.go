package contracts

import "time"

// RefundWindow bounds how long after a verification its charge can be
// refunded: as long as a job may wait on the jobs stream (JobsMaxAge) and
// an hour more for its deliveries, so a job whose result comes last can
// still be refunded. A later refund gives back nothing.
const RefundWindow = JobsMaxAge + time.Hour

// RefundRequest asks keyservice (SubjectKeysRefund) to give back the
// credits that the VALID verification of key KeyID made with
// IdempotencyKey spent: the cost it charged, to the key's credits and to
// its identity's shared credits, whichever it charged. It is answered with
// RefundResponse.
//
// A verification is refunded at most once, however many refunds name it
// and however they race; only the first gives anything back. A refund of
// an idempotency key that is unknown, older than RefundWindow, or whose
// verification was denied (and so spent nothing) refunds nothing, without
// an error. Rate-limit windows are not given back: the request was made.
//
// A refund of an idempotency key that no verification has charged yet
// cancels it: keyservice remembers the key as refunded (as long as it
// remembers a charge), and a verification that arrives later with it is
// refused with CONFLICT and charges nothing. A caller whose verification
// went unanswered (timed out, no responders, disconnected, INTERNAL) may
// therefore refund it, naming the key itself (Key) since it never learnt
// the key's id, and be sure the charge is undone whether or not the
// verification had committed.
type RefundRequest struct {
	// KeyID is the key the verification answered with (VerifyKeyResponse.KeyID).
	// Exactly one of KeyID and Key is set.
	KeyID string `json:"keyId,omitempty"`
	// Key is the API key itself, as the verification sent it, for a caller
	// that has no answer and so no key id. It is never logged.
	Key string `json:"key,omitempty"`
	// IdempotencyKey is the verification's (VerifyKeyRequest.IdempotencyKey),
	// required, at most 256 characters.
	IdempotencyKey string `json:"idempotencyKey"`
	// Reason is for the logs ("job failed: UNREADABLE_IMAGE"), at most 256
	// characters.
	Reason string `json:"reason,omitempty"`
}

// RefundResponse says whether this refund gave the verification's charge
// back.
type RefundResponse struct {
	// Refunded is true for the one refund that settled the verification;
	// false when it was refunded before, or there is nothing to refund.
	Refunded bool `json:"refunded"`
	// Credits is the key's balance after the refund; nil when the key's
	// credits are unlimited, or when nothing was refunded.
	Credits *int64 `json:"credits,omitempty"`
}
