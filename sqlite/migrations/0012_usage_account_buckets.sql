-- Version 12: on PostgreSQL the usage buckets gain their per-account sums
-- (usage_account_buckets). On SQLite the buckets live in the usage file,
-- whose own version 4 does the same. Nothing changes here.
SELECT 1;
