-- Version 3: usage. verifications counts successful verifications (written
-- behind, batched). The credit pool of a key is kept in its own columns so
-- nodes can lease credits with one atomic UPDATE; the credits column keeps
-- the refill settings. credits_period_start is the start of the current
-- refill period; credits_epoch changes when the pool is set outright,
-- voiding credits nodes leased before.
ALTER TABLE keys ADD COLUMN verifications BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN credits_remaining BIGINT;
ALTER TABLE keys ADD COLUMN credits_period_start BIGINT;
ALTER TABLE keys ADD COLUMN credits_epoch BIGINT NOT NULL DEFAULT 0;
