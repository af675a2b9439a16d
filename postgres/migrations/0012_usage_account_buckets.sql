-- Version 12: usage per account, without the key (as the SQLite usage
-- file's version 4, which explains it): usage_account_buckets holds for
-- each granularity, bucket, account and outcome the sum of the account's
-- usage_buckets rows, written, rolled up and purged with them; an
-- account's series reads these few rows instead of a row per key. The
-- rows are filled in from the key rows already there.
CREATE TABLE usage_account_buckets (
	account_id  TEXT NOT NULL,
	granularity TEXT NOT NULL,
	bucket      BIGINT NOT NULL,
	outcome     TEXT NOT NULL,
	count       BIGINT NOT NULL,
	PRIMARY KEY (account_id, granularity, bucket, outcome)
);
CREATE INDEX usage_account_buckets_time ON usage_account_buckets (granularity, bucket);
INSERT INTO usage_account_buckets (account_id, granularity, bucket, outcome, count)
	SELECT account_id, granularity, bucket, outcome, SUM(count) FROM usage_buckets
	GROUP BY account_id, granularity, bucket, outcome;
