-- The usage file, version 3: buckets ordered by time, and hours and days
-- rolled up once a minute.
--
-- The primary key starts with the bucket, so the rows one write-behind
-- adds (every active key's current minute) sit together at the end of the
-- table instead of one page per key; reading one key's series goes
-- through usage_buckets_key.
--
-- The write-behind adds minute rows only. Hour and day rows get the
-- minutes before usage_rollup.upto (Unix ms, a minute's start): the first
-- write of a new minute folds the minutes that closed into them, in the
-- same transaction, and a late count for a minute already folded goes to
-- all three at once. Reading hours or days adds the minutes not yet
-- folded. Every minute row written so far was already added to its hour
-- and day: upto starts after the last one.
CREATE TABLE usage_buckets_v3 (
	granularity TEXT NOT NULL,
	bucket      INTEGER NOT NULL,
	key_id      TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	account_id  TEXT NOT NULL,
	owner_type  TEXT NOT NULL,
	owner_id    TEXT NOT NULL,
	project_id  TEXT NOT NULL,
	count       INTEGER NOT NULL,
	PRIMARY KEY (granularity, bucket, key_id, outcome)
) WITHOUT ROWID;
INSERT INTO usage_buckets_v3 SELECT granularity, bucket, key_id, outcome, account_id, owner_type, owner_id, project_id, count FROM usage_buckets;
DROP TABLE usage_buckets;
ALTER TABLE usage_buckets_v3 RENAME TO usage_buckets;
CREATE INDEX usage_buckets_account ON usage_buckets (account_id, granularity, bucket);
CREATE INDEX usage_buckets_key ON usage_buckets (key_id, granularity, bucket);
CREATE TABLE usage_rollup (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	upto INTEGER NOT NULL
);
INSERT INTO usage_rollup (id, upto)
	SELECT 1, COALESCE(MAX(bucket) + 60000, 0) FROM usage_buckets WHERE granularity = 'minute';
