package service

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestStorageOutageIsUnavailable takes JetStream away from a running
// replica, as a nats-server restart does until JetStream has recovered
// its streams (or a cluster without quorum does): every request that
// needs storage is answered UNAVAILABLE, which callers retry (the
// ingress's 503), never INTERNAL (its 500); a key with nothing to count
// still verifies from the cache. Once JetStream is back, the same
// requests succeed, and the verification retried with its idempotency
// key is charged once.
func TestStorageOutageIsUnavailable(t *testing.T) {
	f := start(t, 1)
	counted := f.create(t, contracts.CreateKeyRequest{APIID: "api_1", Credits: &contracts.Credits{Remaining: 10}})
	free := f.create(t, contracts.CreateKeyRequest{APIID: "api_1"})
	require.Equal(t, int64(9), *f.verifyReq(t, contracts.VerifyKeyRequest{Key: counted.Key, IdempotencyKey: "job_1"}).Credits)
	require.True(t, f.verify(t, free.Key).Valid)

	cfg := f.srv.JetStreamConfig()
	require.NotNil(t, cfg)
	cfg.StoreDir = filepath.Dir(cfg.StoreDir) // EnableJetStream adds the "jetstream" it ends with
	require.NoError(t, f.srv.ShutdownJetStream())

	retried := contracts.VerifyKeyRequest{Key: counted.Key, IdempotencyKey: "job_2", RequestID: "req_retried"}
	for _, c := range []struct {
		name    string
		subject string
		req     any
	}{
		{"verify, cached key with credits", contracts.SubjectKeysVerify, retried},
		{"create", contracts.SubjectKeysCreate, contracts.CreateKeyRequest{APIID: "api_1"}},
		{"get", contracts.SubjectKeysGet, contracts.GetKeyRequest{KeyID: "key_unknown"}},
		{"standalone rate limit", contracts.SubjectRatelimitLimit, contracts.RatelimitRequest{Namespace: "signup", Identifier: "203.0.113.7", Limit: 5, Duration: 60_000}},
	} {
		began := time.Now()
		code, desc := f.call(t, c.subject, c.req, nil)
		require.Equal(t, string(contracts.CodeUnavailable), code, "%s: %s", c.name, desc)
		require.Contains(t, desc, "retry", c.name)
		// No responders is an answer, not a timeout to wait out.
		require.Less(t, time.Since(began), 2*time.Second, c.name)
	}
	require.True(t, f.verify(t, free.Key).Valid, "a key with nothing to count needs no storage")

	require.NoError(t, f.srv.EnableJetStream(cfg))
	var v contracts.VerifyKeyResponse
	require.Eventually(t, func() bool {
		code, _ := f.call(t, contracts.SubjectKeysVerify, retried, &v)
		return code == ""
	}, 10*time.Second, 50*time.Millisecond, "storage back")
	require.True(t, v.Valid)
	require.Equal(t, int64(8), *v.Credits, "the outage charged nothing")
	again := f.verifyReq(t, retried)
	require.Equal(t, int64(8), *again.Credits, "a replay is not charged again")
	require.Equal(t, int64(7), *f.verifyReq(t, contracts.VerifyKeyRequest{Key: counted.Key, IdempotencyKey: "job_3"}).Credits)
}
