-- Rollups of the raw tables, per minute, hour, day and month (UTC).
--
-- Exactness: they are NOT filled by materialized views, which would count
-- every copy of an event inserted twice. The analytics service recomputes a
-- bucket from the level below it (minutes from the raw tables read with
-- FINAL, hours from minutes, days from hours, months from days) each time a
-- batch touches it, and inserts the whole bucket again. The tables are
-- ReplacingMergeTree whose version is the row's own event count
-- (verifications, jobs): the set of events of a bucket only grows, so a
-- recompute that saw more events always wins, and a stale recompute (a
-- second replica, a retry) can never replace a more complete one. Read them
-- with FINAL. See internal/rollup.
--
-- Quantiles are quantilesState(0.5, 0.95, 0.99) states, so that coarser
-- levels and queries merge them (quantilesMerge); they are estimates, exact
-- while a bucket holds at most 8192 values. Counts and sums are exact.
--
-- usage has no api_id (contracts.UsageEvent does not carry it); its rollups
-- are by key, owner, producer, outcome and error code.

CREATE TABLE IF NOT EXISTS verifications_per_minute (
    bucket        DateTime('UTC'),
    api_id        String,
    key_id        String,
    owner_id      String,
    outcome       String,
    verifications UInt64,
    credits_spent Int64,
    latency_us    AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(verifications)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, api_id, key_id, owner_id, outcome);

CREATE TABLE IF NOT EXISTS verifications_per_hour (
    bucket        DateTime('UTC'),
    api_id        String,
    key_id        String,
    owner_id      String,
    outcome       String,
    verifications UInt64,
    credits_spent Int64,
    latency_us    AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(verifications)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, api_id, key_id, owner_id, outcome);

CREATE TABLE IF NOT EXISTS verifications_per_day (
    bucket        DateTime('UTC'),
    api_id        String,
    key_id        String,
    owner_id      String,
    outcome       String,
    verifications UInt64,
    credits_spent Int64,
    latency_us    AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(verifications)
PARTITION BY toYear(bucket)
ORDER BY (bucket, api_id, key_id, owner_id, outcome);

CREATE TABLE IF NOT EXISTS verifications_per_month (
    bucket        DateTime('UTC'),
    api_id        String,
    key_id        String,
    owner_id      String,
    outcome       String,
    verifications UInt64,
    credits_spent Int64,
    latency_us    AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(verifications)
PARTITION BY toYear(bucket)
ORDER BY (bucket, api_id, key_id, owner_id, outcome);

CREATE TABLE IF NOT EXISTS usage_per_minute (
    bucket         DateTime('UTC'),
    key_id         String,
    owner_id       String,
    producer       String,
    outcome        String,
    error_code     String,
    jobs           UInt64,
    pages          Int64,
    bytes          Int64,
    characters     Int64,
    recognition_ms AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(jobs)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, key_id, owner_id, producer, outcome, error_code);

CREATE TABLE IF NOT EXISTS usage_per_hour (
    bucket         DateTime('UTC'),
    key_id         String,
    owner_id       String,
    producer       String,
    outcome        String,
    error_code     String,
    jobs           UInt64,
    pages          Int64,
    bytes          Int64,
    characters     Int64,
    recognition_ms AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(jobs)
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, key_id, owner_id, producer, outcome, error_code);

CREATE TABLE IF NOT EXISTS usage_per_day (
    bucket         DateTime('UTC'),
    key_id         String,
    owner_id       String,
    producer       String,
    outcome        String,
    error_code     String,
    jobs           UInt64,
    pages          Int64,
    bytes          Int64,
    characters     Int64,
    recognition_ms AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(jobs)
PARTITION BY toYear(bucket)
ORDER BY (bucket, key_id, owner_id, producer, outcome, error_code);

CREATE TABLE IF NOT EXISTS usage_per_month (
    bucket         DateTime('UTC'),
    key_id         String,
    owner_id       String,
    producer       String,
    outcome        String,
    error_code     String,
    jobs           UInt64,
    pages          Int64,
    bytes          Int64,
    characters     Int64,
    recognition_ms AggregateFunction(quantiles(0.5, 0.95, 0.99), Int64)
) ENGINE = ReplacingMergeTree(jobs)
PARTITION BY toYear(bucket)
ORDER BY (bucket, key_id, owner_id, producer, outcome, error_code);
