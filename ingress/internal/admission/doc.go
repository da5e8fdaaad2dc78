// Package admission keeps the ingress's work and memory bounded when more
// OCR requests arrive than the workers can take: past a limit a request is
// refused at once (503 OVERLOADED with Retry-After) instead of piling up.
//
// A Gate decides per OCR request, one Admit call each:
//
//   - in flight: at most Config.MaxInFlight requests of this ingress hold a
//     slot (their image, their wait for a result); the next one is refused
//     at once, never queued;
//   - queue depth: when the jobs stream (OCR_JOBS, shared by every ingress
//     and internal producer) holds more than Config.MaxQueued messages,
//     new requests are refused. The depth is the stream's State.Msgs,
//     which counts jobs waiting and jobs a worker holds unacknowledged. It
//     is read with one stream info call at most every RefreshEvery (250 ms),
//     in the background, shared by all requests; a failed or stale read is
//     never a reason to refuse;
//   - Retry-After: the seconds the queued jobs take to drain at the recent
//     completion rate (the messages the stream stopped holding per second,
//     averaged over about 5 s), clamped to 1..30; 30 when jobs are queued
//     and none completes, 1 when the depth is unknown.
//
// # What bounds memory
//
// fasthttp, under fiber, reads a request's whole body before any
// middleware or handler runs: a multipart form is parsed as it is read
// (a file part's first 16 MiB kept in memory, the rest spilled to a
// temporary file), any other body is buffered up to BodyLimit. So a Gate in
// a handler cannot stop bodies from being read: under a flood of uploads
// memory grows with the number of connections being served, and fasthttp's
// default Concurrency is 262144. Measured with e2e/cmd/ingressload, clients
// sending 20 MB uploads back to back: with no limit the ingress peaked at
// 1.6-1.7 GiB RSS with 32 clients and 3.6 GiB with 64; a Gate of 8 in the
// handler alone changed nothing (1.7 GiB at 32: every body is still read).
// That is 50-60 MB per connection served.
//
// What bounds it is the number of connections served at once:
//
//   - LimitListener(ln, n) (this package) stops accepting at n open
//     connections; further clients wait in the kernel's accept queue.
//     n = 8: 430-590 MiB; n = 16 with a Gate of 8: 940-980 MiB with 32 and
//     with 64 clients; n = 32 with a Gate of 16: 1.6 GiB with 32 and with
//     64 clients. But an idle keep-alive connection keeps its slot, and
//     clients that reuse their connections starve the others: with n = 8,
//     25 of 32 clients got no answer in 50 s. With keep-alive off
//     (fiber.Config DisableKeepalive) slots go round in accept order:
//     every client was answered and none timed out.
//   - fiber.Config.Concurrency = n bounds the same (440-480 MiB at 8), but
//     fasthttp refuses each connection past n by writing a plain-text 503
//     (not the API's error body, no Retry-After) and closing it without
//     reading the request: clients mostly saw a reset or broken pipe in
//     the middle of their upload, and retried in a tight loop.
//
// So: LimitListener with MaxConns above MaxInFlight, keep-alive off, and
// Admit first thing in each OCR handler, so that a refused request does not
// copy its image, verify its key or queue a job. Memory is then about
// MaxConns × 3 × the largest body at worst.
package admission
