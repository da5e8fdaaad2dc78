// Package ops is the operations face every service of the platform shares:
// a small HTTP server, separate from any public API, serving
//
//	/metrics  Prometheus exposition of the service's private registry
//	/livez    200 while the process serves (a liveness probe)
//	/readyz   200 when every dependency the service names is usable, else 503
//
// plus the `<binary> healthcheck` subcommand (RunHealthcheck), which GETs
// the service's own /livez: distroless images have no shell or curl for a
// Docker HEALTHCHECK, so the binary is its own probe.
//
// Design choices:
//
//   - Each service builds its metrics on a registry of its own (NewRegistry),
//     never prometheus.DefaultRegisterer: tests start several services, or
//     one many times, in one process, and a global registry would make the
//     second registration panic and mix their series.
//   - The server listens on its own address (OCR_OPS_ADDR, one default port
//     per service, "off" to disable), so metrics and probes are never
//     exposed on the public port by accident and a scrape never competes
//     with the API's connection limit.
//   - Readiness is a function the service supplies that returns one error per
//     dependency by name; /readyz reports each, so an operator sees which
//     dependency is down, not only that one is.
//   - NATS settings every service shares (nats.go): OCR_NATS_REPLICAS is
//     parsed once here (ParseReplicas), and RedactURL hides the password
//     of a NATS URL in every error and log line that shows one. The root
//     package ops does not import nats.go; each service applies the
//     replicas itself.
//   - Events without loss (package ops/emit): an Emitter keeps each event
//     published to JetStream until the stream acknowledges it, retrying
//     with the same Nats-Msg-Id across NATS restarts. keyservice's
//     verification events and the ingress's low-credit notices need the
//     same guarantee, so it lives here rather than in either.
//   - Stream and bucket set-up (package ops/jsetup): every service creates
//     some of the same streams; jsetup.Floor makes OCR_NATS_REPLICAS a
//     floor and jsetup.Retry repeats a create whose reply nats-server lost.
//     ops/emit and ops/jsetup are the packages of ops that import nats.go.
//   - Traces: W3C trace context (the traceparent header) is parsed, created
//     and carried through NATS headers (trace.go) so that every service can
//     log the trace_id of the request it works on. Spans are not recorded
//     and nothing is exported: an OpenTelemetry exporter is out of scope,
//     and the header is what one would need to join later.
package ops
