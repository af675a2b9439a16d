-- Version 2: users, service accounts, roles, recoverable secrets,
-- idempotency records.

CREATE TABLE users (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	external_id TEXT,
	email       TEXT,
	name        TEXT,
	-- name and email folded to lower case by keyward (Unicode-aware), for
	-- a search that behaves the same on every database.
	search_fold TEXT NOT NULL,
	roles       TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	version     BIGINT NOT NULL,
	UNIQUE (account_id, external_id)
);
CREATE INDEX users_account ON users (account_id, id);

CREATE TABLE service_accounts (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT,
	status      TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	version     BIGINT NOT NULL,
	UNIQUE (account_id, name)
);
CREATE INDEX service_accounts_account ON service_accounts (account_id, id);

CREATE TABLE roles (
	account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT,
	scopes      TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	version     BIGINT NOT NULL,
	PRIMARY KEY (account_id, name)
);

-- key_roles indexes the roles of each key, for the role filter and for
-- refusing to delete a role in use.
CREATE TABLE key_roles (
	key_id     TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
	account_id TEXT,
	role       TEXT NOT NULL,
	PRIMARY KEY (key_id, role)
);
CREATE INDEX key_roles_role ON key_roles (account_id, role);

-- The token of a recoverable key, sealed with AES-256-GCM under the
-- server's master key (never the token in clear).
ALTER TABLE keys ADD COLUMN secret_sealed BYTEA;

-- idempotency_keys remembers the answer to a creating POST for 24 hours.
-- key_hash is SHA-256 of the client's Idempotency-Key; the answer is sealed
-- with a key derived from the Idempotency-Key itself, so the database alone
-- cannot read the secrets a key creation returned.
CREATE TABLE idempotency_keys (
	scope        TEXT NOT NULL,
	key_hash     BYTEA NOT NULL,
	request_hash BYTEA NOT NULL,
	state        TEXT NOT NULL CHECK (state IN ('pending', 'done')),
	status       INTEGER NOT NULL,
	response     BYTEA,
	created_at   BIGINT NOT NULL,
	PRIMARY KEY (scope, key_hash)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
