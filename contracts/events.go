package contracts

// VerificationEvent records one key verification, published by keyservice to
// SubjectEventsVerification. It never carries the key itself.
type VerificationEvent struct {
	EventID string `json:"eventId"`
	// Time is unix milliseconds.
	Time      int64      `json:"time"`
	RequestID string     `json:"requestId,omitempty"`
	KeyID     string     `json:"keyId,omitempty"`
	APIID     string     `json:"apiId,omitempty"`
	OwnerID   string     `json:"ownerId,omitempty"`
	Outcome   VerifyCode `json:"outcome"`
	// Cost is the credits this verification asked to spend.
	Cost int64 `json:"cost"`
	// CreditsRemaining is left after the verification; -1 = unlimited.
	CreditsRemaining int64 `json:"creditsRemaining"`
	// LatencyUs is the time keyservice spent deciding, in microseconds.
	LatencyUs int64    `json:"latencyUs"`
	Tags      []string `json:"tags,omitempty"`
}

// UsageEvent records one finished OCR job, published by the worker to
// SubjectEventsUsage before the job is acknowledged.
type UsageEvent struct {
	EventID   string    `json:"eventId"`
	Time      int64     `json:"time"`
	RequestID string    `json:"requestId,omitempty"`
	JobID     string    `json:"jobId"`
	Producer  string    `json:"producer"`
	KeyID     string    `json:"keyId,omitempty"`
	OwnerID   string    `json:"ownerId,omitempty"`
	Outcome   JobStatus `json:"outcome"`
	// ErrorCode is set when Outcome is failed.
	ErrorCode     Code     `json:"errorCode,omitempty"`
	Pages         int64    `json:"pages"`
	Bytes         int64    `json:"bytes"`
	RecognitionMs int64    `json:"recognitionMs"`
	Characters    int64    `json:"characters"`
	Languages     []string `json:"languages,omitempty"`
}

// NoticeKind names what a NoticeEvent is about.
type NoticeKind string

// NoticeLowCredits: a verification left a key's credits at or under its
// account's threshold, from above it. Once per crossing: the event id is
// derived from the key and the crossing, so a retried publish is stored once.
const NoticeLowCredits NoticeKind = "low_credits"

// NoticeEvent is published to SubjectEventsNotice, stored by analytics and,
// when a webhook is configured, delivered to it. It never carries the key.
type NoticeEvent struct {
	EventID string     `json:"eventId"`
	Time    int64      `json:"time"`
	Kind    NoticeKind `json:"kind"`
	KeyID   string     `json:"keyId"`
	APIID   string     `json:"apiId,omitempty"`
	OwnerID string     `json:"ownerId,omitempty"`
	// CreditsRemaining is what the key has left; Threshold the level it
	// crossed.
	CreditsRemaining int64 `json:"creditsRemaining"`
	Threshold        int64 `json:"threshold"`
}
