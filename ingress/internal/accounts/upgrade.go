package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/ocrstack/ocrstack/contracts"
)

// UpgradeRequest is the tutorial's POST /upgradeUser body, plus an
// optional plan.
type UpgradeRequest struct {
	Email         string
	TransactionID string
	// APIKeyID is a key of the account, as the tutorial requires; it
	// proves the caller knows the account and key it upgrades.
	APIKeyID string
	// Plan is a plan id; "" means the catalogue's upgrade plan.
	Plan string
}

// Upgraded is the outcome of Upgrade.
type Upgraded struct {
	Owner         string
	Plan          string
	TransactionID string
	// Replayed is true when the transaction had been applied before: the
	// outcome is the first application's and nothing changed.
	Replayed bool
}

// Upgrade moves the account to a plan for a payment's transaction id. The
// plan's credits and rate limits replace the account's in one identity
// update, which also records the transaction; the keys' expiry, a per-key
// setting, is changed first, so a failure part way leaves the transaction
// unrecorded and a retry does everything again. A transaction id applied
// before answers as it did then and applies nothing.
func (s *Service) Upgrade(ctx context.Context, r UpgradeRequest) (Upgraded, error) {
	owner, err := NormalizeEmail(r.Email)
	if err != nil {
		return Upgraded{}, err
	}
	tx := strings.TrimSpace(r.TransactionID)
	if tx == "" || len(tx) > maxTransactionID || strings.IndexFunc(tx, func(c rune) bool { return c > unicode.MaxASCII || !unicode.IsPrint(c) }) >= 0 {
		return Upgraded{}, fmt.Errorf("%w: transactionId must be 1 to %d printable ASCII characters", ErrInvalid, maxTransactionID)
	}
	if r.APIKeyID == "" || len(r.APIKeyID) > 64 {
		return Upgraded{}, fmt.Errorf("%w: apiKeyId is required: the id of one of the account's keys", ErrInvalid)
	}
	planID := r.Plan
	if planID == "" {
		planID = s.cfg.Plans.UpgradePlan
	}
	p, ok := s.cfg.Plans.Get(planID)
	if !ok {
		ids := make([]string, 0, len(s.cfg.Plans.Plans))
		for _, p := range s.cfg.Plans.Plans {
			ids = append(ids, p.ID)
		}
		return Upgraded{}, fmt.Errorf("%w: plan %q does not exist; one of %s", ErrInvalid, planID, strings.Join(ids, ", "))
	}
	acct, err := s.Get(ctx, owner)
	if err != nil {
		return Upgraded{}, err
	}
	if _, err := s.ownKey(ctx, owner, r.APIKeyID); err != nil {
		return Upgraded{}, err
	}
	if i := slices.IndexFunc(acct.Transactions, func(t Transaction) bool { return t.ID == tx }); i >= 0 {
		return Upgraded{Owner: owner, Plan: acct.Transactions[i].Plan, TransactionID: tx, Replayed: true}, nil
	}
	now := s.cfg.Now()
	if exp := keysExpire(p, now); exp != acct.KeysExpire {
		if err := s.setKeysExpiry(ctx, owner, exp); err != nil {
			return Upgraded{}, err
		}
		acct.KeysExpire = exp
	}
	acct.Plan = p.ID
	acct.Transactions = append(acct.Transactions, Transaction{ID: tx, Plan: p.ID, At: now.UnixMilli()})
	if n := len(acct.Transactions); n > maxTransactions {
		acct.Transactions = acct.Transactions[n-maxTransactions:]
	}
	err = s.cfg.Keys.Call(ctx, contracts.SubjectIdentitiesUpdate, contracts.UpdateIdentityRequest{
		ExternalID: owner, Meta: mustJSON(acct.Meta), Ratelimits: mustJSON(p.KeyserviceRatelimits()),
		Credits: mustJSON(grant(p, acct.EmailVerified)),
	}, &contracts.Identity{})
	if err != nil {
		return Upgraded{}, fmt.Errorf("update identity: %w", err)
	}
	s.cfg.Logger.Info("account upgraded", "owner_id", owner, "plan", p.ID, "transaction_id", tx)
	return Upgraded{Owner: owner, Plan: p.ID, TransactionID: tx}, nil
}

// setKeysExpiry sets every key of the account to expire at exp (0: never).
func (s *Service) setKeysExpiry(ctx context.Context, owner string, exp int64) error {
	keys, err := s.ListKeys(ctx, owner)
	if err != nil {
		return err
	}
	value := json.RawMessage("null")
	if exp > 0 {
		value = mustJSON(exp)
	}
	for _, k := range keys {
		if err := s.cfg.Keys.Call(ctx, contracts.SubjectKeysUpdate, contracts.UpdateKeyRequest{KeyID: k.KeyID, Expires: value}, &contracts.KeyInfo{}); err != nil {
			return fmt.Errorf("update key %s: %w", k.KeyID, err)
		}
	}
	return nil
}
