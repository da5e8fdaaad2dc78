// Package contracts holds everything that crosses a process boundary in the
// OCR platform: NATS subjects, stream, bucket and service names, header names,
// request/reply and event types, and wire error codes.
//
// It imports only the standard library and holds no logic. A wire type only
// ever grows: a breaking change is a new .v2 type and subject served beside
// the old one. Every type here has a golden JSON file under testdata/, so a
// renamed field fails a test.
package contracts
