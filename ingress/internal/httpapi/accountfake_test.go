package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ingress/internal/mailer"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/ocrstack/ocrstack/ingress/internal/plans"
	"github.com/stretchr/testify/require"
)

// The account routes need a keyservice that remembers: a sign-up creates
// an identity and a key that the next request lists, rotates or spends.
// accountKeyservice is a small one, in memory, answering on the contracts
// subjects over a real NATS server, so the ingress runs its real
// keysclient and accounts.Service against it. It keeps only what the
// account routes read (identities with meta, credits and rate limits; keys
// with owner, expiry and the identity's shared credits) and checks a
// verification in keyservice's order (exists, enabled, expires, credits);
// keyservice itself runs in the end-to-end test.
type accountKeyservice struct {
	mu         sync.Mutex
	now        time.Time
	seq        int
	keys       map[string]*contracts.KeyInfo // by key ID
	secrets    map[string]string             // key ID by plaintext
	identities map[string]*contracts.Identity
}

// accountStack is the API with accounts, over accountKeyservice.
type accountStack struct {
	app  *fiber.App
	ks   *accountKeyservice
	mail *mailbox
	jobs *stubJobs
}

// mailbox keeps the mails sent, for the verification link.
type mailbox struct {
	mu   sync.Mutex
	sent []mailer.Message
}

func (m *mailbox) Send(_ context.Context, msg mailer.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

// link returns the verification link of the last mail to.
func (m *mailbox) link(t *testing.T, to string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range slices.Backward(m.sent) {
		if msg.To == to {
			i := strings.Index(msg.Text, "/verify-email?token=")
			require.GreaterOrEqual(t, i, 0, msg.Text)
			return strings.Fields(msg.Text[i:])[0]
		}
	}
	t.Fatalf("no mail to %s", to)
	return ""
}

// startAccounts serves the API with accounts (email verification on when
// verify is) against a fresh accountKeyservice; usage answers GET
// /v1/usage's analytics query, nil leaving analytics out.
func startAccounts(t testing.TB, verify bool, usage func(context.Context, contracts.UsageQuery) (contracts.UsageSummary, error)) *accountStack {
	t.Helper()
	nc := natstest.Start(t)
	ks := &accountKeyservice{now: now, keys: map[string]*contracts.KeyInfo{}, secrets: map[string]string{}, identities: map[string]*contracts.Identity{}}
	ks.serve(t, nc.ConnectedUrl())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := keysclient.New(nc, 2*time.Second)
	box := &mailbox{}
	svc, err := accounts.New(accounts.Config{
		Keys: keys, Plans: plans.Default(), APIID: "api_ocr", Logger: logger, VerifyEmail: verify, Mailer: box,
		Secret: []byte("0123456789abcdef0123456789abcdef"), PublicURL: "http://ocr.test", Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	jobs := &stubJobs{result: contracts.OCRResult{Status: contracts.JobSucceeded, Text: "Hola"}}
	cfg := testConfig(nil, jobs)
	cfg.Keys, cfg.Logger, cfg.RootKey, cfg.CallTimeout = keys, logger, testRootKey, 2*time.Second // roomy: -race under load
	cfg.Accounts, cfg.Usage, cfg.SignupLimit = svc, usage, 0
	return &accountStack{app: New(cfg), ks: ks, mail: box, jobs: jobs}
}

// serve answers every subject the account routes use, on a connection of
// its own, until the test ends.
func (k *accountKeyservice) serve(t testing.TB, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	handlers := map[string]func(data []byte) (any, *contracts.Error){
		contracts.SubjectIdentitiesCreate: k.createIdentity, contracts.SubjectIdentitiesGet: k.getIdentity,
		contracts.SubjectIdentitiesUpdate: k.updateIdentity, contracts.SubjectIdentitiesDelete: k.deleteIdentity,
		contracts.SubjectKeysCreate: k.createKey, contracts.SubjectKeysGet: k.getKey, contracts.SubjectKeysWhoami: k.whoami,
		contracts.SubjectKeysList: k.listKeys, contracts.SubjectKeysDelete: k.deleteKey, contracts.SubjectKeysReroll: k.reroll,
		contracts.SubjectKeysUpdate: k.updateKey, contracts.SubjectKeysVerify: k.verify,
	}
	for subject, h := range handlers {
		_, err := nc.QueueSubscribe(subject, contracts.KeyServiceQueue, func(m *nats.Msg) {
			out := nats.NewMsg(m.Reply)
			k.mu.Lock() // held while encoding: the reply shares the store's values
			body, fail := h(m.Data)
			if fail != nil {
				out.Header.Set(micro.ErrorHeader, fail.Message)
				out.Header.Set(micro.ErrorCodeHeader, string(fail.Code))
				body = fail
			}
			out.Data, _ = json.Marshal(body)
			k.mu.Unlock()
			if err := m.RespondMsg(out); err != nil {
				t.Errorf("respond on %s: %v", subject, err)
			}
		})
		require.NoError(t, err)
	}
	require.NoError(t, nc.Flush())
}

func decodeAs[T any](data []byte) (T, *contracts.Error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, &contracts.Error{Code: contracts.CodeBadRequest, Message: err.Error()}
	}
	return v, nil
}

func notFound(what string) *contracts.Error {
	return &contracts.Error{Code: contracts.CodeNotFound, Message: what + ": not found"}
}

func (k *accountKeyservice) createIdentity(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.CreateIdentityRequest](data)
	if fail != nil {
		return nil, fail
	}
	if k.identities[r.ExternalID] != nil {
		return nil, &contracts.Error{Code: contracts.CodeConflict, Message: "identity exists"}
	}
	k.seq++
	id := &contracts.Identity{ID: "id_" + strconv.Itoa(k.seq), ExternalID: r.ExternalID, Meta: r.Meta, Ratelimits: r.Ratelimits, Credits: r.Credits}
	k.identities[r.ExternalID] = id
	return contracts.IdentityRef{IdentityID: id.ID, ExternalID: id.ExternalID}, nil
}

func (k *accountKeyservice) getIdentity(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.IdentityRef](data)
	if fail != nil {
		return nil, fail
	}
	if id := k.identities[r.ExternalID]; id != nil {
		return id, nil
	}
	return nil, notFound("identity")
}

