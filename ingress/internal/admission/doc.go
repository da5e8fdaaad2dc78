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
// Request bodies are streamed (package httpapi): fasthttp reads at most
// 8 KiB of a body before the handlers run, and an OCR route reads the rest
// only once Admit let it in. A multipart image is read part by part and
// streamed to the Object Store in 128 KiB chunks as it arrives; only an
// image of at most contracts.InlineImageMax (512 KiB), which rides inside
// the job message, is held whole. A refused request (503 OVERLOADED, 401,
// 413, ...) has the rest of its body read and dropped through a small
// buffer, so that the client, still sending, reads the answer instead of
// a reset. Measured with e2e/cmd/ingressload, clients sending 20 MB
// uploads to /upload back to back (the ingress, NATS, keyservice and a
// worker sharing 2 vCPUs):
//
//	connections served  clients  peak RSS before  peak RSS streamed
//	32 (LimitListener)  64       1.8 GiB          35-43 MiB
//	32                  32       1.6-1.9 GiB      34 MiB
//	128                 256      -                38 MiB
//	256 (the default)   256      -                44-52 MiB
//	no limit            256      3.6 GiB at 64    44 MiB
//
// Most of those uploads are refused 503 OVERLOADED (the worker takes
// 16-22 in a run) and only drained. With an invalid key every admitted
// upload is streamed to the store, then refused 401 and deleted: 1.9 GiB
// before, 39 MiB streamed (32 connections, 64 clients). Memory no longer
// grows with the connections served: it is about MaxInFlight × (the
// 512 KiB first buffer, a 128 KiB chunk and the NATS client's buffers)
// for multipart uploads. The price is the store's bandwidth: the key is
// verified after the image is stored (a malformed request is never
// charged), so that run answered 27-37 uploads 401 in 20 s, against 271
// before, when a body was read into memory.
//
// Base64 JSON images (/uploadBase64, JSON POST /v1/ocr and /v1/jobs) are
// streamed as well, decoded as they arrive (httpapi's readJSON): a flood of
// 20 MB images in base64 peaked at 35 MiB with MaxInFlight 16 and 32
// clients, 53 MiB with 256 (1.1-1.3 GiB when they were read whole).
//
// One kind of body is still read whole, at most the body limit
// (MaxImageBytes × 4/3 + 1 MiB): the small JSON bodies of the other
// routes, before their handlers; a body over 64 KiB there waits for one of
// 4 slots, so a flood of 20 MB bodies to /signup peaked at 260-270 MiB at
// 32 and at 256 connections (1.8 GiB before, at 32).
//
// # Why a connection limit still
//
// LimitListener(ln, n) (this package) stops accepting at n open
// connections; further clients wait in the kernel's accept queue. Before
// bodies were streamed it was what bounded memory (n = 8: 430-590 MiB; a
// Gate alone changed nothing, as every body was read before any handler).
// Now it bounds sockets and goroutines. An idle keep-alive connection
// keeps its slot, and clients that reuse their connections starve the
// others: with n = 8, 25 of 32 clients got no answer in 50 s; with
// keep-alive off (fiber.Config DisableKeepalive) slots go round in accept
// order and every client was answered. fiber.Config.Concurrency = n is no
// substitute: fasthttp refuses each connection past n by writing a
// plain-text 503 (not the API's error body, no Retry-After) and closing it
// without reading the request, so clients mostly saw a reset or broken
// pipe in the middle of their upload, and retried in a tight loop.
//
// So: Admit first thing in each OCR handler, so that a refused request
// does not read its image, verify its key or queue a job; LimitListener
// with MaxConns well above MaxInFlight (default 256), keep-alive off.
package admission
