package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// CookieName is the name of the dashboard's session cookie.
const CookieName = "keyward_session"

// Default session timeouts (Options.IdleTimeout, Options.MaxAge).
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxAge      = 12 * time.Hour
)

// maxSessions bounds the sessions a node keeps; beyond it the session
// idle the longest goes first.
const maxSessions = 100_000

// session is a signed-in browser. It holds the hash of the management key
// it was signed in with, never the key: every request authenticates the
// hash through the service, so the session can do exactly what the key
// can, for as long as the key can.
type session struct {
	id      string
	hash    keyward.TokenHash
	keyID   string
	account string // the account an operator key switched to; "" its default
	created time.Time
	seen    time.Time
	// secret is a new key's token to show once (on its page), then
	// forgotten.
	secret *shownOnce
}

// shownOnce is a secret waiting to be shown on the page of key keyID.
type shownOnce struct {
	keyID string
	token keyward.Token
}

// sessions are the signed-in sessions of this node, in memory.
type sessions struct {
	mu       sync.Mutex
	byID     map[string]*session
	idle     time.Duration
	absolute time.Duration
	clock    func() time.Time
	// csrfKey signs the CSRF tokens (csrfToken): a random key of this
	// node, so a token is good only with the cookie it was made for.
	csrfKey []byte
}

func newSessions(idle, absolute time.Duration, clock func() time.Time) *sessions {
	key := make([]byte, 32)
	rand.Read(key)
	return &sessions{byID: map[string]*session{}, idle: idle, absolute: absolute, clock: clock, csrfKey: key}
}

// newID returns a new random cookie value (256 bits).
func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for the key of hash.
func (ss *sessions) create(hash keyward.TokenHash, keyID string) *session {
	now := ss.clock()
	s := &session{id: newID(), hash: hash, keyID: keyID, created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= maxSessions {
		ss.sweep(now)
	}
	if len(ss.byID) >= maxSessions {
		var oldest *session
		for _, o := range ss.byID {
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
		delete(ss.byID, oldest.id)
	}
	ss.byID[s.id] = s
	return s
}

// sweep drops the expired sessions; mu is held.
func (ss *sessions) sweep(now time.Time) {
	for id, s := range ss.byID {
		if ss.expired(s, now) {
			delete(ss.byID, id)
		}
	}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= ss.idle || now.Sub(s.created) >= ss.absolute
}

// get returns a copy of the live session of id, and marks it seen; nil
// when there is none or it has timed out (then it is gone).
func (ss *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	now := ss.clock()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.byID, id)
		return nil
	}
	s.seen = now
	c := *s
	return &c
}

// end forgets the session of id.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	delete(ss.byID, id)
	ss.mu.Unlock()
}

// setAccount records the account an operator session acts on.
func (ss *sessions) setAccount(id, account string) {
	ss.mu.Lock()
	if s := ss.byID[id]; s != nil {
		s.account = account
	}
	ss.mu.Unlock()
}

// keep holds a new key's secret until its page shows it.
func (ss *sessions) keep(id, keyID string, tok keyward.Token) {
	ss.mu.Lock()
	if s := ss.byID[id]; s != nil {
		s.secret = &shownOnce{keyID: keyID, token: tok}
	}
	ss.mu.Unlock()
}

// take returns the secret waiting for the page of keyID and forgets it:
// it is shown once.
func (ss *sessions) take(id, keyID string) (keyward.Token, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s == nil || s.secret == nil || s.secret.keyID != keyID {
		return keyward.Token{}, false
	}
	tok := s.secret.token
	s.secret = nil
	return tok, true
}

// csrfToken returns the CSRF token of a cookie value: an HMAC of it, so
// a token is only good with its own cookie (and a cookie another site
// cannot read gives it no token).
func (ss *sessions) csrfToken(cookie string) string {
	m := hmac.New(sha256.New, ss.csrfKey)
	m.Write([]byte("csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid reports whether token is the CSRF token of cookie.
func (ss *sessions) csrfValid(cookie, token string) bool {
	return cookie != "" && token != "" && hmac.Equal([]byte(ss.csrfToken(cookie)), []byte(token))
}
