package service

import (
	"context"

	"github.com/ocrstack/ocrstack/contracts"
)

// maxReasonLength bounds a refund's reason.
const maxReasonLength = 256

// refund gives back what a VALID verification spent, at most once (see
// store.Refund). Nothing to refund is Refunded false, not an error, so a
// caller may retry a refund until it is answered.
func (s *Service) refund(ctx context.Context, r *contracts.RefundRequest, now int64) (any, error) {
	if err := validateRefund(r); err != nil {
		return nil, err
	}
	res, err := s.cfg.Store.Refund(ctx, r.KeyID, r.IdempotencyKey, now)
	if err != nil {
		return nil, err
	}
	if res.Refunded {
		s.log(ctx).Info("credits refunded", "key_id", res.Record.KeyID, "owner_id", res.Record.ExternalID, "reason", r.Reason)
	}
	return contracts.RefundResponse{Refunded: res.Refunded, Credits: res.Credits}, nil
}

// validateRefund reports every problem of a refund at once.
func validateRefund(r *contracts.RefundRequest) error {
	var p problems
	p.id("keyId", r.KeyID)
	if r.IdempotencyKey == "" || len(r.IdempotencyKey) > maxRequestIDLen {
		p.add("idempotencyKey: required, at most %d characters", maxRequestIDLen)
	}
	if len(r.Reason) > maxReasonLength {
		p.add("reason: at most %d characters", maxReasonLength)
	}
	return p.err()
}
