-- One row per key verification (contracts.VerificationEvent) and per
-- finished OCR job (contracts.UsageEvent).
--
-- Delivery is at least once, so the same event may be inserted more than
-- once. ReplacingMergeTree collapses rows with an equal sorting key, and every
-- sorting key ends in event_id while its other columns come from the event
-- itself, so copies of one event always share partition and key: merges keep
-- one, and queries that must be exact read with FINAL.
--
-- The statements must load on ClickHouse 18.16 and on current releases, and
-- each must be safe to run twice: ClickHouse has no transactional DDL, so a
-- migration interrupted half way is run again from its first statement.

CREATE TABLE IF NOT EXISTS verifications (
    event_id          String,
    time              DateTime,
    request_id        String,
    key_id            String,
    api_id            String,
    owner_id          String,
    outcome           String,
    cost              Int64,
    credits_remaining Int64,
    latency_us        Int64,
    tags              Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (key_id, time, event_id);

CREATE TABLE IF NOT EXISTS usage (
    event_id       String,
    time           DateTime,
    request_id     String,
    job_id         String,
    producer       String,
    key_id         String,
    owner_id       String,
    outcome        String,
    error_code     String,
    pages          Int64,
    bytes          Int64,
    recognition_ms Int64,
    characters     Int64,
    languages      Array(String)
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (producer, key_id, time, event_id);
