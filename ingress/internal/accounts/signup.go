package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/mailer"
)

// SignedUp is the outcome of SignUp.
type SignedUp struct {
	Key contracts.CreateKeyResponse
	// Owner is the normalized email.
	Owner string
	// VerificationSent is true when a verification link was mailed.
	VerificationSent bool
}

// SignUp creates the account of email on the signup plan and its first
// key. A second account for the same email is ErrExists. With email
// verification on, it mails the link; when that fails nothing is kept
// (ErrMail), so the client may retry.
func (s *Service) SignUp(ctx context.Context, email, name string) (SignedUp, error) {
	owner, err := NormalizeEmail(email)
	if err != nil {
		return SignedUp{}, err
	}
	if name, err = CleanName(name); err != nil {
		return SignedUp{}, err
	}
	p := s.cfg.Plans.Signup()
	now := s.cfg.Now()
	m := Meta{Email: owner, Name: name, Plan: p.ID, EmailVerified: !s.cfg.VerifyEmail, KeysExpire: keysExpire(p, now), CreatedAt: now.UnixMilli()}
	var ref contracts.IdentityRef
	err = s.cfg.Keys.Call(ctx, contracts.SubjectIdentitiesCreate, contracts.CreateIdentityRequest{
		ExternalID: owner, Meta: mustJSON(m), Ratelimits: p.KeyserviceRatelimits(), Credits: grant(p, m.EmailVerified),
	}, &ref)
	if isCode(err, contracts.CodeConflict) {
		s.resend(ctx, owner)
		return SignedUp{}, ErrExists
	}
	if err != nil {
		return SignedUp{}, fmt.Errorf("create identity: %w", err)
	}
	key, err := s.newKey(ctx, m, "default")
	if err != nil {
		return SignedUp{}, errors.Join(err, s.undo(owner, ""))
	}
	out := SignedUp{Key: key, Owner: owner}
	if s.cfg.VerifyEmail {
		if err := s.sendVerification(ctx, m); err != nil {
			s.cfg.Logger.Error("send verification mail", "owner_id", owner, "err", err)
			return SignedUp{}, errors.Join(fmt.Errorf("%w: %w", ErrMail, err), s.undo(owner, key.KeyID))
		}
		out.VerificationSent = true
	}
	return out, nil
}

// newKey creates a key of the account: linked to it by externalId, with
// the tutorial's prefix, length and meta, expiring with the account's keys.
func (s *Service) newKey(ctx context.Context, m Meta, name string) (contracts.CreateKeyResponse, error) {
	var created contracts.CreateKeyResponse
	err := s.cfg.Keys.Call(ctx, contracts.SubjectKeysCreate, contracts.CreateKeyRequest{
		APIID: s.cfg.APIID, Prefix: keyPrefix, ByteLength: 16, Name: name, ExternalID: m.Email,
		Meta: mustJSON(map[string]string{"name": m.Name, "email": m.Email}), Expires: m.KeysExpire,
	}, &created)
	if err != nil {
		return created, fmt.Errorf("create key: %w", err)
	}
	return created, nil
}

// undo removes what a failed sign-up created, with a context of its own
// (the request's may be what ran out).
func (s *Service) undo(owner, keyID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), contractsCallBudget)
	defer cancel()
	var errs []error
	if keyID != "" {
		errs = append(errs, s.cfg.Keys.Call(ctx, contracts.SubjectKeysDelete, contracts.DeleteKeyRequest{KeyID: keyID}, &contracts.Empty{}))
	}
	errs = append(errs, s.cfg.Keys.Call(ctx, contracts.SubjectIdentitiesDelete, contracts.IdentityRef{ExternalID: owner}, &contracts.Empty{}))
	if err := errors.Join(errs...); err != nil {
		s.cfg.Logger.Error("undo sign-up", "owner_id", owner, "key_id", keyID, "err", err)
		return fmt.Errorf("undo sign-up: %w", err)
	}
	return nil
}

// resend mails a new verification link to an account that exists but is
// not verified yet (its first link may have expired or been lost); a
// failure is only logged: the answer is ErrExists either way.
func (s *Service) resend(ctx context.Context, owner string) {
	if !s.cfg.VerifyEmail {
		return
	}
	acct, err := s.Get(ctx, owner)
	if err != nil || acct.EmailVerified {
		return
	}
	if err := s.sendVerification(ctx, acct.Meta); err != nil {
		s.cfg.Logger.Error("resend verification mail", "owner_id", owner, "err", err)
	}
}

// sendVerification mails the account's verification link.
func (s *Service) sendVerification(ctx context.Context, m Meta) error {
	token := signToken(s.cfg.Secret, m.Email, s.cfg.Now().Add(s.cfg.TokenTTL))
	link := s.cfg.PublicURL + "/verify-email?token=" + url.QueryEscape(token)
	greeting := "Hello,"
	if m.Name != "" {
		greeting = "Hello " + m.Name + ","
	}
	return s.cfg.Mailer.Send(ctx, mailer.Message{
		To: m.Email, Subject: "Verify your email for the OCR API",
		Text: greeting + "\n\nFollow this link to verify your email and activate your API key:\n\n" + link +
			"\n\nThe link is valid for " + s.cfg.TokenTTL.String() + ". If you did not sign up, ignore this mail.\n",
	})
}

// VerifyEmail marks the account a verification token names as verified
// and grants its plan's credits; following the link again changes
// nothing. It returns the account's email.
func (s *Service) VerifyEmail(ctx context.Context, token string) (string, error) {
	owner, err := parseToken(s.cfg.Secret, token, s.cfg.Now())
	if err != nil {
		return "", err
	}
	acct, err := s.Get(ctx, owner)
	if err != nil {
		return "", err
	}
	if acct.EmailVerified {
		return owner, nil
	}
	acct.EmailVerified = true
	p, ok := s.cfg.Plans.Get(acct.Plan)
	if !ok {
		return "", fmt.Errorf("account %s is on plan %q, which the plans file lacks", owner, acct.Plan)
	}
	err = s.cfg.Keys.Call(ctx, contracts.SubjectIdentitiesUpdate, contracts.UpdateIdentityRequest{
		ExternalID: owner, Meta: mustJSON(acct.Meta), Credits: mustJSON(grant(p, true)),
	}, &contracts.Identity{})
	if err != nil {
		return "", fmt.Errorf("update identity: %w", err)
	}
	s.cfg.Logger.Info("email verified", "owner_id", owner)
	return owner, nil
}
