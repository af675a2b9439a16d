-- Version 9: on SQLite, key_secrets becomes a WITHOUT ROWID table (one
-- b-tree descent instead of two for a verification cache miss). A
-- PostgreSQL table has no rowid b-tree to skip. Nothing changes.
SELECT 1;
