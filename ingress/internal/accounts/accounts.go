// Package accounts is the sign-up, plan and key self-service logic of the
// ingress. An account is a keyservice identity:
//
//   - its externalId is the normalized email (trimmed, lower case), which
//     is also the externalId of every key of the account, so keyservice
//     links the keys to it and verification events carry it as ownerId
//     (what analytics' usage query selects by);
//   - its meta (Meta) holds the name, the plan, whether the email is
//     verified, when the account's keys expire and the transactions
//     applied by POST /upgradeUser;
//   - its credits and rate limits are the plan's, shared by all its keys:
//     changing plan is one update of the identity, atomic however many keys
//     the account has, and a new key cannot add credits.
//
// A separate accounts store was the alternative; keeping the account in
// keyservice means one source of truth, replicated and cached as keys are,
// and nothing new to back up.
//
// With email verification on, a new account's credits are 0 until the
// link is followed: a key of an unverified account can never spend, and the
// ingress answers its OCR requests 403 EMAIL_NOT_VERIFIED. Following the
// link grants the plan's credits.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/mailer"
	"github.com/ocrstack/ocrstack/ingress/internal/plans"
)

// Errors. Keyservice's own errors (*contracts.Error, keysclient.ErrUnavailable)
// pass through wrapped.
var (
	// ErrInvalid: the request's input is not acceptable; the message says why.
	ErrInvalid = errors.New("invalid input")
	// ErrExists: an account with this email exists.
	ErrExists = errors.New("account exists")
	// ErrNotFound: no account has this email.
	ErrNotFound = errors.New("no such account")
	// ErrKeyNotFound: no key of this account has this id.
	ErrKeyNotFound = errors.New("no such key in this account")
	// ErrTooManyKeys: the account has MaxKeys keys already.
	ErrTooManyKeys = errors.New("too many keys")
	// ErrBadToken: a verification link is forged, damaged or expired.
	ErrBadToken = errors.New("bad or expired verification token")
	// ErrMail: the verification mail could not be sent; nothing was kept.
	ErrMail = errors.New("verification mail not sent")
)

// Bounds.
const (
	// MaxKeys is the number of keys an account may hold.
	MaxKeys = 25
	// MaxRotationGrace bounds how long an old key stays valid after a
	// rotation: 7 days.
	MaxRotationGrace = 7 * 24 * time.Hour
	// maxTransactions is how many applied transaction ids an account
	// remembers (the oldest are forgotten first; meta is at most 16 KiB).
	maxTransactions  = 50
	maxTransactionID = 64
	maxNameLength    = 200
	maxEmailLength   = 254
	keyPrefix        = "ocr"
)

// Keys calls keyservice (keysclient.Client does).
type Keys interface {
	Call(ctx context.Context, subject string, req, resp any) error
}

// Config holds a Service's dependencies.
type Config struct {
	Keys  Keys
	Plans *plans.Catalog
	// APIID is the key space accounts' keys live in.
	APIID string
	// VerifyEmail turns email verification on; Mailer, Secret and
	// PublicURL are then required.
	VerifyEmail bool
	Mailer      mailer.Mailer
	// Secret signs verification links (HMAC-SHA256), at least 32 bytes.
	Secret []byte
	// PublicURL is where clients reach the ingress ("https://ocr.example"),
	// the base of the verification link.
	PublicURL string
	// TokenTTL is how long a verification link is valid; 0 means 48 h.
	TokenTTL time.Duration
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service runs the account operations.
type Service struct {
	cfg Config
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Keys == nil || cfg.Plans == nil || cfg.APIID == "" || cfg.Logger == nil {
		return nil, errors.New("accounts: keys, plans, api id and logger are required")
	}
	if cfg.VerifyEmail && (cfg.Mailer == nil || len(cfg.Secret) < 32 || cfg.PublicURL == "") {
		return nil, errors.New("accounts: email verification needs a mailer, a secret of 32 bytes or more and a public URL")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 48 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Service{cfg: cfg}, nil
}

// Meta is what an account's identity keeps in its meta.
type Meta struct {
	Email         string `json:"email"`
	Name          string `json:"name"`
	Plan          string `json:"plan"`
	EmailVerified bool   `json:"emailVerified"`
	// KeysExpire is when the account's keys expire, unix ms; 0 = never.
	KeysExpire int64 `json:"keysExpire,omitempty"`
	// CreatedAt is unix ms.
	CreatedAt int64 `json:"createdAt"`
	// Transactions are the upgrades applied, oldest first.
	Transactions []Transaction `json:"transactions,omitempty"`
}

// Transaction is one applied POST /upgradeUser.
type Transaction struct {
	ID   string `json:"id"`
	Plan string `json:"plan"`
	// At is unix ms.
	At int64 `json:"at"`
}

// ParseMeta decodes an identity's meta as an account's. It fails when the
// meta is not an account's (no email or plan), so an identity made through
// /v2 is never taken for an account.
func ParseMeta(raw json.RawMessage) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return Meta{}, fmt.Errorf("account meta: %w", err)
	}
	if m.Email == "" || m.Plan == "" {
		return Meta{}, errors.New("account meta: not an account (no email or plan)")
	}
	return m, nil
}

