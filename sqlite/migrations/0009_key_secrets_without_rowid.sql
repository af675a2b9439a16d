-- Version 9: key_secrets as a WITHOUT ROWID table. A verification cache
-- miss finds the key by the hash of its secret: in a rowid table that is
-- two b-tree descents (the primary-key index, then the table by rowid),
-- in a WITHOUT ROWID table one, the row being stored in the primary key's
-- b-tree. Its rows are small (a 32-byte hash, a key id, two integers),
-- the case WITHOUT ROWID is made for.
CREATE TABLE key_secrets_v9 (
	hash        BLOB PRIMARY KEY,
	key_id      TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
	created_at  INTEGER NOT NULL,
	valid_until INTEGER
) STRICT, WITHOUT ROWID;
INSERT INTO key_secrets_v9 (hash, key_id, created_at, valid_until)
	SELECT hash, key_id, created_at, valid_until FROM key_secrets;
DROP TABLE key_secrets;
ALTER TABLE key_secrets_v9 RENAME TO key_secrets;
CREATE INDEX key_secrets_key ON key_secrets (key_id);
