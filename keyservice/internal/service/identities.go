package service

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/keys"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

func (s *Service) createIdentity(ctx context.Context, r *contracts.CreateIdentityRequest, now int64) (any, error) {
	if err := validateCreateIdentity(r); err != nil {
		return nil, err
	}
	id := store.Identity{ID: keys.NewID("id"), ExternalID: r.ExternalID, Meta: r.Meta, Ratelimits: r.Ratelimits, CreatedAt: now, UpdatedAt: now}
	if err := s.cfg.Store.CreateIdentity(ctx, id, budgetOf(r.Credits, now), now); err != nil {
		return nil, storeError(err, "externalId")
	}
	s.log(ctx).Info("identity created", "identity_id", id.ID, "owner_id", id.ExternalID)
	return contracts.IdentityRef{IdentityID: id.ID, ExternalID: id.ExternalID}, nil
}

func validateCreateIdentity(r *contracts.CreateIdentityRequest) error {
	var p problems
	p.externalID(r.ExternalID)
	p.meta("meta", r.Meta)
	p.ratelimits("ratelimits", r.Ratelimits)
	p.credits("credits", r.Credits)
	return p.err()
}

func (p *problems) externalID(v string) {
	if v == "" || len(v) > maxExternalIDLen {
		p.add("externalId: required, at most %d characters", maxExternalIDLen)
	}
}

// ref checks that exactly one of identityId and externalId names an identity.
func (p *problems) ref(identityID, externalID string) {
	switch {
	case identityID == "" && externalID == "":
		p.add("identityId: give identityId or externalId")
	case identityID != "" && externalID != "":
		p.add("identityId: give identityId or externalId, not both")
	case identityID != "":
		p.id("identityId", identityID)
	default:
		p.externalID(externalID)
	}
}

func refField(identityID string) string {
	if identityID != "" {
		return "identityId"
	}
	return "externalId"
}

func (s *Service) getIdentity(ctx context.Context, r *contracts.IdentityRef, now int64) (any, error) {
	var p problems
	p.ref(r.IdentityID, r.ExternalID)
	if err := p.err(); err != nil {
		return nil, err
	}
	id, _, err := s.cfg.Store.IdentityByRef(ctx, r.IdentityID, r.ExternalID)
	if err != nil {
		return nil, storeError(err, refField(r.IdentityID))
	}
	return s.identity(ctx, id, now)
}

// identity answers an identity with its credits as of now.
func (s *Service) identity(ctx context.Context, id store.Identity, now int64) (*contracts.Identity, error) {
	b, err := s.cfg.Store.IdentityBudget(ctx, id.ID, now)
	if err != nil {
		return nil, err
	}
	return identityInfo(&id, b), nil
}

func (s *Service) updateIdentity(ctx context.Context, r *contracts.UpdateIdentityRequest, now int64) (any, error) {
	apply, budget, err := parseIdentityUpdate(r, now)
	if err != nil {
		return nil, err
	}
	id, err := s.cfg.Store.UpdateIdentity(ctx, r.IdentityID, r.ExternalID, now, apply, budget)
	if err != nil {
		return nil, storeError(err, refField(r.IdentityID))
	}
	s.log(ctx).Info("identity updated", "identity_id", id.ID, "owner_id", id.ExternalID)
	return s.identity(ctx, id, now)
}

func (s *Service) deleteIdentity(ctx context.Context, r *contracts.IdentityRef, now int64) (any, error) {
	var p problems
	p.ref(r.IdentityID, r.ExternalID)
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := s.cfg.Store.DeleteIdentity(ctx, r.IdentityID, r.ExternalID, now); err != nil {
		return nil, storeError(err, refField(r.IdentityID))
	}
	s.log(ctx).Info("identity deleted", "identity_id", r.IdentityID, "owner_id", r.ExternalID)
	return contracts.Empty{}, nil
}

func (s *Service) listIdentities(ctx context.Context, r *contracts.ListIdentitiesRequest, now int64) (any, error) {
	var p problems
	size := p.page(r.Cursor, r.Limit)
	if err := p.err(); err != nil {
		return nil, err
	}
	ids, more, err := s.cfg.Store.ListIdentities(ctx, r.Cursor, size)
	if err != nil {
		return nil, err
	}
	resp := contracts.ListIdentitiesResponse{Identities: []contracts.Identity{}, HasMore: more}
	var fit pageFit
	for i, id := range ids {
		info, err := s.identity(ctx, id, now)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fit.add(info) {
			resp.HasMore, ids = true, ids[:i]
			break
		}
		resp.Identities = append(resp.Identities, *info)
	}
	if resp.HasMore && len(ids) > 0 {
		resp.Cursor = ids[len(ids)-1].ID
	}
	return resp, nil
}

// parseIdentityUpdate validates an identity update and returns the change
// of its record and, when credits are given, of its budget.
func parseIdentityUpdate(r *contracts.UpdateIdentityRequest, now int64) (func(*store.Identity), func(*limits.Budget), error) {
	var p problems
	p.ref(r.IdentityID, r.ExternalID)
	meta, setMeta, _ := patchField[json.RawMessage](&p, "meta", r.Meta)
	p.meta("meta", meta)
	rls, setRls, _ := patchField[[]contracts.Ratelimit](&p, "ratelimits", r.Ratelimits)
	p.ratelimits("ratelimits", rls)
	creds, setCreds, _ := patchField[*contracts.Credits](&p, "credits", r.Credits)
	p.credits("credits", creds)
	var budget func(*limits.Budget)
	if setCreds {
		budget = func(b *limits.Budget) { *b = withWindows(budgetOf(creds, now), b.Windows) }
	}
	apply := func(id *store.Identity) {
		if setMeta {
			id.Meta = meta
		}
		if setRls {
			id.Ratelimits = rls
		}
	}
	return apply, budget, p.err()
}
