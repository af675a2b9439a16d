-- Version 11: a trigram index of key names, for the key search
-- (GET /v1/keys?q=, the dashboard's search box): a case-insensitive
-- substring of the name (name_fold LIKE '%…%'), which no b-tree serves.
-- pg_trgm's GIN index serves it, and the planner, which keeps statistics
-- of the trigrams, chooses between it (few matches) and the list's order
-- (many matches).
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: a
-- role that may create objects in the database may install it. Where it
-- cannot be installed (a managed database that does not offer it, a role
-- without the right), the migration goes on without the index: search
-- still answers the same, reading the account's keys, and the server log
-- of the migration says so (a NOTICE). Installing pg_trgm later and
-- creating the index by hand (the statement below) is enough.
DO $$
BEGIN
	-- In public, where it outlives the schema of any one keyward (tests
	-- and some deployments give each keyward a schema of its own, and
	-- dropping the schema an extension is in drops it with every index
	-- that uses it); else in keyward's own schema.
	BEGIN
		CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
	EXCEPTION WHEN OTHERS THEN
		BEGIN
			CREATE EXTENSION IF NOT EXISTS pg_trgm;
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'keyward: pg_trgm not installed (%); key search goes without its index', SQLERRM;
		END;
	END;
END $$;
DO $$
DECLARE
	ns text;
BEGIN
	SELECT n.nspname INTO ns FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_trgm';
	IF ns IS NOT NULL THEN
		EXECUTE format('CREATE INDEX IF NOT EXISTS keys_name_trgm ON keys USING gin (name_fold %I.gin_trgm_ops)', ns);
	END IF;
END $$;
