package unkey

import (
	"net/http"

	"github.com/keyward/keyward"
)

type op int

const (
	opAdd op = iota
	opRemove
	opSet
)

func notYet(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return keyward.Errorf(keyward.ECodeNotFound, "not implemented yet")
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) updateKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) deleteKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) rerollKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) updateCredits(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) keyPermissions(o op) func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet
}
func (s *server) keyRoles(o op) func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet
}
func (s *server) migrateKeys(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) createAPI(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) getAPI(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) listKeys(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) deleteAPI(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) createPermission(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) getPermission(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) listPermissions(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) deletePermission(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) createRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) getRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) listRoles(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) deleteRole(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
func (s *server) limit(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	return notYet(w, r, a)
}
