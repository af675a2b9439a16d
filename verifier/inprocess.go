package verifier

import (
	"context"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// InProcess verifies keys with a keyward service embedded in this program:
// the same cache, checks, rate limits and credits as a keyward server on
// the same store, with nothing in between. Several keyward servers and
// embedding programs may share one PostgreSQL database, and programs on the
// server's machine may open its SQLite file (sqlite.Open on
// <data-dir>/keyward.db); either way the service's cache is invalidated
// through the database like a server's: within milliseconds on PostgreSQL
// (LISTEN/NOTIFY), within 100 ms on SQLite (each process polls the file's
// invalidation feed). Rate limits are counted per process.
type InProcess struct {
	svc   *service.Service
	actor *keyward.Actor
}

var _ Verifier = (*InProcess)(nil)

// New returns a verifier that calls svc.VerifyToken as actor. The actor
// decides whose keys verify: the one svc.Authenticate returns for a
// management key with keys:verify (an account-bound key verifies its
// account's keys; an operator key without an account, every account's),
// or &keyward.Actor{AccountID: id} to act as keyward itself on one account.
// Keys of other accounts are NOT_FOUND. New panics if svc or actor is nil.
func New(svc *service.Service, actor *keyward.Actor) *InProcess {
	if svc == nil || actor == nil {
		panic("verifier.New: nil service or actor")
	}
	return &InProcess{svc: svc, actor: actor}
}

// Verify checks token in-process (see Verifier). On a cache hit it
// allocates nothing. It fails with validation_failed for malformed opts,
// permission_denied if the actor lacks keys:verify, and unavailable when
// the database cannot be reached and the outage grace has passed.
func (v *InProcess) Verify(ctx context.Context, token string, opts *Options) (keyward.VerifyResult, error) {
	p, err := opts.prepare()
	if err != nil {
		return keyward.VerifyResult{}, err
	}
	res, err := v.svc.VerifyToken(ctx, v.actor, token, &p)
	if err != nil {
		return keyward.VerifyResult{}, asError(err)
	}
	return res, nil
}
