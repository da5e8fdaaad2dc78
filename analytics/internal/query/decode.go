package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ocrstack/ocrstack/contracts"
)

// Bounds on a request's fields.
const (
	// MaxKeyIDs bounds UsageQuery.KeyIDs.
	MaxKeyIDs = 1000
	// MaxIDLength bounds every id a request names, in bytes.
	MaxIDLength = 256
	// MaxTimeMs is the latest Start or End, in unix milliseconds: the last
	// second a ClickHouse DateTime holds.
	MaxTimeMs = int64(1<<32-1) * 1000
)

// DecodeUsage decodes and checks a UsageQuery. Every refusal is a
// *contracts.Error with code BAD_REQUEST naming the field.
func DecodeUsage(data []byte) (contracts.UsageQuery, error) {
	var q contracts.UsageQuery
	if err := decodeStrict(data, &q); err != nil {
		return q, err
	}
	if q.OwnerID == "" && len(q.KeyIDs) == 0 {
		return q, bad("ownerId or keyIds: name an owner or at least one key")
	}
	if err := checkID("ownerId", q.OwnerID); err != nil {
		return q, err
	}
	if len(q.KeyIDs) > MaxKeyIDs {
		return q, bad("keyIds: at most %d keys", MaxKeyIDs)
	}
	for i, id := range q.KeyIDs {
		if id == "" {
			return q, bad("keyIds[%d]: empty", i)
		}
		if err := checkID(fmt.Sprintf("keyIds[%d]", i), id); err != nil {
			return q, err
		}
	}
	return q, checkRange(q.Start, q.End)
}

// DecodeVerifications decodes and checks a VerificationsQuery, and sets
// its default Limit. Every refusal is a *contracts.Error with code
// BAD_REQUEST naming the field.
func DecodeVerifications(data []byte) (contracts.VerificationsQuery, error) {
	var q contracts.VerificationsQuery
	if err := decodeStrict(data, &q); err != nil {
		return q, err
	}
	if _, ok := groupings[q.GroupBy]; !ok {
		return q, bad("groupBy %q: want hour, day, month, key, owner or outcome", q.GroupBy)
	}
	for _, f := range []struct{ name, v string }{{"apiId", q.APIID}, {"keyId", q.KeyID}, {"ownerId", q.OwnerID}} {
		if err := checkID(f.name, f.v); err != nil {
			return q, err
		}
	}
	if q.Limit < 0 || q.Limit > contracts.MaxAnalyticsBuckets {
		return q, bad("limit %d: want 1 to %d (0 means %d)", q.Limit, contracts.MaxAnalyticsBuckets, contracts.MaxAnalyticsBuckets)
	}
	if q.Limit == 0 {
		q.Limit = contracts.MaxAnalyticsBuckets
	}
	return q, checkRange(q.Start, q.End)
}

// decodeStrict refuses unknown fields: a filter this service does not know
// yet must not be ignored, or the answer would cover more than was asked.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bad("body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("body: data after the JSON object")
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return bad("body: want a JSON object")
	}
	return nil
}

func checkRange(start, end int64) error {
	switch {
	case start < 0 || start > MaxTimeMs:
		return bad("start %d: want unix milliseconds from 0 to %d", start, MaxTimeMs)
	case end < 0 || end > MaxTimeMs:
		return bad("end %d: want unix milliseconds from 0 to %d", end, MaxTimeMs)
	case end <= start:
		return bad("end %d: must be after start %d", end, start)
	case end-start > contracts.MaxAnalyticsRange:
		return bad("end - start = %d ms: at most %d ms (400 days)", end-start, contracts.MaxAnalyticsRange)
	}
	return nil
}

func checkID(field, v string) error {
	if len(v) > MaxIDLength {
		return bad("%s: at most %d bytes", field, MaxIDLength)
	}
	return nil
}

func bad(format string, args ...any) error {
	return &contracts.Error{Code: contracts.CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}
