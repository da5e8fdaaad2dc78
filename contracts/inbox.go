package contracts

// Reply inboxes. Each service connects with nats.CustomInboxPrefix set to
// its own prefix, so the replies it is sent (request/reply, every
// JetStream API answer, the messages of its pull and ordered consumers)
// arrive on subjects only its NATS user may subscribe to: nats.conf gives
// user <u> `_INBOX_<u>.>`, not the shared default `_INBOX.>`, so no
// service can read another's answers (keyservice's key-bucket reads
// among them). The prefix is the service's user name in nats.conf.
const (
	KeyServiceInboxPrefix = "_INBOX_keyservice"
	WorkerInboxPrefix     = "_INBOX_ocr-worker"
	AnalyticsInboxPrefix  = "_INBOX_analytics"
	IngressInboxPrefix    = "_INBOX_ingress"
	// ProducerInboxPrefix is for an internal job producer connecting as
	// nats.conf's producer user (e2e/cmd/ocrsubmit).
	ProducerInboxPrefix = "_INBOX_producer"
)
