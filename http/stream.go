package http

import (
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/service"
)

// streamHeartbeat is how often the invalidation stream proves it is alive;
// a client that hears nothing for three of them must stop trusting its cache.
const streamHeartbeat = time.Second

// invalidations serves GET /v1/invalidations: a server-sent event stream of
// what changes make cached verifications stale, for remote verifiers that
// keep a cache (package verifier). Events:
//
//	event: hello       data: {"feed_healthy":true}     the stream starts: flush everything
//	event: invalidate  data: k:key_…@acc_…            drop what this names
//	event: heartbeat   data: {"feed_healthy":true}     every second
//
// While feed_healthy is false this node may itself be missing changes, so
// a client must not trust its cache either. An account-bound key receives
// only its account's events. Needs keys:verify.
func (s *Server) invalidations(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if !hasPermission(a, keyward.PermKeysVerify) {
		return &keyward.Error{Code: keyward.ECodePermissionDenied, Message: "this management key lacks the permission " + keyward.PermKeysVerify,
			Details: map[string]any{"missing_permission": keyward.PermKeysVerify}}
	}
	watcher := s.svc.Watch(r.Context())
	// The stream lives only as long as its credential: a change to the
	// key (revoked, disabled, deleted, rotated), its owner or its account
	// ends it once the key no longer authenticates, and so does its
	// expiry. A client whose stream ends stops trusting its cache, and its
	// reconnection is refused. Checked once more now that the watcher
	// is registered, so a change between the authentication above and
	// the registration is not missed.
	stillValid := func() bool {
		if a.Key == nil {
			return true
		}
		if a.Key.ExpiresAt != nil && !time.Now().Before(*a.Key.ExpiresAt) {
			return false
		}
		tok, err := token(r)
		if err != nil {
			return false
		}
		ctx, cancel := keyward.WithBudget(r.Context(), probeBudget)
		defer cancel()
		return s.svc.StillAuthenticates(ctx, service.Credential{Token: tok, AccountID: r.Header.Get("X-Account-Id"), ClientIP: api.StateOf(r).ClientIP})
	}
	concernsKey := func(inv keyward.Invalidation) bool {
		switch inv.Kind {
		case keyward.InvalidateKey:
			return inv.ID == a.Key.ID
		case keyward.InvalidateOwner:
			return inv.ID == a.Key.Owner.ID
		case keyward.InvalidateAccount:
			return inv.ID == a.Key.AccountID
		case keyward.InvalidateAll:
			return true
		}
		return false
	}
	if !stillValid() {
		return keyward.Errorf(keyward.ECodeUnauthenticated, "the credential is no longer valid")
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event, data string) error {
		rc.SetWriteDeadline(time.Now().Add(10 * streamHeartbeat))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	health := func() string { return fmt.Sprintf(`{"feed_healthy":%t}`, s.svc.FeedHealthy()) }
	if err := send("hello", health()); err != nil {
		return nil
	}
	tick := time.NewTicker(streamHeartbeat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return nil
		case inv := <-watcher.C:
			lost := watcher.Lost()
			if lost {
				err = send("invalidate", keyward.Invalidation{Kind: keyward.InvalidateAll}.String())
			} else if a.AllAccounts || inv.Concerns(a.AccountID) {
				err = send("invalidate", inv.String())
			}
			if err == nil && a.Key != nil && (lost || concernsKey(inv)) && !stillValid() {
				return nil // the credential ended: so does the stream
			}
		case <-tick.C:
			if watcher.Lost() {
				err = send("invalidate", keyward.Invalidation{Kind: keyward.InvalidateAll}.String())
			}
			if err == nil && !stillValid() {
				return nil
			}
			if err == nil {
				err = send("heartbeat", health())
			}
		}
		if err != nil {
			return nil // the client went away
		}
	}
}

func hasPermission(a *keyward.Actor, perm string) bool {
	if a.Key == nil {
		return true
	}
	for _, p := range a.Key.Permissions {
		if p == perm {
			return true
		}
	}
	return false
}
