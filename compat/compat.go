// Package compat serves four vendors' API-key APIs in their own wire
// formats (docs/compatibility.md), each under /compat/<vendor>/ on the native server and
// backed by the same keys: a client written from orq's, discue's,
// PulseCRM's or Vectara's documentation works against keyward with only
// its base URL and credential changed. Each dialect is a package of its
// own (compat/orq, compat/discue, compat/pulsecrm, compat/vectara) that
// translates its vendor's requests to the service's calls and keyward's
// answers and errors back; the rules stay in package service, so a key
// changed through one API is the same key through every other. What each
// dialect supports, and where it differs from its vendor, is in
// docs/compatibility.md.
package compat

import (
	"github.com/keyward/keyward/compat/discue"
	"github.com/keyward/keyward/compat/orq"
	"github.com/keyward/keyward/compat/pulsecrm"
	"github.com/keyward/keyward/compat/vectara"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// Mount serves every dialect on srv, backed by svc (the service srv
// serves).
func Mount(srv *khttp.Server, svc *service.Service) {
	srv.Mount("orq", orq.New(svc, srv))
	srv.Mount("discue", discue.New(svc, srv))
	srv.Mount("pulsecrm", pulsecrm.New(svc, srv))
	srv.Mount("vectara", vectara.New(svc, srv))
}
