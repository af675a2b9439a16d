-- keyward schema, version 1 (PostgreSQL). Times are Unix milliseconds, as
-- on SQLite, so the two stores agree to the millisecond.

CREATE TABLE accounts (
	id                      TEXT PRIMARY KEY,
	name                    TEXT NOT NULL UNIQUE,
	default_prefix          TEXT NOT NULL,
	catalog_template        TEXT NOT NULL,
	default_permission_mode TEXT NOT NULL,
	max_key_lifetime        BIGINT,
	require_expiry          BOOLEAN NOT NULL DEFAULT FALSE,
	default_key_lifetime    BIGINT,
	created_at              BIGINT NOT NULL,
	updated_at              BIGINT NOT NULL,
	version                 BIGINT NOT NULL
);

CREATE TABLE projects (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	version     BIGINT NOT NULL,
	UNIQUE (account_id, name)
);
CREATE INDEX projects_account ON projects (account_id, id);

CREATE TABLE catalog_resources (
	account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	id             TEXT NOT NULL,
	display_name   TEXT NOT NULL,
	grp            TEXT NOT NULL,
	description    TEXT NOT NULL,
	readable       BOOLEAN NOT NULL,
	writable       BOOLEAN NOT NULL,
	project_scopes TEXT NOT NULL,
	protected      BOOLEAN NOT NULL,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	PRIMARY KEY (account_id, id)
);

-- keys holds API keys and management keys. account_id is NULL only for
-- operator management keys. Secrets live in key_secrets, as SHA-256 only.
CREATE TABLE keys (
	id              TEXT PRIMARY KEY,
	account_id      TEXT REFERENCES accounts (id) ON DELETE CASCADE,
	kind            TEXT NOT NULL CHECK (kind IN ('api', 'management')),
	operator        BOOLEAN NOT NULL,
	name            TEXT NOT NULL,
	name_fold       TEXT NOT NULL,
	description     TEXT,
	status          TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
	prefix          TEXT NOT NULL,
	start           TEXT NOT NULL,
	last4           TEXT NOT NULL,
	owner_type      TEXT NOT NULL,
	owner_id        TEXT NOT NULL,
	project_id      TEXT,
	permission_mode TEXT,
	scopes          TEXT,
	roles           TEXT,
	permissions     TEXT,
	expires_at      BIGINT,
	metadata        TEXT,
	ip_allowlist    TEXT,
	rate_limit      TEXT,
	credits         TEXT,
	recoverable     BOOLEAN NOT NULL,
	legacy_key_id   TEXT,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	created_by_id   TEXT NOT NULL,
	updated_by_id   TEXT NOT NULL,
	last_used_at    BIGINT,
	rotated_at      BIGINT,
	version         BIGINT NOT NULL
);
CREATE INDEX keys_account_kind ON keys (account_id, kind, id);
CREATE INDEX keys_project ON keys (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX keys_owner ON keys (account_id, owner_type, owner_id);

-- key_secrets maps the SHA-256 of every secret a key has had to the key.
-- valid_until is NULL for the current secret and the end of the grace
-- period for secrets replaced by rotation.
CREATE TABLE key_secrets (
	hash        BYTEA PRIMARY KEY,
	key_id      TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
	created_at  BIGINT NOT NULL,
	valid_until BIGINT
);
CREATE INDEX key_secrets_key ON key_secrets (key_id);

-- key_resources indexes the resources of each key's scopes, for the
-- resource filter and for refusing to remove a resource still granted.
CREATE TABLE key_resources (
	key_id     TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
	account_id TEXT,
	resource   TEXT NOT NULL,
	PRIMARY KEY (key_id, resource)
);
CREATE INDEX key_resources_resource ON key_resources (account_id, resource);

-- audit_events is append-only: the triggers refuse every UPDATE, DELETE
-- and TRUNCATE, whatever code runs against the database. Events have no
-- foreign key, so they outlive the objects they describe.
CREATE TABLE audit_events (
	id          TEXT PRIMARY KEY,
	account_id  TEXT,
	created_at  BIGINT NOT NULL,
	actor_type  TEXT NOT NULL,
	actor_id    TEXT NOT NULL,
	action      TEXT NOT NULL,
	target_type TEXT NOT NULL,
	target_id   TEXT NOT NULL,
	changes     TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	client_ip   TEXT NOT NULL,
	user_agent  TEXT NOT NULL,
	dialect     TEXT NOT NULL
);
CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_target ON audit_events (account_id, target_id, id);

CREATE FUNCTION keyward_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit events are append-only';
END
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION keyward_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION keyward_audit_append_only();
