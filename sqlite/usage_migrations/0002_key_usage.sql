-- The usage file, version 2: each key's last use (Unix ms) and count of
-- successful verifications, written behind every few seconds (they were
-- columns of keys in keyward.db until its version 6, which moved them
-- here). account_id is the key's, copied when the row is made, so the
-- rows of a deleted account's keys can go with it.
CREATE TABLE key_usage (
	key_id        TEXT PRIMARY KEY,
	account_id    TEXT,
	last_used_at  INTEGER,
	verifications INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX key_usage_account ON key_usage (account_id);
