-- Version 6: on SQLite, keys' last use and verification counts moved to
-- the usage file (table key_usage) so the write-behind never commits to
-- the keys' file. PostgreSQL has no page cache per connection to keep
-- warm: they stay in the keys' columns here. Nothing changes.
SELECT 1;
