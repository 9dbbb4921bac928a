-- Notification preferences (issue 11 §5, D10; crates/identity owns this table's SQL):
-- which events mail the user. One row per user who changed a setting; no row means
-- the defaults (ticket replies, purchase and dispute updates on; private messages
-- off, since they come in real time and at up to ten a minute).
-- Keep in step with ../sqlite/0015_notification_prefs.sql (the parity test).
CREATE TABLE notification_prefs (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message BOOLEAN NOT NULL DEFAULT FALSE,
    ticket_reply BOOLEAN NOT NULL DEFAULT TRUE,
    purchase BOOLEAN NOT NULL DEFAULT TRUE,
    dispute BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at BIGINT NOT NULL
);

-- F4: row-level security. The grants to rampart_app come from the default
-- privileges of 0009. A transaction acting for a user (app.user_id set) reads and
-- writes only that user's row; work without a user (the mail of another user's
-- event, staff tools) runs with the setting empty, which admits every row, as in
-- 0006, 0012 and 0013.
ALTER TABLE notification_prefs ENABLE ROW LEVEL SECURITY;
CREATE POLICY notification_prefs_user ON notification_prefs
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));

-- The staff pages list the audit rows about one user or store (rampart_audit::about).
CREATE INDEX audit_log_target ON audit_log(target_type, target_id, seq);
-- The staff page of a store lists its latest disputes.
CREATE INDEX disputes_store ON disputes(store_id, created_at, id);
