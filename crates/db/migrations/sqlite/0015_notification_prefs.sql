-- Notification preferences (issue 11 §5, D10; crates/identity owns this table's SQL):
-- which events mail the user. One row per user who changed a setting; no row means
-- the defaults (ticket replies, purchase and dispute updates on; private messages
-- off, since they come in real time and at up to ten a minute).
-- Keep in step with ../postgres/0015_notification_prefs.sql (the parity test).
CREATE TABLE notification_prefs (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message BOOLEAN NOT NULL DEFAULT FALSE,
    ticket_reply BOOLEAN NOT NULL DEFAULT TRUE,
    purchase BOOLEAN NOT NULL DEFAULT TRUE,
    dispute BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at BIGINT NOT NULL
);

-- The staff pages list the audit rows about one user or store (rampart_audit::about).
CREATE INDEX audit_log_target ON audit_log(target_type, target_id, seq);
-- The staff page of a store lists its latest disputes.
CREATE INDEX disputes_store ON disputes(store_id, created_at, id);
