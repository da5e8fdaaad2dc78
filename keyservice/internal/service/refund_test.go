package service

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// refund sends a refund and fails the test on an error reply.
func (f *fixture) refund(t testing.TB, keyID, idem string) contracts.RefundResponse {
	t.Helper()
	return must[contracts.RefundResponse](t, f, contracts.SubjectKeysRefund, contracts.RefundRequest{KeyID: keyID, IdempotencyKey: idem, Reason: "test"})
}

// credits reads a key's balance.
func (f *fixture) credits(t testing.TB, keyID string) int64 {
	t.Helper()
	return must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: keyID}).Credits.Remaining
}

// TestRefund walks one key through verifications and refunds: a refund
// gives back exactly the cost its verification spent, once; a second
// refund, a refund of an unknown idempotency key and one of an unknown key
// refund nothing; a retry of the refunded verification still replays its
// first answer and spends nothing; a later verification draws on the
// refunded credits; rate-limit windows are not given back.
func TestRefund(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 10},
		Ratelimits: []contracts.Ratelimit{{Name: "r", Limit: 100, Duration: 3_600_000, AutoApply: true}}})
	type step struct {
		name string
		// verify with idem, at cost, or else refund idem (of keyID when set).
		verify      bool
		idem, keyID string
		cost        int64
		// For a verification: its answer; for a refund: Refunded and Credits.
		wantCredits  *int64
		wantRLLeft   int64
		wantRefunded bool
		// wantLeft is the key's balance after the step.
		wantLeft int64
		// wantCancel: a refund of an idempotency key nothing charged writes
		// the record that cancels it and the Doc as it was, nothing else.
		wantCancel bool
	}
	steps := []step{
		{name: "spend", verify: true, idem: "job_1", cost: 3, wantCredits: ptr[int64](7), wantRLLeft: 99, wantLeft: 7},
		{name: "refund gives back the cost", idem: "job_1", wantRefunded: true, wantCredits: ptr[int64](10), wantLeft: 10},
		{name: "second refund refunds nothing", idem: "job_1", wantLeft: 10},
		{name: "retry replays the first answer", verify: true, idem: "job_1", cost: 3, wantCredits: ptr[int64](7), wantRLLeft: 99, wantLeft: 10},
		{name: "refund after the replay refunds nothing", idem: "job_1", wantLeft: 10},
		{name: "next verification sees the credits", verify: true, idem: "job_2", cost: 10, wantCredits: ptr[int64](0), wantRLLeft: 98, wantLeft: 0},
		{name: "unknown idempotency key", idem: "job_nope", wantLeft: 0, wantCancel: true},
		{name: "unknown key", keyID: "key_nope", idem: "job_2", wantLeft: 0},
		{name: "refund of the other verification", idem: "job_2", wantRefunded: true, wantCredits: ptr[int64](10), wantLeft: 10},
	}
	for _, s := range steps {
		if s.verify {
			got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: s.idem, Credits: &contracts.VerifyCredits{Cost: s.cost}})
			require.Equal(t, contracts.VerifyValid, got.Code, s.name)
			require.Equal(t, s.wantCredits, got.Credits, s.name)
			require.Equal(t, s.wantRLLeft, got.Ratelimits[0].Remaining, s.name)
		} else {
			before := f.lastSeqs(t)
			got := f.refund(t, cmpOr(s.keyID, created.KeyID), s.idem)
			require.Equal(t, contracts.RefundResponse{Refunded: s.wantRefunded, Credits: s.wantCredits}, got, s.name)
			switch after := f.lastSeqs(t); {
			case s.wantCancel:
				// Its record, and the Doc rewritten as read, which orders it
				// against a verification of the same idempotency key.
				require.Equal(t, [2]uint64{before[0], before[1] + 2}, after, "%s: a cancel writes its record and the Doc only", s.name)
			case !s.wantRefunded:
				require.Equal(t, before, after, "%s: a refund of nothing wrote", s.name)
			}
		}
		require.Equal(t, s.wantLeft, f.credits(t, created.KeyID), s.name)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestRefundDenied checks that a denied verification, which spent
