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
	m.Handle("GET /busiest-keys", u.page(u.busiestKeys))

	m.Handle("GET /keys", u.page(u.keyList))
	m.Handle("GET /keys/new", u.page(u.newKey))
	m.Handle("POST /keys", u.post(u.createKey))
	m.Handle("GET /keys/{id}", u.page(u.keyView))
	m.Handle("GET /keys/{id}/edit", u.page(u.editKey))
	m.Handle("POST /keys/{id}/edit", u.post(u.updateKey))
	m.Handle("GET /keys/{id}/rotate", u.page(u.rotateForm))
	m.Handle("POST /keys/{id}/rotate", u.post(u.rotateKey))
	m.Handle("GET /keys/{id}/{action}", u.page(u.confirmKey))
	m.Handle("POST /keys/{id}/{action}", u.post(u.changeKey))

	u.objectRoutes()

	m.HandleFunc("/", u.notFound)
}

var _ http.Handler = (*UI)(nil)
