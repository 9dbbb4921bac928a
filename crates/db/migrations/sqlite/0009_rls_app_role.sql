-- F4 on SQLite: nothing to do. SQLite has no roles and no row-level security; the
-- PostgreSQL twin of this file creates the `rampart_app` role, its grants and the
-- RLS policies. On SQLite every store- and user-scoped query carries its own filter
-- in code (docs/design/row-level-security.md). No tables or columns change, so the
-- schema-parity test still holds.
SELECT 1;
