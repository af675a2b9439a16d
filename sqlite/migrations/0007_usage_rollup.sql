-- Version 7: on PostgreSQL the usage buckets are reordered by time and
-- rolled up once a minute (usage_rollup). On SQLite the buckets live in
-- the usage file, whose own version 3 does the same. Nothing changes here.
SELECT 1;