// updateIdentity follows the absent / null / value rule.
func (k *accountKeyservice) updateIdentity(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.UpdateIdentityRequest](data)
	if fail != nil {
		return nil, fail
	}
	id := k.identities[r.ExternalID]
	if id == nil {
		return nil, notFound("identity")
	}
	if r.Meta != nil {
		id.Meta = r.Meta
	}
	if r.Ratelimits != nil {
		id.Ratelimits = nil
		_ = json.Unmarshal(r.Ratelimits, &id.Ratelimits)
	}
	if r.Credits != nil {
		id.Credits = nil
		_ = json.Unmarshal(r.Credits, &id.Credits)
	}
	return id, nil
}

func (k *accountKeyservice) deleteIdentity(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.IdentityRef](data)
	if fail != nil {
		return nil, fail
	}
	delete(k.identities, r.ExternalID)
	return contracts.Empty{}, nil
}

func (k *accountKeyservice) createKey(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.CreateKeyRequest](data)
	if fail != nil {
		return nil, fail
	}
	return k.newKey(contracts.KeyInfo{APIID: r.APIID, Name: r.Name, ExternalID: r.ExternalID, Meta: r.Meta, Expires: r.Expires, Enabled: true}, r.Prefix), nil
}

// newKey stores info under a new ID and plaintext, and returns both.
func (k *accountKeyservice) newKey(info contracts.KeyInfo, prefix string) contracts.CreateKeyResponse {
	k.seq++
	var b [16]byte
	_, _ = rand.Read(b[:])
	secret := cmp.Or(prefix, "ocr") + "_" + hex.EncodeToString(b[:])
	info.KeyID, info.Start, info.CreatedAt = "key_"+strconv.Itoa(k.seq), secret[:8], k.now.UnixMilli()+int64(k.seq)
	k.keys[info.KeyID] = &info
	k.secrets[secret] = info.KeyID
	return contracts.CreateKeyResponse{KeyID: info.KeyID, Key: secret}
}

// info is a key as keyservice shows it: with its identity.
func (k *accountKeyservice) info(key *contracts.KeyInfo) contracts.KeyInfo {
	out := *key
	if id := k.identities[key.ExternalID]; id != nil && key.ExternalID != "" {
		c := *id
		if c.Credits != nil {
			credits := *c.Credits
			c.Credits = &credits
		}
		out.Identity = &c
	}
	return out
}

func (k *accountKeyservice) getKey(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.GetKeyRequest](data)
	if fail != nil {
		return nil, fail
	}
	if key := k.keys[r.KeyID]; key != nil {
		return k.info(key), nil
	}
	return nil, notFound("key")
}

func (k *accountKeyservice) whoami(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.WhoamiRequest](data)
	if fail != nil {
		return nil, fail
	}
	if key := k.keys[k.secrets[r.Key]]; key != nil {
		return k.info(key), nil
	}
	return nil, notFound("key")
}

