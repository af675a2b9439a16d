// Package verifier verifies keyward API keys from inside a Go service: the
// checks of POST /v1/keys/verify (docs/api.md), behind one interface with two
// implementations.
//
//   - New embeds keyward: the service opens keyward's store itself
//     (sqlite.Open, postgres.Open), builds a *service.Service on it and
//     verifies in-process through its cache. A verification on a cache hit
//     touches no database, takes no global lock and allocates nothing. The
//     store may be a running server's (its PostgreSQL database, or its
//     SQLite file on the same machine): the server's changes reach the
//     cache through the database (see InProcess).
//   - NewRemote asks a keyward server (POST /v1/keys/verify through package
//     client) and keeps a local cache of its answers, invalidated by the
//     server's invalidation stream as described below.
//
// Both answer with a keyward.VerifyResult for every well-formed request,
// valid or not; an error is never a verification outcome but a failure to
// verify: a *keyward.Error with code unavailable or timeout when keyward
// cannot answer, validation_failed for Options out of range, and
// permission_denied, unauthenticated or (an API key in place of a
// management key) api_key_forbidden when the verifier's own credential may
// not verify keys.
//
// The package stays light (a test guards it): it imports no database/sql
// or SQL driver, none of keyward's stores, and neither keyward's server nor
// its CLI. Package service, which New embeds, works on any keyward.Store;
// only a program that opens a store (sqlite, postgres) links a driver.
// Package middleware builds net/http middleware on a Verifier.
//
// # The remote cache
//
// What is cached. An answer can be reused only if asking again would give
// the same answer. Three things make that false, and the remote cache deals
// with each:
//
//   - Per-request inputs: the answer depends on the permission query, the
//     project and the client IP as well as on the key. Answers are cached
//     under (SHA-256 of the token, query text, project id, IP), never under
//     the token alone, so a VALID for documents:read cannot answer
//     documents:write, nor a VALID from an allowed address another address.
//   - Counters: a key with a rate limit or credits changes with every
//     verification (a VALID takes from the rate limit, costs credits, and
//     reports what is left). The answer of such a key is never cached: every
//     verification of it reaches the server, so limits and credits hold
//     exactly as they do on the server. An answer that took nothing from a
//     counter (a REVOKED or INSUFFICIENT_PERMISSIONS of a rate-limited key,
//     which carries no rate_limit) is cached like any other; every answer of
//     a key with credits carries credits_remaining, so none is.
//   - Time: EXPIRED begins at the key's expires_at, which the answer
//     carries: an answer of a check after EXPIRED is used only before it.
//     An old secret kept valid by a rotation's grace period becomes ROTATED
//     when the grace ends, which the answer does not say: RemoteOptions.MaxAge
//     (default 10 s) bounds every cached answer, and so how long after its
//     grace such a secret can still verify VALID here. REVOKED, DISABLED,
//     EXPIRED and ROTATED do not change with time.
//
// A NOT_FOUND is kept at most RemoteOptions.NotFoundMaxAge (default 2 s,
// never more than 5 s), and dropped at once when a key takes that token
// (create, import, rotate).
//
// Invalidation. The remote verifier keeps GET /v1/invalidations open (its
// credential needs keys:verify; an account-bound key hears its account's
// changes). On each (re)connection the server says hello and the cache is
// flushed, since what changed while it was away is unknown. Each invalidate
// event drops the cached answers it names: a key (update, disable, revoke,
// delete, rotate), an account (catalog, roles), an owner (a user or service
// account changed), a token hash (a key now has that token: its NOT_FOUND
// goes), or * (all).
// An answer that was in flight when an invalidation concerning it arrived is
// not stored. The cache is used only while the stream is up, the last
// heartbeat said feed_healthy:true (the server itself hears every change)
// and a heartbeat arrived less than 3 s ago; otherwise every verification
// goes to the server, and a stream silent for 3 s is closed and reopened
// with backoff. A change of feed health flushes the cache.
//
// The cache stands in for the verifier's own credential too: a cached
// answer is one the server would give that key. After hello the verifier
// asks GET /v1/whoami which management key it is; an invalidation of that
// key or of its owner, or the key's expiry, closes the stream (flushing
// the cache) and a new one is opened, which a revoked, disabled or expired
// key cannot open: verifications then reach the server and fail with its
// error (unauthenticated) instead of answering from the cache.
//
// These are the guarantees of a keyward node behind a shared database: a
// change made anywhere reaches the cache as fast as the stream carries it
// (milliseconds), and a stream that stops carrying changes stops the cache
// being used within 3 s. As on a keyward node, a change is not seen
// synchronously: a verification racing the event of a change made a moment
// before may still get the earlier answer. Expiry is judged by this
// machine's clock against the server's expires_at.
//
// A cache hit is not reported to the server: the key's last_used_at and
// verifications count only the verifications that reached it.
package verifier

