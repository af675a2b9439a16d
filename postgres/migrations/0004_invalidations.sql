-- Version 4: the invalidation feed of SQLite (processes sharing one file
-- poll it). PostgreSQL nodes use LISTEN/NOTIFY instead and never write
-- this table; it exists so that both dialects keep one schema.
CREATE TABLE invalidations (
	seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	origin     TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
