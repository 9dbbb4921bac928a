-- The audit chain is keyed (HMAC-SHA256 under RAMPART_AUDIT_KEY): each row names the
-- key that hashed it. Rows written before this migration keep hash_kid NULL and the
-- plain SHA-256 form; legacy_until records how many such rows there were, so a
-- keyed row rewritten later in the unkeyed form is reported (docs/design/audit-chain.md).
ALTER TABLE audit_log ADD COLUMN hash_kid TEXT;
ALTER TABLE audit_chain ADD COLUMN legacy_until BIGINT NOT NULL DEFAULT 0;
UPDATE audit_chain SET legacy_until = last_seq WHERE id = 1;
