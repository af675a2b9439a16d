-- Version 8: an index of keys by expiry, for lists of the keys that
-- expire within a window (GET /v1/keys?expires_after=…&expires_before=…,
-- the dashboard's "expires within" and its overview's expiring keys):
-- the window is read from the index instead of walking every key of the
-- account. Keys that never expire are not in it.
CREATE INDEX keys_expires ON keys (account_id, kind, expires_at) WHERE expires_at IS NOT NULL;
