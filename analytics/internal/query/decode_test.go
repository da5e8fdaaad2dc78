package query

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ocrstack/ocrstack/contracts"
)

const day = 24 * 3600 * 1000

// TestDecodeVerifications checks that a VerificationsQuery is accepted
// only with a known grouping, a range that is ordered, within bounds and at
// most MaxAnalyticsRange long, a limit within bounds and no unknown field,
// and that each refusal is BAD_REQUEST naming the field.
func TestDecodeVerifications(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		want      contracts.VerificationsQuery
		wantField string // in the refusal's message
	}{
		{name: "minimal", body: `{"start":0,"end":1000,"groupBy":"hour"}`,
			want: contracts.VerificationsQuery{End: 1000, GroupBy: "hour", Limit: contracts.MaxAnalyticsBuckets}},
		{name: "every field", body: `{"start":1,"end":2,"groupBy":"key","apiId":"a","keyId":"k","ownerId":"o","limit":5}`,
			want: contracts.VerificationsQuery{Start: 1, End: 2, GroupBy: "key", APIID: "a", KeyID: "k", OwnerID: "o", Limit: 5}},
		{name: "longest range", body: `{"start":0,"end":34560000000,"groupBy":"month"}`,
			want: contracts.VerificationsQuery{End: 400 * day, GroupBy: "month", Limit: contracts.MaxAnalyticsBuckets}},
		{name: "range too long", body: `{"start":0,"end":34560000001,"groupBy":"month"}`, wantField: "end - start"},
		{name: "end before start", body: `{"start":5,"end":4,"groupBy":"day"}`, wantField: "end 4"},
		{name: "empty range", body: `{"start":5,"end":5,"groupBy":"day"}`, wantField: "end 5"},
		{name: "negative start", body: `{"start":-1,"end":4,"groupBy":"day"}`, wantField: "start -1"},
		{name: "end past DateTime", body: `{"start":0,"end":4294967296000,"groupBy":"day"}`, wantField: "end 4294967296000"},
		{name: "unknown grouping", body: `{"start":0,"end":1,"groupBy":"week"}`, wantField: "groupBy"},
		{name: "no grouping", body: `{"start":0,"end":1}`, wantField: "groupBy"},
		{name: "negative limit", body: `{"start":0,"end":1,"groupBy":"key","limit":-1}`, wantField: "limit"},
		{name: "limit too large", body: `{"start":0,"end":1,"groupBy":"key","limit":1001}`, wantField: "limit"},
		{name: "unknown filter", body: `{"start":0,"end":1,"groupBy":"key","tenant":"x"}`, wantField: "tenant"},
		{name: "long id", body: `{"start":0,"end":1,"groupBy":"key","keyId":"` + strings.Repeat("x", 257) + `"}`, wantField: "keyId"},
		{name: "not json", body: `{"start":`, wantField: "body"},
		{name: "null", body: `null`, wantField: "body"},
		{name: "trailing data", body: `{"start":0,"end":1,"groupBy":"key"}{}`, wantField: "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeVerifications([]byte(tc.body))
			if tc.wantField != "" {
				var ce *contracts.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, contracts.CodeBadRequest, ce.Code)
				require.Contains(t, ce.Message, tc.wantField)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestDecodeUsage checks that a UsageQuery must name an owner or keys,
// bounds its key list, and shares the range rules.
func TestDecodeUsage(t *testing.T) {
	many, _ := json.Marshal(make([]string, MaxKeyIDs+1))
	cases := []struct {
		name      string
		body      string
		want      contracts.UsageQuery
		wantField string
	}{
		{name: "owner", body: `{"ownerId":"o","start":0,"end":1}`, want: contracts.UsageQuery{OwnerID: "o", End: 1}},
		{name: "keys", body: `{"keyIds":["a","b"],"start":0,"end":1}`, want: contracts.UsageQuery{KeyIDs: []string{"a", "b"}, End: 1}},
		{name: "nobody", body: `{"start":0,"end":1}`, wantField: "ownerId or keyIds"},
		{name: "empty key", body: `{"keyIds":["a",""],"start":0,"end":1}`, wantField: "keyIds[1]"},
		{name: "too many keys", body: `{"keyIds":` + string(many) + `,"start":0,"end":1}`, wantField: "keyIds"},
		{name: "bad range", body: `{"ownerId":"o","start":2,"end":1}`, wantField: "end"},
		{name: "unknown field", body: `{"ownerId":"o","start":0,"end":1,"apiId":"x"}`, wantField: "apiId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeUsage([]byte(tc.body))
			if tc.wantField != "" {
				var ce *contracts.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, contracts.CodeBadRequest, ce.Code)
				require.Contains(t, ce.Message, tc.wantField)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// FuzzDecodeQueries checks that the request decoders never panic, refuse
// only with a BAD_REQUEST *contracts.Error, and accept only requests whose
// range, grouping and limit the SQL may rely on.
func FuzzDecodeQueries(f *testing.F) {
	f.Add([]byte(`{"start":0,"end":1000,"groupBy":"hour","limit":10}`))
	f.Add([]byte(`{"ownerId":"o","keyIds":["k"],"start":1767225600000,"end":1767312000000}`))
	f.Add([]byte(`{"start":0,"end":34560000000,"groupBy":"owner","apiId":"a'b"}`))
	f.Add([]byte(`{"start":1,"end":0}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			var ce *contracts.Error
			if !errors.As(err, &ce) || ce.Code != contracts.CodeBadRequest {
				t.Fatalf("refusal is not BAD_REQUEST: %v", err)
			}
		}
		if q, err := DecodeVerifications(body); err != nil {
			check(err)
		} else {
			if _, ok := groupings[q.GroupBy]; !ok || q.Limit < 1 || q.Limit > contracts.MaxAnalyticsBuckets ||
				q.Start < 0 || q.End <= q.Start || q.End > MaxTimeMs || q.End-q.Start > contracts.MaxAnalyticsRange {
				t.Fatalf("accepted a bad query %+v", q)
			}
			verificationsSQL(q) // builds without panicking
		}
		if q, err := DecodeUsage(body); err != nil {
			check(err)
		} else if (q.OwnerID == "" && len(q.KeyIDs) == 0) || len(q.KeyIDs) > MaxKeyIDs || q.End <= q.Start {
			t.Fatalf("accepted a bad query %+v", q)
		}
	})
}
