-- Version 10: indexes for the key list's filters (GET /v1/keys and the
-- dashboard's key list with status, permission_mode, owner or project):
-- each serves its filter (an owner by type or by id) in the
-- list's order (id) within an account and
-- kind, so a page is read from the index in order and stops at its limit.
-- Without them a filter that few keys match walked every key of the
-- account in id order (0.8–1.2 s a page on 1M keys, docs/performance.md).
CREATE INDEX IF NOT EXISTS keys_status_list ON keys (account_id, kind, status, id);
CREATE INDEX IF NOT EXISTS keys_mode_list ON keys (account_id, kind, permission_mode, id);
CREATE INDEX IF NOT EXISTS keys_owner_type_list ON keys (account_id, kind, owner_type, id);
CREATE INDEX IF NOT EXISTS keys_owner_id_list ON keys (account_id, kind, owner_id, id);
CREATE INDEX IF NOT EXISTS keys_project_list ON keys (account_id, kind, project_id, id);
