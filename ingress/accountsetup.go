package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/accounts"
	"github.com/ocrstack/ocrstack/ingress/internal/callback"
	"github.com/ocrstack/ocrstack/ingress/internal/config"
	"github.com/ocrstack/ocrstack/ingress/internal/httpapi"
	"github.com/ocrstack/ocrstack/ingress/internal/keysclient"
	"github.com/ocrstack/ocrstack/ingress/internal/mailer"
	"github.com/ocrstack/ocrstack/ingress/internal/notices"
	"github.com/ocrstack/ocrstack/ingress/internal/plans"
)

// accountParts are what accounts, plans and notices add to the API.
type accountParts struct {
	trial    httpapi.Plan
	accounts *accounts.Service
	usage    func(ctx context.Context, q contracts.UsageQuery) (contracts.UsageSummary, error)
	notifier *notices.Notifier
	webhook  *notices.Webhook
	mail     string // where verification mails go, for the start-up log
}

// setupAccounts loads the plans file and builds the account service, the
// low-credit notifier (publishing through noticeEvents) and, when
// configured, its webhook (not started).
func setupAccounts(cfg config.Config, nc *nats.Conn, js jetstream.JetStream, keys accounts.Keys, noticeEvents notices.Events, log *slog.Logger) (accountParts, error) {
	catalog, err := plans.Load(cfg.PlansFile)
	if err != nil {
		return accountParts{}, err
	}
	sp := catalog.Signup()
	p := accountParts{mail: "off"}
	p.trial = httpapi.Plan{Credits: sp.Credits, Lifetime: time.Duration(sp.KeyLifetime)}
	if len(sp.Ratelimits) > 0 {
		p.trial.RateLimit, p.trial.RateWindow = sp.Ratelimits[0].Limit, time.Duration(sp.Ratelimits[0].Duration)
	}
	acfg := accounts.Config{Keys: keys, Plans: catalog, APIID: cfg.APIID, Logger: log, VerifyEmail: cfg.EmailVerification, PublicURL: cfg.PublicURL}
	if cfg.EmailVerification {
		acfg.Secret = []byte(cfg.EmailSecret)
		if cfg.EmailSecret == "" {
			acfg.Secret = accounts.DeriveSecret(cfg.RootKey)
		}
		if cfg.SMTPAddr != "" {
			acfg.Mailer = &mailer.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPassword}
			p.mail = "smtp://" + cfg.SMTPAddr
		} else {
			acfg.Mailer = &mailer.Outbox{Dir: cfg.OutboxDir, From: cfg.SMTPFrom}
			p.mail = "outbox " + cfg.OutboxDir
		}
	}
	if p.accounts, err = accounts.New(acfg); err != nil {
		return accountParts{}, err
	}
	analytics := keysclient.New(nc, cfg.CallTimeout)
	p.usage = func(ctx context.Context, q contracts.UsageQuery) (contracts.UsageSummary, error) {
		var s contracts.UsageSummary
		err := analytics.Call(ctx, contracts.SubjectAnalyticsUsage, q, &s)
		return s, err
	}
	p.notifier = notices.New(notices.Config{Events: noticeEvents, Logger: log, Threshold: func(meta json.RawMessage) (int64, bool) {
		pl, ok := p.accounts.Plan(meta)
		return pl.LowCreditThreshold, ok && pl.LowCreditThreshold > 0
	}})
	if cfg.NoticeWebhookURL != "" {
		p.webhook, err = notices.NewWebhook(notices.WebhookConfig{
			JetStream: js, URL: cfg.NoticeWebhookURL, Secret: []byte(cfg.CallbackSecret),
			Client: callback.NewClient(cfg.CallbackAllowPrivate), Logger: log,
		})
		if err != nil {
			return accountParts{}, fmt.Errorf("notice webhook: %w", err)
		}
	}
	return p, nil
}