import (
	"context"
	"errors"
	"net/netip"

	"github.com/keyward/keyward"
)

// Verifier verifies API keys. Implementations are safe for concurrent use.
type Verifier interface {
	// Verify checks token with the per-request inputs in opts (nil: the
	// key alone, at the default cost). It returns a result for every
	// well-formed request, valid or not; a malformed or unknown token is
	// NOT_FOUND. The error, a *keyward.Error, says keyward could not
	// answer (unavailable, timeout) or the request was not well-formed
	// (validation_failed); it is never an outcome of the checks.
	Verify(ctx context.Context, token string, opts *Options) (keyward.VerifyResult, error)
}

// NoCost as Options.Cost verifies without spending credits.
const NoCost = -1

// Options are the inputs of a verification besides the token. Prepare them
// once per route (parse the query once with keyward.ParseQuery) and set IP
// per request. The zero Options checks the key alone at the default cost.
type Options struct {
	// Query is the permission query the key must satisfy; nil checks none.
	Query *keyward.Query
	// ProjectID is the project the request is for ("" for none): a key
	// scoped to another project fails WRONG_PROJECT.
	ProjectID string
	// IP is the client's address; the zero Addr says it is unknown, and a
	// key with an IP allowlist then fails FORBIDDEN_IP (it fails closed).
	IP netip.Addr
	// Cost is what a VALID verification spends of a key's credits: 0
	// means keyward.DefaultVerifyCost (1), as when POST /v1/keys/verify
	// omits cost, NoCost spends nothing, and at most keyward.MaxVerifyCost.
	Cost int64
}

// Validate reports whether the options are well-formed: a project id that
// is not one, or a cost out of range, is a validation_failed
// *keyward.Error naming the field.
func (o *Options) Validate() error {
	_, err := o.prepare()
	return err
}

// prepare turns the options into keyward's prepared checks without
// allocating (nil options: the defaults).
func (o *Options) prepare() (keyward.PreparedVerify, error) {
	p := keyward.PreparedVerify{Cost: keyward.DefaultVerifyCost}
	if o == nil {
		return p, nil
	}
	p.Query, p.ProjectID = o.Query, o.ProjectID
	if o.IP.IsValid() {
		p.IP, p.HasIP = o.IP.Unmap(), true
	}
	switch {
	case o.Cost == NoCost:
		p.Cost = 0
	case o.Cost < 0 || o.Cost > keyward.MaxVerifyCost:
		return p, keyward.InvalidField("cost", "must be between 0 and %d, or verifier.NoCost", keyward.MaxVerifyCost)
	case o.Cost > 0:
		p.Cost = o.Cost
	}
	if o.ProjectID != "" && !keyward.ValidID(keyward.PrefixProject, o.ProjectID) {
		return p, keyward.InvalidField("project_id", "is not a project id")
	}
	return p, nil
}

// asError returns err as a *keyward.Error: a cancelled context is a
// timeout, as keyward's HTTP API reports it.
func asError(err error) error {
	var e *keyward.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) {
		return &keyward.Error{Code: keyward.ECodeTimeout, Message: "the verification was cancelled", Err: err}
	}
	return keyward.AsError(err)
}
