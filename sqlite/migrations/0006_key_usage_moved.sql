-- Version 6: keys' last use and verification counts live in the usage
-- file (usage.db, table key_usage), so the write-behind never commits to
-- this file. Open copies the values there before applying this version
-- (a copy that keeps what the usage file already has, so running it again
-- after a crash counts nothing twice); this version empties the columns,
-- which stay, unused, NULL and 0.
UPDATE keys SET last_used_at = NULL, verifications = 0 WHERE last_used_at IS NOT NULL OR verifications <> 0;
