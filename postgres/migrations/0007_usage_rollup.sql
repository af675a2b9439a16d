-- Version 7: usage buckets ordered by time, and hours and days rolled up
-- once a minute (as the SQLite usage file's version 3, which explains it):
-- the primary key starts with the bucket, so one write-behind's rows are
-- together in the index; one key's series goes through usage_buckets_key;
-- usage_rollup.upto is the start of the first minute not yet added to
-- its hour and day, after every minute written so far (those were).
ALTER TABLE usage_buckets DROP CONSTRAINT usage_buckets_pkey;
ALTER TABLE usage_buckets ADD PRIMARY KEY (granularity, bucket, key_id, outcome);
CREATE INDEX usage_buckets_key ON usage_buckets (key_id, granularity, bucket);
CREATE TABLE usage_rollup (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	upto BIGINT NOT NULL
);
INSERT INTO usage_rollup (id, upto)
	SELECT 1, COALESCE(MAX(bucket) + 60000, 0) FROM usage_buckets WHERE granularity = 'minute';