// listKeys answers one page: an account holds at most accounts.MaxKeys.
func (k *accountKeyservice) listKeys(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.ListKeysRequest](data)
	if fail != nil {
		return nil, fail
	}
	out := contracts.ListKeysResponse{Keys: []contracts.KeyInfo{}}
	for _, key := range k.keys {
		if key.APIID == r.APIID && (r.ExternalID == "" || key.ExternalID == r.ExternalID) {
			out.Keys = append(out.Keys, *key)
		}
	}
	slices.SortFunc(out.Keys, func(a, b contracts.KeyInfo) int { return cmp.Compare(a.CreatedAt, b.CreatedAt) })
	return out, nil
}

func (k *accountKeyservice) deleteKey(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.DeleteKeyRequest](data)
	if fail != nil {
		return nil, fail
	}
	if k.keys[r.KeyID] == nil {
		return nil, notFound("key")
	}
	k.remove(r.KeyID)
	return contracts.Empty{}, nil
}

func (k *accountKeyservice) remove(keyID string) {
	delete(k.keys, keyID)
	for secret, id := range k.secrets {
		if id == keyID {
			delete(k.secrets, secret)
		}
	}
}

// reroll issues a key with the old one's settings; the old one expires
// after Expiration ms, or goes at once.
func (k *accountKeyservice) reroll(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.RerollKeyRequest](data)
	if fail != nil {
		return nil, fail
	}
	old := k.keys[r.KeyID]
	if old == nil {
		return nil, notFound("key")
	}
	created := k.newKey(*old, "ocr")
	if r.Expiration == 0 {
		k.remove(r.KeyID)
	} else {
		old.Expires = k.now.UnixMilli() + r.Expiration
	}
	return created, nil
}

// updateKey changes what the account routes change: the expiry.
func (k *accountKeyservice) updateKey(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.UpdateKeyRequest](data)
	if fail != nil {
		return nil, fail
	}
	key := k.keys[r.KeyID]
	if key == nil {
		return nil, notFound("key")
	}
	if r.Expires != nil {
		key.Expires = 0
		_ = json.Unmarshal(r.Expires, &key.Expires)
	}
	return k.info(key), nil
}

// verify checks the key and spends the cost (1 unless the request names
// one) from its identity's credits; rate limits are reported, not counted.
func (k *accountKeyservice) verify(data []byte) (any, *contracts.Error) {
	r, fail := decodeAs[contracts.VerifyKeyRequest](data)
	if fail != nil {
		return nil, fail
	}
	key := k.keys[k.secrets[r.Key]]
	if key == nil {
		return contracts.VerifyKeyResponse{Code: contracts.VerifyNotFound}, nil
	}
	info := k.info(key)
	v := contracts.VerifyKeyResponse{Code: contracts.VerifyValid, KeyID: key.KeyID, APIID: key.APIID, Name: key.Name,
		ExternalID: key.ExternalID, Meta: key.Meta, Expires: key.Expires, Enabled: key.Enabled, Identity: info.Identity}
	cost := int64(1)
	if r.Credits != nil {
		cost = r.Credits.Cost
	}
	id := k.identities[key.ExternalID]
	switch {
	case !key.Enabled:
		v.Code = contracts.VerifyDisabled
	case key.Expires != 0 && k.now.UnixMilli() >= key.Expires:
		v.Code = contracts.VerifyExpired
	case id != nil && id.Credits != nil && id.Credits.Remaining < cost:
		v.Code = contracts.VerifyUsageExceeded
	case id != nil && id.Credits != nil:
		id.Credits.Remaining -= cost
		v.Identity.Credits = &contracts.Credits{Remaining: id.Credits.Remaining}
	}
	if id != nil {
		for _, rl := range id.Ratelimits {
			v.Ratelimits = append(v.Ratelimits, contracts.RatelimitResult{Name: rl.Name, Limit: rl.Limit, Duration: rl.Duration,
				Remaining: rl.Limit, Reset: k.now.UnixMilli() - k.now.UnixMilli()%rl.Duration + rl.Duration, AutoApply: rl.AutoApply})
		}
	}
	v.Valid = v.Code == contracts.VerifyValid
	return v, nil
}

// expire makes a key expired now, as time passing would.
func (k *accountKeyservice) expire(keyID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[keyID].Expires = k.now.UnixMilli()
}

// keyCount is the number of keys of owner.
func (k *accountKeyservice) keyCount(owner string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, key := range k.keys {
		if key.ExternalID == owner {
			n++
		}
	}
	return n
}
