-- Version 5: usage buckets. On SQLite they live in a file of their own
-- beside this one (usage.db, created by usage_migrations/), so the
-- write-behind's commits never empty the page cache of the connections
-- that read keys; PostgreSQL keeps them in its one database. Nothing
-- changes in this file.
SELECT 1;
