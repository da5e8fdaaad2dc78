package service

import (
	"context"
	"fmt"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/limits"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

// Bounds on standalone rate limits.
const (
	maxNamespaceLen  = 64
	maxIdentifierLen = 256
	maxMultiLimits   = 100
)

func (s *Service) limit(ctx context.Context, r *contracts.RatelimitRequest, now int64) (any, error) {
	var p problems
	spec := p.limitSpec("", r)
	if err := p.err(); err != nil {
		return nil, err
	}
	res, _, err := s.cfg.Store.Limit(ctx, []store.LimitSpec{spec}, now)
	if err != nil {
		return nil, err
	}
	s.cfg.Metrics.limit(r.Namespace, res[0].Exceeded)
	return ratelimitResponse(res[0]), nil
}

func (s *Service) multiLimit(ctx context.Context, r *contracts.MultiRatelimitRequest, now int64) (any, error) {
	specs, err := validateMulti(r)
	if err != nil {
		return nil, err
	}
	res, passed, err := s.cfg.Store.Limit(ctx, specs, now)
	if err != nil {
		return nil, err
	}
	resp := contracts.MultiRatelimitResponse{Passed: passed, Limits: make([]contracts.RatelimitResponse, len(res))}
	for i, r := range res {
		resp.Limits[i] = ratelimitResponse(r)
		s.cfg.Metrics.limit(specs[i].Namespace, r.Exceeded)
	}
	return resp, nil
}

func validateMulti(r *contracts.MultiRatelimitRequest) ([]store.LimitSpec, error) {
	var p problems
	if len(r.Limits) == 0 || len(r.Limits) > maxMultiLimits {
		p.add("limits: 1 to %d", maxMultiLimits)
	}
	specs := make([]store.LimitSpec, len(r.Limits))
	for i := range r.Limits {
		specs[i] = p.limitSpec(fmt.Sprintf("limits[%d].", i), &r.Limits[i])
	}
	return specs, p.err()
}

func ratelimitResponse(r limits.Result) contracts.RatelimitResponse {
	return contracts.RatelimitResponse{Success: !r.Exceeded, Limit: r.Limit, Remaining: r.Remaining, Reset: r.Reset}
}

// limitSpec validates one standalone limit, its fields prefixed by field.
func (p *problems) limitSpec(field string, r *contracts.RatelimitRequest) store.LimitSpec {
	if r.Namespace == "" || len(r.Namespace) > maxNamespaceLen || !namespaceChars(r.Namespace) {
		p.add("%snamespace: 1 to %d characters of A-Z a-z 0-9 . _ -", field, maxNamespaceLen)
	}
	if r.Identifier == "" || len(r.Identifier) > maxIdentifierLen {
		p.add("%sidentifier: required, at most %d characters", field, maxIdentifierLen)
	}
	if r.Limit < 1 {
		p.add("%slimit: must be at least 1", field)
	}
	if r.Duration < minLimitDuration || r.Duration > maxLimitDuration {
		p.add("%sduration: must be between %d and %d milliseconds", field, minLimitDuration, maxLimitDuration)
	}
	cost := int64(1)
	if r.Cost != nil {
		cost = *r.Cost
		if cost < 0 || cost > maxCost {
			p.add("%scost: must be between 0 and %d", field, maxCost)
		}
	}
	return store.LimitSpec{Namespace: r.Namespace, Identifier: r.Identifier, Limit: r.Limit, Duration: r.Duration, Cost: cost}
}

func namespaceChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
