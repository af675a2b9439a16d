package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/keyward/keyward"
)

// signInCookie carries the CSRF nonce of the sign-in form, before there
// is a session. It has a name and path of its own so that showing the
// sign-in form never replaces the cookie of a session the browser holds.
const signInCookie = "keyward_signin"

// maxForm bounds a form's body.
const maxForm = 1 << 20

// call is what a page's handler gets of a signed-in request: the actor
// to pass to the service (the session's key, authenticated again for
// this request) and the session.
type call struct {
	actor *keyward.Actor
	sess  *session
	csrf  string
}

// pageFunc serves one page of a signed-in session. An error it returns
// is shown as the page (its status from the error's code).
type pageFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// page serves a GET page to a signed-in session; without one it
// redirects to the sign-in form.
func (u *UI) page(h pageFunc) http.Handler { return u.signedIn(h, false) }

// post serves a form's POST to a signed-in session whose CSRF token it
// checks first: without a valid one the answer is 403 and nothing runs.
func (u *UI) post(h pageFunc) http.Handler { return u.signedIn(h, true) }

func (u *UI) signedIn(h pageFunc, post bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookie := sessionCookie(r)
		s := u.sessions.get(cookie)
		if post {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				u.fail(w, r, nil, keyward.Errorf(keyward.ECodeBadRequest, "the form could not be read"))
				return
			}
			if !u.sessions.csrfValid(cookie, r.PostForm.Get("csrf")) {
				u.fail(w, r, nil, errCSRF())
				return
			}
		}
		if s == nil {
			seeOther(w, r, "/sign-in")
			return
		}
		r, cancel := u.within(r)
		defer cancel()
		a, err := u.authenticate(r, s)
		switch keyward.ErrorCode(err) {
		case "":
		case keyward.ECodeUnauthenticated, keyward.ECodePermissionDenied, keyward.ECodeAPIKeyForbidden:
			// The key was disabled, revoked, expired, rotated out or
			// deleted, or may not be used from here: the session ends.
			u.sessions.end(s.id)
			u.clearCookie(w, r)
			seeOther(w, r, "/sign-in")
			return
		default:
			u.fail(w, r, nil, err)
			return
		}
		c := &call{actor: a, sess: s, csrf: u.sessions.csrfToken(cookie)}
		if err := h(w, r, c); err != nil {
			u.fail(w, r, c, err)
		}
	})
}

// authenticate authenticates a session's key on the account the session
// acts on. An operator's session whose account is gone goes back to the
// operator's default account; when the account default is gone too (an
// operator may delete it), to the first account keyward lists (the
// newest), so that an operator can always sign in and switch. With no
// account at all it fails with not_found, saying how to create one.
func (u *UI) authenticate(r *http.Request, s *session) (*keyward.Actor, error) {
	a, err := u.host.AuthenticateHash(r, s.hash, s.account)
	if err == nil || !isCode(err, keyward.ECodeNotFound) {
		return a, err
	}
	if s.account != "" {
		u.sessions.setAccount(s.id, "")
		s.account = ""
		if a, err = u.host.AuthenticateHash(r, s.hash, ""); err == nil || !isCode(err, keyward.ECodeNotFound) {
			return a, err
		}
	}
	all, aerr := u.host.AuthenticateHashAnyAccount(r, s.hash)
	if aerr != nil {
		return nil, aerr
	}
	if !all.Key.Operator {
		return nil, err
	}
	accounts, _, lerr := u.svc.ListAccounts(r.Context(), all, keyward.Page{Limit: 1})
	if lerr != nil {
		return nil, lerr
	}
	if len(accounts) == 0 {
		return nil, keyward.Errorf(keyward.ECodeNotFound, "there is no account: create one with POST /v1/accounts (or keyward accounts create), then reload this page")
	}
	a, err = u.host.AuthenticateHash(r, s.hash, accounts[0].ID)
	if err == nil {
		u.sessions.setAccount(s.id, accounts[0].ID)
		s.account = accounts[0].ID
	}
	return a, err
}

func errCSRF() error {
	return keyward.Errorf(keyward.ECodePermissionDenied, "this form has expired or did not come from this dashboard: reload the page and try again")
}

func sessionCookie(r *http.Request) string {
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value
	}
	return ""
}

