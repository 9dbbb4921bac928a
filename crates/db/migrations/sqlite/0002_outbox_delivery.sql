-- Outbox delivery (crates/mail owns this table's SQL): queue state, retries with
-- backoff, and a lease so a claimed row whose worker died can be claimed again.
-- status: queued -> sending -> sent | queued (retry) | failed (refused) | dead (gave up)
ALTER TABLE outbox ADD COLUMN status TEXT NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dead'));
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN locked_until BIGINT;
ALTER TABLE outbox ADD COLUMN claim_token TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;

UPDATE outbox SET next_attempt_at = created_at;

CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
