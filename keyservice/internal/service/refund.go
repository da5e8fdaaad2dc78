package service

import (
	"context"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// maxReasonLength bounds a refund's reason.
const maxReasonLength = 256

// refund gives back what a VALID verification spent, at most once, or
// cancels an idempotency key no verification charged yet (see
// store.Refund). Nothing to refund is Refunded false, not an error, so a
// caller may retry a refund until it is answered. A refund may name the
// key itself instead of its id (a caller whose verification went
// unanswered): a malformed or unknown key refunds nothing.
func (s *Service) refund(ctx context.Context, r *contracts.RefundRequest, now int64) (any, error) {
	if err := validateRefund(r); err != nil {
		return nil, err
	}
	var res store.Refunded
	var err error
	switch {
	case r.KeyID != "":
		res, err = s.cfg.Store.Refund(ctx, r.KeyID, r.IdempotencyKey, now)
	case keys.CheckSyntax(r.Key) == nil:
		res, err = s.cfg.Store.RefundByHash(ctx, keys.Hash(r.Key), r.IdempotencyKey, now)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case res.Refunded:
		s.log(ctx).Info("credits refunded", "key_id", res.Record.KeyID, "owner_id", res.Record.ExternalID, "reason", r.Reason)
	case res.Cancelled:
		s.log(ctx).Info("idempotency key cancelled before any charge", "key_id", res.Record.KeyID, "owner_id", res.Record.ExternalID, "reason", r.Reason)
	}
	return contracts.RefundResponse{Refunded: res.Refunded, Credits: res.Credits}, nil
}

// validateRefund reports every problem of a refund at once.
func validateRefund(r *contracts.RefundRequest) error {
	var p problems
	switch {
	case r.KeyID != "" && r.Key != "":
		p.add("keyId, key: set exactly one")
	case r.Key != "":
		// Any key: one that is malformed refunds nothing, as verify
		// answers it NOT_FOUND.
	default:
		p.id("keyId", r.KeyID)
	}
	if r.IdempotencyKey == "" || len(r.IdempotencyKey) > maxRequestIDLen {
		p.add("idempotencyKey: required, at most %d characters", maxRequestIDLen)
	}
	if len(r.Reason) > maxReasonLength {
		p.add("reason: at most %d characters", maxReasonLength)
	}
	return p.err()
}