// nothing, has nothing to refund: the refund writes nothing but the record
// cancelling its idempotency key (keyservice cannot tell a denied
// verification from one not made yet), and a retry of the verification
// with that key is then refused without spending.
func TestRefundDenied(t *testing.T) {
	f := start(t, 1)
	off := false
	cases := []struct {
		name     string
		create   contracts.CreateKeyRequest
		cost     int64
		wantCode contracts.VerifyCode
	}{
		{"usage exceeded", contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 1}}, 2, contracts.VerifyUsageExceeded},
		{"disabled", contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 5}, Enabled: &off}, 1, contracts.VerifyDisabled},
		{"rate limited", contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 5},
			Ratelimits: []contracts.Ratelimit{{Name: "r", Limit: 1, Duration: 60_000}}}, 1, contracts.VerifyRateLimited},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			created := f.create(t, tc.create)
			r := contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: "job_d", Credits: &contracts.VerifyCredits{Cost: tc.cost}}
			if tc.wantCode == contracts.VerifyRateLimited {
				r.Ratelimits = []contracts.VerifyRatelimit{{Name: "r", Cost: ptr[int64](2)}}
			}
			require.Equal(t, tc.wantCode, f.verifyReq(t, r).Code)
			before := f.lastSeqs(t)
			require.Equal(t, contracts.RefundResponse{}, f.refund(t, created.KeyID, "job_d"))
			require.Equal(t, [2]uint64{before[0], before[1] + 2}, f.lastSeqs(t), "a refund of nothing wrote more than its cancel record and the Doc")
			require.Equal(t, tc.create.Credits.Remaining, f.credits(t, created.KeyID))
			code, _ := f.call(t, contracts.SubjectKeysVerify, r, &contracts.VerifyKeyResponse{})
			require.Equal(t, string(contracts.CodeConflict), code)
			require.Equal(t, tc.create.Credits.Remaining, f.credits(t, created.KeyID))
		})
	}
}

// TestRefundRejectsBadInput checks that a malformed refund is BAD_REQUEST
// naming every bad field, and writes nothing.
func TestRefundRejectsBadInput(t *testing.T) {
	f := start(t, 1)
	cases := []struct {
		name, body, want string
	}{
		{"every problem at once", `{"keyId":"a.b","reason":"` + fmt.Sprintf("%0300d", 0) + `"}`,
			"keyId: required, 1 to 64 characters of A-Z a-z 0-9 _; idempotencyKey: required, at most 256 characters; reason: at most 256 characters"},
		{"idempotency key too long", `{"keyId":"key_1","idempotencyKey":"` + fmt.Sprintf("%0257d", 0) + `"}`, "idempotencyKey: required, at most 256"},
		{"unknown field", `{"keyId":"key_1","idempotencyKey":"j","cost":1}`, `unknown field "cost"`},
		{"key and key id", `{"keyId":"key_1","key":"ocr_1","idempotencyKey":"j"}`, "keyId, key: set exactly one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.lastSeqs(t)
			code, desc := f.callRaw(t, contracts.SubjectKeysRefund, []byte(tc.body), nil)
			require.Equal(t, string(contracts.CodeBadRequest), code)
			require.Contains(t, desc, tc.want)
			require.Equal(t, before, f.lastSeqs(t))
		})
	}
}

// TestRefundIdentityCredits checks that a refund gives the cost back to
// every budget the verification charged: the key's own credits and its
// identity's shared ones, or only the identity's for a key without
// credits of its own.
func TestRefundIdentityCredits(t *testing.T) {
	f := start(t, 1)
	must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: "acme", Credits: &contracts.Credits{Remaining: 100}})
	identityCredits := func() int64 {
		return must[contracts.Identity](t, f, contracts.SubjectIdentitiesGet, contracts.IdentityRef{ExternalID: "acme"}).Credits.Remaining
	}
	cases := []struct {
		name         string
		keyCredits   *contracts.Credits
		wantSpent    *int64 // the key's credits after the verification
		wantRefunded *int64 // and after the refund
	}{
		{"key and identity credits", &contracts.Credits{Remaining: 10}, ptr[int64](6), ptr[int64](10)},
		{"identity credits only", nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", ExternalID: "acme", Credits: tc.keyCredits})
			got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: "job_1", Credits: &contracts.VerifyCredits{Cost: 4}})
			require.Equal(t, contracts.VerifyValid, got.Code)
			require.Equal(t, tc.wantSpent, got.Credits)
			require.Equal(t, int64(96), got.Identity.Credits.Remaining)
			require.Equal(t, int64(96), identityCredits())

			require.Equal(t, contracts.RefundResponse{Refunded: true, Credits: tc.wantRefunded}, f.refund(t, created.KeyID, "job_1"))
			require.Equal(t, int64(100), identityCredits())
			require.Equal(t, contracts.RefundResponse{}, f.refund(t, created.KeyID, "job_1"))
			require.Equal(t, int64(100), identityCredits())
			info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
			if tc.keyCredits != nil {
				require.Equal(t, *tc.wantRefunded, info.Credits.Remaining)
			} else {
				require.Nil(t, info.Credits)
			}
		})
	}
}

