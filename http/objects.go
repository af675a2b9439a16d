package http

import (
	"context"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// objectRoutes are the routes of one kind of object an account holds
// (accounts, users, service accounts, roles, projects): POST path creates,
// GET, PATCH and DELETE path/{param} read, change and delete one. Each
// handler reads its parameters and body strictly, calls the service (which
// checks the management permission), and renders the view with its ETag.
type objectRoutes[T interface{ ETag() string }, F, V any] struct {
	s      *Server
	path   string // "/v1/users"
	param  string // the path parameter naming one: "id" ("name" for roles)
	global bool   // reached by operator keys outside any account (accounts)
	id     func(T) string
	view   func(T) V
	list   managedFunc // GET path, with its query parameters
	params []string

	create func(context.Context, *keyward.Actor, *F) (T, error)
	get    func(context.Context, *keyward.Actor, string) (T, error)
	update func(ctx context.Context, a *keyward.Actor, id string, in *F, ifMatch string) (T, error)
	delete func(ctx context.Context, a *keyward.Actor, id, ifMatch string) error
}

// register declares the routes of o; the creating POST honours
// Idempotency-Key.
func (o *objectRoutes[T, F, V]) register() {
	s, auth := o.s, o.s.managed
	if o.global {
		auth = s.global
	}
	one := o.path + "/{" + o.param + "}"
	s.handle("GET "+o.path, auth(o.list, o.params...))
	s.handle("POST "+o.path, auth(func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
		return s.idempotent(w, r, a, o.postOne)
	}))
	s.handle("GET "+one, auth(o.getOne))
	s.handle("PATCH "+one, auth(o.patchOne))
	s.handle("DELETE "+one, auth(o.deleteOne))
}

func (o *objectRoutes[T, F, V]) postOne(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in F
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	v, err := o.create(r.Context(), a, &in)
	if err == nil {
		w.Header().Set("Location", o.path+"/"+o.id(v))
	}
	return o.write(w, r, http.StatusCreated, v, err)
}

func (o *objectRoutes[T, F, V]) getOne(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	v, err := o.get(r.Context(), a, r.PathValue(o.param))
	return o.write(w, r, http.StatusOK, v, err)
}

func (o *objectRoutes[T, F, V]) patchOne(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	var in F
	if err := api.Decode(r, &in, true); err != nil {
		return err
	}
	v, err := o.update(r.Context(), a, r.PathValue(o.param), &in, r.Header.Get("If-Match"))
	return o.write(w, r, http.StatusOK, v, err)
}

func (o *objectRoutes[T, F, V]) deleteOne(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if err := o.delete(r.Context(), a, r.PathValue(o.param), r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// write answers with v's view and its ETag, or with err.
func (o *objectRoutes[T, F, V]) write(w http.ResponseWriter, r *http.Request, status int, v T, err error) error {
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+v.ETag()+`"`)
	return o.s.writeJSON(w, r, status, o.view(v))
}

// revoking adapts the deletion of an object that revokes the keys it
// held, whose ids the answer does not carry.
func revoking(del func(ctx context.Context, a *keyward.Actor, id, ifMatch string) ([]string, error)) func(context.Context, *keyward.Actor, string, string) error {
	return func(ctx context.Context, a *keyward.Actor, id, ifMatch string) error {
		_, err := del(ctx, a, id, ifMatch)
		return err
	}
}

// writePage answers with one page of a list, or with err.
func writePage[T, V any](s *Server, w http.ResponseWriter, r *http.Request, items []T, more bool, err error, view func(T) V) error {
	if err != nil {
		return err
	}
	return s.writeJSON(w, r, http.StatusOK, api.PageOf(items, more, view))
}

// listPaged is the list of a kind of object with no filter but the
// page, whose ids start with prefix.
func listPaged[T, V any](s *Server, prefix string, list func(context.Context, *keyward.Actor, keyward.Page) ([]T, bool, error), view func(T) V) managedFunc {
	return func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
		pg, err := query(r).page(prefix)
		if err != nil {
			return err
		}
		items, more, err := list(r.Context(), a, pg)
		return writePage(s, w, r, items, more, err, view)
	}
}
