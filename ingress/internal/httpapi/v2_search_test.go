package httpapi

import (
	"fmt"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/testlog"
	"github.com/stretchr/testify/require"
)

// TestV2SearchScanBound checks that an identity search reads at most
// maxSearchScan identities per request: with nothing matching in a long
// list it stops there, answers an empty page that says hasMore, and its
// cursor carries on after the last identity read.
func TestV2SearchScanBound(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	var replies []reply
	for page := range maxSearchScan/searchPageSize + 1 {
		ids := make([]contracts.Identity, searchPageSize)
		for i := range ids {
			ids[i] = contracts.Identity{ID: fmt.Sprintf("id_%04d", page*searchPageSize+i), ExternalID: "nobody"}
		}
		replies = append(replies, reply{body: contracts.ListIdentitiesResponse{Identities: ids, HasMore: true}})
	}
	ks := serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{contracts.SubjectIdentitiesList: replies})

	r := do(t, app, v2Request("identities.listIdentities", `{"search":"acme"}`))
	require.Equal(t, 200, r.status, r.raw)
	require.JSONEq(t, `{"meta":{"requestId":"`+testRequestID+`"},"data":[],
		"pagination":{"cursor":"`+fmt.Sprintf("id_%04d", maxSearchScan-1)+`","hasMore":true}}`, r.raw)
	require.Len(t, ks.received(), maxSearchScan/searchPageSize)
}

// TestV2BadRequestErrors checks that a 400 from keyservice, which names its
// fields only in its message ("field: problem" per line), still lists them
// in errors[] at the member of Unkey's body (the SDK's BadRequestErrorResponse
// points callers there), and that a message naming no field is an error of
// the whole body: errors[] is never empty.
func TestV2BadRequestErrors(t *testing.T) {
	nc := startNATS(t)
	app := newV2App(nc, testRootKey, &testlog.Buffer{})
	cases := []struct {
		name, route, body, subject, message string
		want                                []unkeyValidationError
	}{
		{"one field", "keys.createKey", `{"apiId":"api_ocr","expires":1000}`, contracts.SubjectKeysCreate,
			"expires: must be a unix time in milliseconds in the future",
			[]unkeyValidationError{{Location: "body.expires", Message: "must be a unix time in milliseconds in the future"}}},
		{"several, nested", "keys.updateKey", `{"keyId":"key_1","name":"n"}`, contracts.SubjectKeysUpdate,
			"name: at most 200 characters\nratelimits[0].duration: must be between 1000 and 86400000 milliseconds\ncredits.refill.refillDay: must be a day of the month, 1 to 31",
			[]unkeyValidationError{
				{Location: "body.name", Message: "at most 200 characters"},
				{Location: "body.ratelimits[0].duration", Message: "must be between 1000 and 86400000 milliseconds"},
				{Location: "body.credits.refill.refillDay", Message: "must be a day of the month, 1 to 31"},
			}},
		{"multiLimit's bare array", "ratelimit.multiLimit", `[{"namespace":"a","identifier":"b","limit":1,"duration":1000}]`, contracts.SubjectRatelimitMultiLimit,
			"limits[0].namespace: 1 to 255 characters of A-Z a-z 0-9 . _ -",
			[]unkeyValidationError{{Location: "body[0].namespace", Message: "1 to 255 characters of A-Z a-z 0-9 . _ -"}}},
		{"no field named", "keys.rerollKey", `{"keyId":"key_1","expiration":0}`, contracts.SubjectKeysReroll,
			"the request is not valid",
			[]unkeyValidationError{{Location: "body", Message: "the request is not valid"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			serveKeyservice(t, nc.ConnectedUrl(), map[string][]reply{tc.subject: {{code: contracts.CodeBadRequest, message: tc.message}}})
			r := do(t, app, v2Request(tc.route, tc.body))
			require.Equal(t, 400, r.status, r.raw)
			e := v2Error(t, r)
			require.Equal(t, tc.message, e["detail"])
			var got []unkeyValidationError
			for _, x := range e["errors"].([]any) {
				m := x.(map[string]any)
				got = append(got, unkeyValidationError{Location: m["location"].(string), Message: m["message"].(string)})
			}
			require.Equal(t, tc.want, got)
		})
	}
}
