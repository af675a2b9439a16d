-- Version 11: a trigram index of key names, for the key search
-- (GET /v1/keys?q=, the dashboard's search box): a case-insensitive
-- substring of the name, which no b-tree serves. Without it a search that
-- few keys match read every key of the account (0.8 s on 1M keys).
--
-- keys_fts is an FTS5 table with the trigram tokenizer over key_search,
-- its external content. key_search gives each key a document number of
-- its own, an INTEGER PRIMARY KEY: VACUUM (and VACUUM INTO, which backup
-- uses) keeps those, where the implicit rowid of keys (a table with a
-- TEXT primary key) may be renumbered, which would leave an index keyed
-- by it pointing at other keys. The index only finds candidates: the list
-- still tests name_fold LIKE on every key it returns (sqlstore/keys.go).
--
-- Triggers keep both up to date from keys: a key's insert, a change of
-- its folded name, its delete (cascades included). A later migration that
-- rebuilds keys drops these triggers with it and must create them again.
-- Every statement may run again on a database that has them (as 10's do).
CREATE TABLE IF NOT EXISTS key_search (
	doc    INTEGER PRIMARY KEY,
	key_id TEXT NOT NULL UNIQUE,
	name   TEXT NOT NULL
) STRICT;
INSERT OR IGNORE INTO key_search (key_id, name) SELECT id, name_fold FROM keys ORDER BY id;
CREATE VIRTUAL TABLE IF NOT EXISTS keys_fts USING fts5(name, content='key_search', content_rowid='doc', tokenize='trigram');
INSERT INTO keys_fts (keys_fts) VALUES ('rebuild');

CREATE TRIGGER IF NOT EXISTS key_search_insert AFTER INSERT ON key_search BEGIN
	INSERT INTO keys_fts (rowid, name) VALUES (new.doc, new.name);
END;
CREATE TRIGGER IF NOT EXISTS key_search_delete AFTER DELETE ON key_search BEGIN
	INSERT INTO keys_fts (keys_fts, rowid, name) VALUES ('delete', old.doc, old.name);
END;
CREATE TRIGGER IF NOT EXISTS key_search_update AFTER UPDATE ON key_search BEGIN
	INSERT INTO keys_fts (keys_fts, rowid, name) VALUES ('delete', old.doc, old.name);
	INSERT INTO keys_fts (rowid, name) VALUES (new.doc, new.name);
END;

CREATE TRIGGER IF NOT EXISTS keys_search_insert AFTER INSERT ON keys BEGIN
	INSERT INTO key_search (key_id, name) VALUES (new.id, new.name_fold);
END;
CREATE TRIGGER IF NOT EXISTS keys_search_update AFTER UPDATE OF name_fold ON keys
	WHEN old.name_fold IS NOT new.name_fold BEGIN
	UPDATE key_search SET name = new.name_fold WHERE key_id = new.id;
END;
CREATE TRIGGER IF NOT EXISTS keys_search_delete AFTER DELETE ON keys BEGIN
	DELETE FROM key_search WHERE key_id = old.id;
END;
