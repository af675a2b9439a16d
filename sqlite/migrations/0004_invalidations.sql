-- Version 4: the invalidation feed between processes that open one SQLite
-- file (a keyward server, keyward admin, a program embedding the verifier).
-- Each write transaction appends what it makes stale in verification
-- caches; every process polls for rows of other origins (origin: a random
-- id per open database handle). AUTOINCREMENT: a seq is never reused, even
-- after the newest rows were pruned, so a poller that sees a gap in the
-- sequence knows it missed rows. Writers prune rows older than a minute.
CREATE TABLE invalidations (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	origin     TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX invalidations_created ON invalidations (created_at);
