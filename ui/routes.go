package ui

import "net/http"

// routes declares every page of the dashboard in one place: page for a
// GET of a signed-in session, post for a form's POST (CSRF checked).
func (u *UI) routes() {
	m := u.mux
	m.HandleFunc("GET /static/{name}", u.static.serve)
	m.HandleFunc("GET /sign-in", u.showSignIn)
	m.HandleFunc("POST /sign-in", u.signIn)
	m.Handle("POST /sign-out", u.post(u.signOut))
	m.Handle("POST /account", u.post(u.switchAccount))

	m.Handle("GET /{$}", u.page(u.overview))

	m.HandleFunc("/", u.notFound)
}

var _ http.Handler = (*UI)(nil)
