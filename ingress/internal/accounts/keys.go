package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/ocrstack/ocrstack/contracts"
)

// maxKeyName bounds a key's name ("Production").
const maxKeyName = 100

// ListKeys returns the account's keys (never their secret: keyservice
// stores only a hash), oldest first.
func (s *Service) ListKeys(ctx context.Context, owner string) ([]contracts.KeyInfo, error) {
	var out []contracts.KeyInfo
	cursor := ""
	for range MaxKeys { // pages of 100: one is enough, the bound guards a loop
		var page contracts.ListKeysResponse
		err := s.cfg.Keys.Call(ctx, contracts.SubjectKeysList, contracts.ListKeysRequest{APIID: s.cfg.APIID, ExternalID: owner, Cursor: cursor}, &page)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, page.Keys...)
		if !page.HasMore || page.Cursor == "" {
			break
		}
		cursor = page.Cursor
	}
	return out, nil
}

// CreateKey adds a named key to the account: it shares the account's
// credits and limits and expires with its other keys.
func (s *Service) CreateKey(ctx context.Context, owner, name string) (contracts.CreateKeyResponse, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxKeyName || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return contracts.CreateKeyResponse{}, fmt.Errorf("%w: name is required: 1 to %d characters, no control characters", ErrInvalid, maxKeyName)
	}
	acct, err := s.Get(ctx, owner)
	if err != nil {
		return contracts.CreateKeyResponse{}, err
	}
	keys, err := s.ListKeys(ctx, owner)
	if err != nil {
		return contracts.CreateKeyResponse{}, err
	}
	if len(keys) >= MaxKeys {
		return contracts.CreateKeyResponse{}, ErrTooManyKeys
	}
	created, err := s.newKey(ctx, acct.Meta, name)
	if err == nil {
		s.cfg.Logger.Info("key created by owner", "owner_id", owner, "key_id", created.KeyID)
	}
	return created, err
}

// DeleteKey revokes a key of the account at once. A key of another
// account is ErrKeyNotFound, as an unknown one is.
func (s *Service) DeleteKey(ctx context.Context, owner, keyID string) error {
	if _, err := s.ownKey(ctx, owner, keyID); err != nil {
		return err
	}
	err := s.cfg.Keys.Call(ctx, contracts.SubjectKeysDelete, contracts.DeleteKeyRequest{KeyID: keyID}, &contracts.Empty{})
	if isCode(err, contracts.CodeNotFound) {
		return ErrKeyNotFound
	}
	if err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	s.cfg.Logger.Info("key revoked by owner", "owner_id", owner, "key_id", keyID)
	return nil
}

// RotateKey issues a new key in place of one of the account's; the old
// key keeps working for grace (0 to MaxRotationGrace), so clients can
// switch over without an outage.
func (s *Service) RotateKey(ctx context.Context, owner, keyID string, grace time.Duration) (contracts.CreateKeyResponse, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return contracts.CreateKeyResponse{}, fmt.Errorf("%w: gracePeriodMs must be between 0 and %d", ErrInvalid, MaxRotationGrace.Milliseconds())
	}
	if _, err := s.ownKey(ctx, owner, keyID); err != nil {
		return contracts.CreateKeyResponse{}, err
	}
	var created contracts.CreateKeyResponse
	err := s.cfg.Keys.Call(ctx, contracts.SubjectKeysReroll, contracts.RerollKeyRequest{KeyID: keyID, Expiration: grace.Milliseconds()}, &created)
	if isCode(err, contracts.CodeNotFound) {
		return created, ErrKeyNotFound
	}
	if err != nil {
		return created, fmt.Errorf("reroll key: %w", err)
	}
	s.cfg.Logger.Info("key rotated by owner", "owner_id", owner, "key_id", created.KeyID, "old_key_id", keyID, "grace_ms", grace.Milliseconds())
	return created, nil
}

// ownKey returns the key keyID when it belongs to the account.
func (s *Service) ownKey(ctx context.Context, owner, keyID string) (contracts.KeyInfo, error) {
	var k contracts.KeyInfo
	if keyID == "" || len(keyID) > 64 {
		return k, ErrKeyNotFound
	}
	err := s.cfg.Keys.Call(ctx, contracts.SubjectKeysGet, contracts.GetKeyRequest{KeyID: keyID}, &k)
	if isCode(err, contracts.CodeNotFound) || isCode(err, contracts.CodeBadRequest) {
		return k, ErrKeyNotFound
	}
	if err != nil {
		return k, fmt.Errorf("get key: %w", err)
	}
	if k.ExternalID != owner || k.APIID != s.cfg.APIID {
		return contracts.KeyInfo{}, ErrKeyNotFound
	}
	return k, nil
}
