-- The usage file (usage.db beside keyward.db), version 1: usage buckets.
-- Every verification of a key is counted by outcome in minute buckets,
-- rolled up into hour and day buckets as the write-behind adds them
-- (bucket: start, Unix ms). The key's account, owner and project are
-- copied in so reading usage never needs the keys' file.
CREATE TABLE usage_buckets (
	granularity TEXT NOT NULL,
	bucket      INTEGER NOT NULL,
	key_id      TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	account_id  TEXT NOT NULL,
	owner_type  TEXT NOT NULL,
	owner_id    TEXT NOT NULL,
	project_id  TEXT NOT NULL,
	count       INTEGER NOT NULL,
	PRIMARY KEY (granularity, key_id, bucket, outcome)
) WITHOUT ROWID;
CREATE INDEX usage_buckets_account ON usage_buckets (account_id, granularity, bucket);
