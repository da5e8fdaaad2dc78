// Package e2e tests the whole pipeline as it runs in production: the four
// service binaries, built from this workspace, as separate processes talking
// to a real NATS JetStream server (embedded in the test) and a real
// ClickHouse (OCR_TEST_CLICKHOUSE_ADDR, started by `make test`), with real
// Tesseract, driven over HTTP.
package e2e
