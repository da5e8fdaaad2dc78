package service

import (
	"context"
	"errors"
	"strings"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// maxRerollGrace is the longest an old key may outlive a reroll: 30 days.
const maxRerollGrace = 30 * 24 * 3600 * 1000

func (s *Service) createKey(ctx context.Context, r *contracts.CreateKeyRequest, now int64) (any, error) {
	if err := validateCreate(r, now); err != nil {
		return nil, err
	}
	key, err := keys.New(r.Prefix, r.ByteLength)
	if err != nil {
		return nil, err
	}
	rec := store.Record{
		KeyID: keys.NewID("key"), APIID: r.APIID, Hash: keys.Hash(key), Start: keys.Start(key),
		Prefix: r.Prefix, ByteLength: r.ByteLength, Name: r.Name, ExternalID: r.ExternalID, Meta: r.Meta,
		Expires: r.Expires, Enabled: r.Enabled == nil || *r.Enabled, Ratelimits: r.Ratelimits,
		Roles: r.Roles, Permissions: r.Permissions, CreatedAt: now, UpdatedAt: now,
	}
	if rec, err = s.cfg.Store.CreateKey(ctx, rec, budgetOf(r.Credits, now), now); err != nil {
		return nil, err
	}
	s.log(ctx).Info("key created", "key_id", rec.KeyID, "owner_id", rec.ExternalID, "api_id", rec.APIID, "identity_id", rec.IdentityID)
	return contracts.CreateKeyResponse{KeyID: rec.KeyID, Key: key}, nil
}

func (s *Service) getKey(ctx context.Context, r *contracts.GetKeyRequest, now int64) (any, error) {
	var p problems
	p.id("keyId", r.KeyID)
	if err := p.err(); err != nil {
		return nil, err
	}
	rec, _, err := s.cfg.Store.KeyByID(ctx, r.KeyID)
	if err != nil {
		return nil, storeError(err, "keyId")
	}
	return s.view(ctx, rec, now)
}

func (s *Service) whoami(ctx context.Context, r *contracts.WhoamiRequest, now int64) (any, error) {
	notFound := &contracts.Error{Code: contracts.CodeNotFound, Message: "key: no such key"}
	if keys.CheckSyntax(r.Key) != nil {
		return nil, notFound
	}
	rec, err := s.cfg.Store.KeyByHash(ctx, keys.Hash(r.Key), now)
	if err != nil {
		return nil, storeError(err, "key")
	}
	return s.view(ctx, rec, now)
}

// view answers KeyInfo for a record just read.
func (s *Service) view(ctx context.Context, rec store.Record, now int64) (any, error) {
	v, err := s.cfg.Store.ViewKey(ctx, rec, now)
	if err != nil {
		return nil, storeError(err, "keyId")
	}
	return keyInfo(v), nil
}

func (s *Service) deleteKey(ctx context.Context, r *contracts.DeleteKeyRequest, now int64) (any, error) {
	var p problems
	p.id("keyId", r.KeyID)
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.DeleteKey(ctx, r.KeyID, now); err != nil {
		return nil, storeError(err, "keyId")
	}
	s.log(ctx).Info("key deleted", "key_id", r.KeyID)
	return contracts.Empty{}, nil
}

func (s *Service) rerollKey(ctx context.Context, r *contracts.RerollKeyRequest, now int64) (any, error) {
	if err := validateReroll(r); err != nil {
		return nil, err
	}
	old, _, err := s.cfg.Store.KeyByID(ctx, r.KeyID)
	if err != nil {
		return nil, storeError(err, "keyId")
	}
	prefix := old.Prefix
	if prefix == "" && strings.Contains(old.Start, "_") { // records from before Prefix was stored
		prefix, _, _ = strings.Cut(old.Start, "_")
	}
	key, err := keys.New(prefix, old.ByteLength)
	if err != nil {
		return nil, err
	}
	next, err := s.cfg.Store.Reroll(ctx, r.KeyID, store.NewSecret{KeyID: keys.NewID("key"), Hash: keys.Hash(key), Start: keys.Start(key)}, r.Expiration, now)
	if err != nil {
		return nil, storeError(err, "keyId")
	}
	s.log(ctx).Info("key rerolled", "key_id", next.KeyID, "old_key_id", r.KeyID, "owner_id", next.ExternalID, "grace_ms", r.Expiration)
	return contracts.CreateKeyResponse{KeyID: next.KeyID, Key: key}, nil
}

func (s *Service) listKeys(ctx context.Context, r *contracts.ListKeysRequest, now int64) (any, error) {
	size, err := validateList(r)
	if err != nil {
		return nil, err
	}
	recs, more, err := s.cfg.Store.ListKeys(ctx, r.APIID, r.ExternalID, r.Cursor, size)
	if err != nil {
		return nil, err
	}
	resp := contracts.ListKeysResponse{Keys: []contracts.KeyInfo{}, HasMore: more}
	var fit pageFit
	for i, rec := range recs {
		v, err := s.cfg.Store.ViewKey(ctx, rec, now)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, err
		}
		info := keyInfo(v)
		if !fit.add(info) {
			resp.HasMore, recs = true, recs[:i]
			break
		}
		resp.Keys = append(resp.Keys, info)
	}
	if resp.HasMore && len(recs) > 0 {
		resp.Cursor = recs[len(recs)-1].KeyID
	}
	return resp, nil
}

func validateReroll(r *contracts.RerollKeyRequest) error {
	var p problems
	p.id("keyId", r.KeyID)
	if r.Expiration < 0 || r.Expiration > maxRerollGrace {
		p.add("expiration: must be between 0 (revoke the old key at once) and %d milliseconds", maxRerollGrace)
	}
	return p.err()
}

// validateList checks a list request and returns its page size.
func validateList(r *contracts.ListKeysRequest) (int, error) {
	var p problems
	if r.APIID == "" || len(r.APIID) > maxAPIIDLength {
		p.add("apiId: required, at most %d characters", maxAPIIDLength)
	}
	if len(r.ExternalID) > maxExternalIDLen {
		p.add("externalId: at most %d characters", maxExternalIDLen)
	}
	size := p.page(r.Cursor, r.Limit)
	return size, p.err()
}