// seeOther answers 303 to path (post/redirect/get).
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (u *UI) cookie(r *http.Request, name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: u.secure || r.TLS != nil}
}

func (u *UI) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, u.cookie(r, CookieName, "", "/", -1))
}

// signInPage is the data of the sign-in form.
type signInPage struct {
	Form *form
}

func (u *UI) showSignIn(w http.ResponseWriter, r *http.Request) {
	if s := u.sessions.get(sessionCookie(r)); s != nil {
		seeOther(w, r, "/")
		return
	}
	nonce := ""
	if c, err := r.Cookie(signInCookie); err == nil && c.Value != "" {
		nonce = c.Value
	} else {
		nonce = newID()
		http.SetCookie(w, u.cookie(r, signInCookie, nonce, "/sign-in", 3600))
	}
	u.renderSignIn(w, r, http.StatusOK, nonce, &form{})
}

func (u *UI) renderSignIn(w http.ResponseWriter, r *http.Request, status int, nonce string, f *form) {
	u.render(w, r, &call{csrf: u.sessions.csrfToken(nonce)}, status, "sign-in.html", signInPage{Form: f})
}

// signIn exchanges a management key for a session. The key goes through
// the API's authentication, its failed-authentication lockout included;
// it is never kept, logged or shown again (a failed form comes back
// empty).
func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	nonce := ""
	if c, err := r.Cookie(signInCookie); err == nil {
		nonce = c.Value
	}
	if err := r.ParseForm(); err != nil || !u.sessions.csrfValid(nonce, r.PostForm.Get("csrf")) {
		u.fail(w, r, nil, errCSRF())
		return
	}
	tok := keyward.TokenFromString(strings.TrimSpace(r.PostForm.Get("key")))
	r.PostForm.Del("key")
	r.Form.Del("key")
	r, cancel := u.within(r)
	defer cancel()
	a, err := u.host.Authenticate(r, tok, "")
	if isCode(err, keyward.ECodeNotFound) {
		// An operator key whose default account is gone: signed in all the
		// same, the session finds it an account (authenticate).
		a, err = u.host.AuthenticateHashAnyAccount(r, tok.Hash())
	}
	if err != nil {
		e := keyward.AsError(err)
		msg := e.Message
		switch e.Code {
		case keyward.ECodeUnauthenticated:
			msg = "This is not a valid, active management key."
		case keyward.ECodeAPIKeyForbidden:
			msg = "This is an API key: sign in with a management key."
		case keyward.ECodeLocked, keyward.ECodePermissionDenied, keyward.ECodeNotFound:
		default:
			u.fail(w, r, nil, err)
			return
		}
		if secs, ok := e.Details["retry_after_seconds"].(int64); ok {
			w.Header().Set("Retry-After", itoa(secs))
		}
		u.host.Note(w, err)
		u.renderSignIn(w, r, statusOf(err), nonce, &form{Errors: map[string]string{"key": msg}})
		return
	}
	if old := sessionCookie(r); old != "" {
		u.sessions.end(old)
	}
	s := u.sessions.create(tok.Hash(), a.Key.ID)
	http.SetCookie(w, u.cookie(r, CookieName, s.id, "/", 0))
	http.SetCookie(w, u.cookie(r, signInCookie, "", "/sign-in", -1))
	seeOther(w, r, "/")
}

// signOut ends the session.
func (u *UI) signOut(w http.ResponseWriter, r *http.Request, c *call) error {
	u.sessions.end(c.sess.id)
	u.clearCookie(w, r)
	seeOther(w, r, "/sign-in")
	return nil
}

// switchAccount makes an operator session act on another account.
func (u *UI) switchAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.actor.Key.Operator {
		return keyward.Errorf(keyward.ECodePermissionDenied, "only an operator key may switch accounts")
	}
	account := strings.TrimSpace(r.PostForm.Get("account"))
	if _, err := u.host.AuthenticateHash(r, c.sess.hash, account); err != nil {
		if keyward.ErrorCode(err) == keyward.ECodeNotFound {
			return keyward.NotFound("account", account)
		}
		return err
	}
	u.sessions.setAccount(c.sess.id, account)
	seeOther(w, r, "/")
	return nil
}

// isCode reports whether err carries code.
func isCode(err error, code keyward.Code) bool {
	var e *keyward.Error
	return errors.As(err, &e) && e.Code == code
}
