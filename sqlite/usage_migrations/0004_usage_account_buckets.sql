-- The usage file, version 4: usage per account, without the key.
--
-- usage_account_buckets holds, for each granularity, bucket, account and
-- outcome, the sum of the account's usage_buckets rows: the write-behind
-- adds both in the same transaction (summed per account in the writer),
-- the roll-up folds minutes into hours and days in both, a purge deletes
-- both. An account's series reads these rows, a few an hour, instead of
-- one row per key per hour (a million keys used in a day are a million
-- rows an hour). The primary key starts with the account, so a series is
-- one range of it; the roll-up and the purge find a time's rows through
-- usage_account_buckets_time.
--
-- The rows are filled in from the key rows already there, granularity by
-- granularity: the minutes not yet rolled up as well as the hours and days
-- already holding the others, so the sums hold from the first read on.
CREATE TABLE usage_account_buckets (
	account_id  TEXT NOT NULL,
	granularity TEXT NOT NULL,
	bucket      INTEGER NOT NULL,
	outcome     TEXT NOT NULL,
	count       INTEGER NOT NULL,
	PRIMARY KEY (account_id, granularity, bucket, outcome)
) WITHOUT ROWID;
CREATE INDEX usage_account_buckets_time ON usage_account_buckets (granularity, bucket);
INSERT INTO usage_account_buckets (account_id, granularity, bucket, outcome, count)
	SELECT account_id, granularity, bucket, outcome, SUM(count) FROM usage_buckets
	GROUP BY account_id, granularity, bucket, outcome;
