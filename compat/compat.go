// Package compat serves five vendors' API-key APIs in their own wire
// formats (docs/compatibility.md), each under /compat/<vendor>/ on the native server and
// backed by the same keys: a client written from orq's, discue's,
// PulseCRM's, Vectara's or Unkey's documentation works against keyward with only
// its base URL and credential changed. Each dialect is a package of its
// own (compat/orq, compat/discue, compat/pulsecrm, compat/vectara,
// compat/unkey) that
// translates its vendor's requests to the service's calls and keyward's
// answers and errors back, on the scaffold they share (compat/internal/kit);
// the rules stay in package service, so a key changed through one API is
// the same key through every other. What each dialect supports, and where
// it differs from its vendor, is in docs/compatibility.md.
package compat

import (
	"net/http"

	"github.com/keyward/keyward/compat/discue"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/compat/orq"
	"github.com/keyward/keyward/compat/pulsecrm"
	"github.com/keyward/keyward/compat/unkey"
	"github.com/keyward/keyward/compat/vectara"
	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/service"
)

// dialects are the dialects Mount serves: each one's name and its New.
var dialects = []struct {
	name string
	new  func(*service.Service, kit.Server) http.Handler
}{
	{orq.Dialect, orq.New},
	{discue.Dialect, discue.New},
	{pulsecrm.Dialect, pulsecrm.New},
	{vectara.Dialect, vectara.New},
	{unkey.Dialect, unkey.New},
}

// Mount serves every dialect on srv, backed by svc (the service srv
// serves).
func Mount(srv *khttp.Server, svc *service.Service) {
	for _, d := range dialects {
		srv.Mount(d.name, func(h khttp.Host) http.Handler { return d.new(svc, h) })
	}
}
