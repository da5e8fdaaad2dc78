package contracts

// Analytics queries, NATS request/reply served by the analytics service in
// queue group AnalyticsQueue. Each subject takes the request type named in
// its comment and answers with its response type, or with a micro error
// reply whose Nats-Service-Error-Code is a Code and whose body is an Error.
// Every figure is exact: rows written twice by a redelivery count once.
const (
	// SubjectAnalyticsUsage takes UsageQuery and answers UsageSummary.
	SubjectAnalyticsUsage = "analytics.v1.usage"
	// SubjectAnalyticsVerifications takes VerificationsQuery and answers
	// VerificationsResponse.
	SubjectAnalyticsVerifications = "analytics.v1.verifications"

	AnalyticsQueue = "analytics"

	// MaxAnalyticsRange bounds End-Start of a query, in milliseconds (400 days).
	MaxAnalyticsRange = 400 * 24 * 3600 * 1000
	// MaxAnalyticsBuckets bounds the buckets one VerificationsQuery returns.
	MaxAnalyticsBuckets = 1000
)

// UsageQuery asks for what one owner, or a set of keys, used in [Start, End)
// (unix milliseconds). At least one of OwnerID and KeyIDs is set; when both
// are, a row counts if it matches either.
type UsageQuery struct {
	OwnerID string   `json:"ownerId,omitempty"`
	KeyIDs  []string `json:"keyIds,omitempty"`
	Start   int64    `json:"start"`
	End     int64    `json:"end"`
}

// UsageSummary answers a UsageQuery.
type UsageSummary struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Verifications counts every verification, whatever its outcome; the
	// next three count those with outcome VALID, RATE_LIMITED and
	// USAGE_EXCEEDED.
	Verifications int64 `json:"verifications"`
	Valid         int64 `json:"valid"`
	RateLimited   int64 `json:"rateLimited"`
	UsageExceeded int64 `json:"usageExceeded"`
	// CreditsSpent sums the cost of VALID verifications.
	CreditsSpent int64 `json:"creditsSpent"`
	// Jobs counts finished OCR jobs (usage events); JobsFailed those whose
	// outcome is failed. Pages, Characters and Bytes sum over succeeded jobs.
	Jobs       int64 `json:"jobs"`
	JobsFailed int64 `json:"jobsFailed"`
	Pages      int64 `json:"pages"`
	Characters int64 `json:"characters"`
	Bytes      int64 `json:"bytes"`
}

// GroupBy values of a VerificationsQuery.
const (
	GroupByHour    = "hour"
	GroupByDay     = "day"
	GroupByMonth   = "month"
	GroupByKey     = "key"
	GroupByOwner   = "owner"
	GroupByOutcome = "outcome"
)

// VerificationsQuery asks for verification counts in [Start, End) (unix
// milliseconds, UTC), grouped by GroupBy, optionally only those of one key
// space, key or owner, as Unkey v1's analytics.getVerifications does.
type VerificationsQuery struct {
	Start   int64  `json:"start"`
	End     int64  `json:"end"`
	GroupBy string `json:"groupBy"`
	APIID   string `json:"apiId,omitempty"`
	KeyID   string `json:"keyId,omitempty"`
	OwnerID string `json:"ownerId,omitempty"`
	// Limit bounds the buckets returned (default and maximum
	// MaxAnalyticsBuckets); key and owner groupings return the largest
	// totals first, time groupings the earliest first.
	Limit int `json:"limit,omitempty"`
}

// VerificationsResponse answers a VerificationsQuery.
type VerificationsResponse struct {
	Buckets []VerificationBucket `json:"buckets"`
}

// VerificationBucket counts the verifications of one group, by outcome.
// Time is set (bucket start, unix ms) for time groupings, KeyID for key,
// OwnerID for owner, Outcome for outcome.
type VerificationBucket struct {
	Time                    int64  `json:"time,omitempty"`
	KeyID                   string `json:"keyId,omitempty"`
	OwnerID                 string `json:"ownerId,omitempty"`
	Outcome                 string `json:"outcome,omitempty"`
	Total                   int64  `json:"total"`
	Valid                   int64  `json:"valid"`
	NotFound                int64  `json:"notFound"`
	Forbidden               int64  `json:"forbidden"`
	InsufficientPermissions int64  `json:"insufficientPermissions"`
	UsageExceeded           int64  `json:"usageExceeded"`
	RateLimited             int64  `json:"rateLimited"`
	Disabled                int64  `json:"disabled"`
	Expired                 int64  `json:"expired"`
	// CreditsSpent sums the cost of the bucket's VALID verifications.
	CreditsSpent int64 `json:"creditsSpent"`
}