// TestRefundWindow checks the bounds in time: a refund long after the
// verification's replay window (SeenWindow) still gives the cost back,
// one at contracts.RefundWindow or later gives nothing back; a refund
// after a replace refill reset the balance does not add the cost on top,
// while an add refill keeps it owed.
func TestRefundWindow(t *testing.T) {
	daily := func(mode contracts.RefillMode) *contracts.Refill {
		return &contracts.Refill{Interval: contracts.RefillDaily, Amount: 10, Mode: mode}
	}
	cases := []struct {
		name         string
		refill       *contracts.Refill
		after        time.Duration
		wantRefunded bool
		wantLeft     int64
	}{
		{"an hour later", nil, time.Hour, true, 10},
		{"just inside the window", nil, contracts.RefundWindow - time.Millisecond, true, 10},
		{"at the end of the window", nil, contracts.RefundWindow, false, 7},
		{"after a replace refill", daily(""), 12 * time.Hour, true, 10},
		{"after an add refill", daily(contracts.RefillAdd), 12 * time.Hour, true, 20},
		{"before a replace refill", daily(""), time.Hour, true, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, 1) // 12:00:30 UTC: 12 hours on is past midnight
			created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 10, Refill: tc.refill}})
			got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: "job_1", Credits: &contracts.VerifyCredits{Cost: 3}})
			require.Equal(t, int64(7), *got.Credits)
			f.clock.Advance(tc.after)
			require.Equal(t, tc.wantRefunded, f.refund(t, created.KeyID, "job_1").Refunded)
			require.Equal(t, tc.wantLeft, f.credits(t, created.KeyID))
		})
	}
}

// TestRefundRace races 20 refunds of one verification, on two replicas,
// against verifications spending from the same budget: the verification
// is refunded exactly once, and the balance is exact.
func TestRefundRace(t *testing.T) {
	f := start(t, 2)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 100}})
	got := f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: "job_1", Credits: &contracts.VerifyCredits{Cost: 5}})
	require.Equal(t, int64(95), *got.Credits)
	var refunded, valid atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if f.refund(t, created.KeyID, "job_1").Refunded {
				refunded.Add(1)
			}
		})
	}
	for i := range 10 {
		wg.Go(func() {
			r := contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: fmt.Sprint("other_", i)}
			if f.verifyReq(t, r).Code == contracts.VerifyValid {
				valid.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(1), refunded.Load())
	require.Equal(t, int64(10), valid.Load())
	require.Equal(t, int64(100-10), f.credits(t, created.KeyID))
	require.False(t, f.refund(t, created.KeyID, "job_1").Refunded)
}

// TestRefundRerolledKey checks that a refund naming the old id of a key
// rerolled since the verification, still in its grace period, refunds the
// budget both keys share.
func TestRefundRerolledKey(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 10}})
	require.Equal(t, int64(9), *f.verifyReq(t, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: "job_1"}).Credits)
	fresh := must[contracts.CreateKeyResponse](t, f, contracts.SubjectKeysReroll, contracts.RerollKeyRequest{KeyID: created.KeyID, Expiration: 3_600_000})
	require.Equal(t, contracts.RefundResponse{Refunded: true, Credits: ptr[int64](10)}, f.refund(t, created.KeyID, "job_1"))
	require.Equal(t, int64(10), f.credits(t, fresh.KeyID))
}

// refundByKey sends a refund naming the key itself, as a caller whose
// verification went unanswered does.
func (f *fixture) refundByKey(t testing.TB, key, idem string) contracts.RefundResponse {
	t.Helper()
	return must[contracts.RefundResponse](t, f, contracts.SubjectKeysRefund, contracts.RefundRequest{Key: key, IdempotencyKey: idem, Reason: "test"})
}

