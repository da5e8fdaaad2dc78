package service

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestVerifyDuringRelinkIsExact races 16 clients verifying a key against an
// updater moving the key's budget into and out of an identity's Doc: every
// verification is answered (none lost to the move), and the credits spent
// equal the verifications admitted, exactly.
func TestVerifyDuringRelinkIsExact(t *testing.T) {
	f := start(t, 2)
	must[contracts.IdentityRef](t, f, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{ExternalID: "acme"})
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 1000}})
	var valid atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 10 {
				got := f.verify(t, created.Key)
				require.Equal(t, contracts.VerifyValid, got.Code)
				valid.Add(1)
			}
		})
	}
	wg.Go(func() {
		for i := range 12 {
			ext := json.RawMessage(`"acme"`)
			if i%2 == 1 {
				ext = json.RawMessage(`null`)
			}
			must[contracts.KeyInfo](t, f, contracts.SubjectKeysUpdate, contracts.UpdateKeyRequest{KeyID: created.KeyID, ExternalID: ext})
		}
	})
	wg.Wait()
	info := must[contracts.KeyInfo](t, f, contracts.SubjectKeysGet, contracts.KeyRef{KeyID: created.KeyID})
	require.Equal(t, int64(160), valid.Load())
	require.Equal(t, int64(1000-160), info.Credits.Remaining)
	require.Nil(t, info.Identity, "the last update unlinked it")
}

// TestVerifyDuringDelete races verifications against a delete: each is
// VALID before the delete or NOT_FOUND after, never an error.
func TestVerifyDuringDelete(t *testing.T) {
	f := start(t, 2)
	created := f.create(t, contracts.CreateKeyRequest{APIID: "api_test", Credits: &contracts.Credits{Remaining: 1000}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				code := f.verify(t, created.Key).Code
				require.Contains(t, []contracts.VerifyCode{contracts.VerifyValid, contracts.VerifyNotFound}, code)
			}
		})
	}
	must[contracts.Empty](t, f, contracts.SubjectKeysDelete, contracts.KeyRef{KeyID: created.KeyID})
	wg.Wait()
	require.Equal(t, contracts.VerifyNotFound, f.verify(t, created.Key).Code)
}
