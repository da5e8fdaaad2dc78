package httpapi

// GET /v1/analytics/verifications: Unkey v1's analytics.getVerifications
// for the root key, answered by the analytics service over NATS
// (contracts.SubjectAnalyticsVerifications) from ClickHouse, each event
// counted once. The request goes through the same NATS client as
// keyservice's calls: it is a plain request/reply client, and analytics
// answers on its own subject with the same micro error replies.

import (
	"context"
	"errors"
	"reflect"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
)

// analyticsPath is the route's path.
const analyticsPath = "/v1/analytics/verifications"

// mountAnalytics registers the analytics route behind the root-key check.
func (a *api) mountAnalytics(app *fiber.App) {
	app.Get(analyticsPath, a.requireRootKey, a.analyticsVerifications)
}

// analyticsVerifications checks the query string, asks analytics, and
// answers {"buckets": [...]}.
func (a *api) analyticsVerifications(c *fiber.Ctx) error {
	q, err := parseVerificationsQuery(c.Query)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	var resp contracts.VerificationsResponse
	err = a.cfg.Keys.Call(keysclient.WithRequestID(ctx, requestIDOf(c)), contracts.SubjectAnalyticsVerifications, q, &resp)
	if err != nil {
		return a.analyticsError(c, err)
	}
	if resp.Buckets == nil {
		resp.Buckets = []contracts.VerificationBucket{}
	}
	return c.JSON(resp)
}

// analyticsError maps what the analytics call returned to a public error:
// a refusal of the query is the client's 400 with analytics' message (safe
// to show, contracts.Error says so); an outage is a 503 to retry; anything
// else is ours.
func (a *api) analyticsError(c *fiber.Ctx, err error) error {
	var ce *contracts.Error
	switch {
	case errors.As(err, &ce) && ce.Code == contracts.CodeBadRequest:
		return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, ce.Message)
	case errors.Is(err, keysclient.ErrUnavailable) || errors.As(err, &ce) && ce.Code == contracts.CodeTimeout:
		a.cfg.Logger.Error("analytics unavailable", "request_id", requestIDOf(c), "err", err)
		return &apierr.Error{Status: fiber.StatusServiceUnavailable, Reason: apierr.Unavailable,
			Message: "Analytics is unavailable; please retry", RetryAfter: 1}
	}
	a.cfg.Logger.Error("analytics query", "request_id", requestIDOf(c), "err", err)
	return apierr.New(fiber.StatusInternalServerError, apierr.Internal, "Something went wrong on our side; please retry")
}

// verificationsGroupings are the groupBy values, as Unkey v1 names them.
var verificationsGroupings = []string{
	contracts.GroupByHour, contracts.GroupByDay, contracts.GroupByMonth,
	contracts.GroupByKey, contracts.GroupByOwner, contracts.GroupByOutcome,
}

// parseVerificationsQuery reads the query string through get (fiber's
// c.Query, whose values are copied by the conversions below) and checks
// it as analytics would, so that a bad request is refused here with a
// message naming the parameter. The strings are copied: fiber reuses them.
func parseVerificationsQuery(get func(key string, def ...string) string) (contracts.VerificationsQuery, error) {
	bad := func(msg string) error { return apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, msg) }
	var q contracts.VerificationsQuery
	var err error
	if q.Start, err = strconv.ParseInt(get("start"), 10, 64); err != nil || q.Start < 0 {
		return q, bad("start: want unix milliseconds, a whole number of at least 0")
	}
	if q.End, err = strconv.ParseInt(get("end"), 10, 64); err != nil || q.End < 0 {
		return q, bad("end: want unix milliseconds, a whole number of at least 0")
	}
	if q.End <= q.Start {
		return q, bad("end: must be after start")
	}
	if q.End-q.Start > contracts.MaxAnalyticsRange {
		return q, bad("end - start: at most " + strconv.Itoa(contracts.MaxAnalyticsRange) + " ms (400 days)")
	}
	groupBy := get("groupBy")
	for _, g := range verificationsGroupings {
		if groupBy == g {
			q.GroupBy = g // the constant, not fiber's buffer
		}
	}
	if q.GroupBy == "" {
		return q, bad("groupBy: want hour, day, month, key, owner or outcome")
	}
	if v := get("limit"); v != "" {
		if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 || q.Limit > contracts.MaxAnalyticsBuckets {
			return q, bad("limit: want 1 to " + strconv.Itoa(contracts.MaxAnalyticsBuckets))
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"apiId", &q.APIID}, {"keyId", &q.KeyID}, {"ownerId", &q.OwnerID}} {
		v := get(f.name)
		if len(v) > 256 {
			return q, bad(f.name + ": at most 256 bytes")
		}
		*f.dst = string([]byte(v))
	}
	return q, nil
}

// analyticsRoutes documents the analytics route.
func (b *specBuilder) analyticsRoutes() {
	b.schema("VerificationBucket", reflect.TypeFor[contracts.VerificationBucket](),
		"The verifications of one group, by outcome: time (bucket start, unix ms, UTC) for hour, day and month groupings, "+
			"keyId, ownerId or outcome for the others. creditsSpent sums the cost of VALID verifications.")
	b.gen.comps["VerificationsResult"] = described(object(map[string]*jsonSchema{
		"buckets": {Type: "array", Items: ref("VerificationBucket")},
	}), "The buckets: time groupings earliest first, the others largest total first.")
	ms := func(name, desc string) *oaParameter {
		return &oaParameter{Name: name, In: "query", Required: true, Description: desc, Schema: &jsonSchema{Type: "integer", Minimum: new(int64(0))}}
	}
	str := func(name, desc string) *oaParameter {
		return &oaParameter{Name: name, In: "query", Description: desc, Schema: &jsonSchema{Type: "string", MaxLength: new(256)}}
	}
	op := &oaOperation{
		OperationID: "v1AnalyticsVerifications", Summary: "Count verifications, grouped", Tags: []string{tagV1},
		Security: []map[string][]string{{secRootKey: {}}},
		Description: "Unkey v1's getVerifications, for the root key: verifications in [start, end) grouped by hour, day or " +
			"month (UTC), key, owner or outcome, each counted once although events may be delivered twice. " +
			"end - start is at most 400 days. Events are stored to the second.",
		Parameters: []*oaParameter{
			ms("start", "Start of the range, unix milliseconds, inclusive."),
			ms("end", "End of the range, unix milliseconds, exclusive."),
			{Name: "groupBy", In: "query", Required: true, Schema: &jsonSchema{Type: "string", Enum: anys(verificationsGroupings)}},
			str("apiId", "Only this key space."), str("keyId", "Only this key."), str("ownerId", "Only this owner."),
			{Name: "limit", In: "query", Description: "At most this many buckets; default and maximum 1000.",
				Schema: &jsonSchema{Type: "integer", Minimum: new(int64(1)), Maximum: new(int64(contracts.MaxAnalyticsBuckets))}},
		},
		Responses: map[string]*oaResponse{"200": {Description: "The buckets.", Headers: headerRefs("X-Request-Id"),
			Content: jsonContent(ref("VerificationsResult"))}},
	}
	b.addErrors(op, analyticsPath, errorsOf([]errCase{
		{fiber.StatusBadRequest, apierr.InvalidRequest}, {fiber.StatusUnauthorized, apierr.InvalidAuthHeader},
		{fiber.StatusUnauthorized, apierr.InvalidAPIKey},
	}, serverErrors), requestIDHeader)
	b.add("GET", analyticsPath, op)
}