// TestRefundByKey checks the refund of a verification whose answer was
// lost, which names the key rather than its id, both ways round: after
// the verification committed, it gives the charge back once; before, it
// cancels the idempotency key, so the verification arriving later is
// refused with CONFLICT, spends nothing and emits no event, and stays
// refused when retried; a malformed or unknown key refunds nothing.
func TestRefundByKey(t *testing.T) {
	f := start(t, 1)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 10}})
	verify := func(idem string) (string, contracts.VerifyKeyResponse) {
		var resp contracts.VerifyKeyResponse
		code, _ := f.call(t, contracts.SubjectKeysVerify, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: idem,
			RequestID: idem, Credits: &contracts.VerifyCredits{Cost: 2}}, &resp)
		return code, resp
	}

	// After the commit.
	code, got := verify("job_after")
	require.Empty(t, code)
	require.Equal(t, int64(8), *got.Credits)
	require.Equal(t, contracts.RefundResponse{Refunded: true, Credits: ptr[int64](10)}, f.refundByKey(t, created.Key, "job_after"))
	require.Equal(t, contracts.RefundResponse{}, f.refundByKey(t, created.Key, "job_after"))
	require.Equal(t, int64(10), f.credits(t, created.KeyID))

	// Before the commit.
	require.Equal(t, contracts.RefundResponse{}, f.refundByKey(t, created.Key, "job_before"))
	for range 2 {
		code, _ = verify("job_before")
		require.Equal(t, string(contracts.CodeConflict), code)
		require.Equal(t, int64(10), f.credits(t, created.KeyID))
	}
	require.Equal(t, contracts.RefundResponse{}, f.refundByKey(t, created.Key, "job_before"), "a cancelled key has nothing to refund")
	require.Equal(t, contracts.RefundResponse{}, f.refund(t, created.KeyID, "job_before"))
	code, got = verify("job_next")
	require.Empty(t, code)
	require.Equal(t, int64(8), *got.Credits)
	evs := f.events(t, 2)
	require.Len(t, evs, 2, "the refused verification emitted an event")
	require.Equal(t, []string{"job_after", "job_next"}, []string{evs[0].RequestID, evs[1].RequestID})

	// Keys that name nothing.
	before := f.lastSeqs(t)
	for _, key := range []string{"not a key", "ocr_3ZbV9xYzUnknownKeyOfTheRightShape1234"} {
		require.Equal(t, contracts.RefundResponse{}, f.refundByKey(t, key, "job_x"))
	}
	require.Equal(t, before, f.lastSeqs(t))
}

// TestRefundVerifyRace races, on two replicas, a verification and a
// refund naming the key under each of 20 idempotency keys, with retried
// refunds on top: whichever lands first, every charge is undone exactly
// once (admitted verifications equal refunded ones, the balance is back
// where it started) and no verification is charged after its refund.
func TestRefundVerifyRace(t *testing.T) {
	f := start(t, 2)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 100}})
	var valid, cancelled, refunded atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		idem := fmt.Sprint("job_", i)
		wg.Go(func() {
			var resp contracts.VerifyKeyResponse
			code, desc := f.call(t, contracts.SubjectKeysVerify, contracts.VerifyKeyRequest{Key: created.Key, IdempotencyKey: idem, RequestID: idem}, &resp)
			switch {
			case code == "" && resp.Code == contracts.VerifyValid:
				valid.Add(1)
			case code == string(contracts.CodeConflict):
				cancelled.Add(1)
			default:
				t.Errorf("verify %s: code %q %q, outcome %s", idem, code, desc, resp.Code)
			}
		})
		for range 2 {
			wg.Go(func() {
				if f.refundByKey(t, created.Key, idem).Refunded {
					refunded.Add(1)
				}
			})
		}
	}
	wg.Wait()
	for i := range 20 { // refunds that came after their verification
		if f.refundByKey(t, created.Key, fmt.Sprint("job_", i)).Refunded {
			refunded.Add(1)
		}
	}
	t.Logf("%d verifications charged and refunded, %d cancelled first", valid.Load(), cancelled.Load())
	require.Equal(t, int64(20), valid.Load()+cancelled.Load())
	require.Equal(t, valid.Load(), refunded.Load())
	require.Equal(t, int64(100), f.credits(t, created.KeyID))
}