// EmailUnverified reports whether meta is an account's whose email is not
// verified yet.
func EmailUnverified(meta json.RawMessage) bool {
	m, err := ParseMeta(meta)
	return err == nil && !m.EmailVerified
}

// NormalizeEmail returns the account id of an email: a plain address
// (ada@example.com, not "Ada <ada@example.com>"), trimmed and lower-cased.
func NormalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > maxEmailLength {
		return "", fmt.Errorf("%w: email must be a plain address such as ada@example.com", ErrInvalid)
	}
	return strings.ToLower(email), nil
}

// CleanName trims a person's name and checks it: at most 200 characters,
// no control characters.
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) > maxNameLength {
		return "", fmt.Errorf("%w: name must be at most %d characters", ErrInvalid, maxNameLength)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%w: name must not contain control characters", ErrInvalid)
	}
	return name, nil
}

// Account is an account as self-service shows it.
type Account struct {
	Meta
	// Credits is the shared balance (nil: unlimited) and Ratelimits the
	// shared limits, as keyservice has them now.
	Credits    *contracts.Credits
	Ratelimits []contracts.Ratelimit
}

// Get returns the account of owner (a normalized email).
func (s *Service) Get(ctx context.Context, owner string) (Account, error) {
	id, err := s.identity(ctx, owner)
	if err != nil {
		return Account{}, err
	}
	m, err := ParseMeta(id.Meta)
	if err != nil {
		return Account{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return Account{Meta: m, Credits: id.Credits, Ratelimits: id.Ratelimits}, nil
}

// Plan returns the plan of an account's meta, false when the meta is not
// an account's or names a plan the catalogue no longer has.
func (s *Service) Plan(meta json.RawMessage) (plans.Plan, bool) {
	m, err := ParseMeta(meta)
	if err != nil {
		return plans.Plan{}, false
	}
	return s.cfg.Plans.Get(m.Plan)
}

func (s *Service) identity(ctx context.Context, owner string) (contracts.Identity, error) {
	var id contracts.Identity
	err := s.cfg.Keys.Call(ctx, contracts.SubjectIdentitiesGet, contracts.IdentityRef{ExternalID: owner}, &id)
	if isCode(err, contracts.CodeNotFound) {
		return id, ErrNotFound
	}
	if err != nil {
		return id, fmt.Errorf("get identity: %w", err)
	}
	return id, nil
}

// grant is the credits an account on plan p gets: the plan's, or none
// while its email is unverified.
func grant(p plans.Plan, verified bool) *contracts.Credits {
	if !verified {
		return &contracts.Credits{Remaining: 0}
	}
	return p.KeyserviceCredits()
}

// keysExpire is when keys of an account put on p at now expire.
func keysExpire(p plans.Plan, now time.Time) int64 {
	if p.KeyLifetime == 0 {
		return 0
	}
	return now.Add(time.Duration(p.KeyLifetime)).UnixMilli()
}

func isCode(err error, code contracts.Code) bool {
	var ce *contracts.Error
	return errors.As(err, &ce) && ce.Code == code
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are passed
	}
	return b
}
