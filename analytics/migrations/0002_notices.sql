-- One row per notice (contracts.NoticeEvent): a key's credits crossed its
-- account's low-credit threshold. Stored like the events of 0001: copies of
-- one event share their whole sorting key, which ends in event_id, so
-- ReplacingMergeTree keeps one and exact queries read with FINAL.

CREATE TABLE IF NOT EXISTS notices (
    event_id          String,
    time              DateTime,
    kind              String,
    key_id            String,
    api_id            String,
    owner_id          String,
    credits_remaining Int64,
    threshold         Int64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (owner_id, key_id, time, event_id);
