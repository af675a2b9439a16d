package unkey

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
	"github.com/keyward/keyward/service"
)

// op is how keys.add…, keys.remove… and keys.set… change a key's
// permissions or roles.
type op int

const (
	opAdd op = iota
	opRemove
	opSet
)

// keyIDMember is the keyId member of the procedures on one key.
type keyIDMember struct {
	KeyID keyward.Field[string] `json:"keyId"`
}

func (m *keyIDMember) keyID() keyward.Field[string] { return m.KeyID }

// procedure serves a procedure whose body is an In: the body is read
// strictly (decode) before h runs.
func procedure[In any](h func(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *In) error) kit.Handler {
	return func(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
		var in In
		if err := decode(r, &in); err != nil {
			return err
		}
		return h(w, r, a, &in)
	}
}

// keyProcedure serves a procedure on one key: a procedure whose body (an
// In, with its keyIDMember) names the key by a keyId, which is required.
func keyProcedure[In any, P interface {
	*In
	keyID() keyward.Field[string]
}](h func(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in P) error) kit.Handler {
	return procedure(func(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *In) error {
		id, err := required("keyId", P(in).keyID())
		if err != nil {
			return err
		}
		return h(w, r, a, id, in)
	})
}

type whoamiRequest struct {
	Key keyward.Field[string] `json:"key"`
}

// whoami serves keys.whoami: the key a token belongs to, if it is an API
// key of the account that is not revoked (anything else is key not
// found), disabled or expired included; asking is not a use of the key.
func (s *server) whoami(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *whoamiRequest) error {
	tok, err := required("key", in.Key)
	if err != nil {
		return err
	}
	k, err := s.Svc.KeyOfToken(r.Context(), a, keyward.TokenFromString(tok))
	if err != nil {
		return withType(err, typeKeyNotFound, "")
	}
	if k.Status == keyward.StatusRevoked {
		return notFound("key", typeKeyNotFound, "given")
	}
	x, err := s.expansion(r.Context(), a)
	if err != nil {
		return err
	}
	return reply(w, r, s.view(r.Context(), a, k, x))
}

type updateKeyRequest struct {
	keyIDMember
	keyRequest
}

// updateKey serves keys.updateKey: the members sent change, the others
// stay (null clears name, externalId, meta, expires and credits).
func (s *server) updateKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in *updateKeyRequest) error {
	k, x, err := expanded(s, r.Context(), a, id, s.apiKey)
	if err != nil {
		return err
	}
	kf, err := s.fields(r.Context(), a, &in.keyRequest, k, x, nil)
	if err != nil {
		return renamed(err)
	}
	if kf.PermissionMode.Set && k.PermissionMode == keyward.ModeRestricted {
		// Already restricted: send only what changes.
		kf.PermissionMode = keyward.Field[keyward.PermissionMode]{}
	}
	if kf.PermissionMode.Set && !kf.Scopes.Set {
		kf.Scopes = keyward.Some([]keyward.Scope{})
	}
	if _, err := s.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, kf, ""); err != nil {
		return withType(renamed(err), typeKeyNotFound, "")
	}
	return reply(w, r, empty{})
}

type deleteKeyRequest struct {
	keyIDMember
	Permanent keyward.Field[bool] `json:"permanent"`
}

// deleteKey serves keys.deleteKey: the key is revoked (Unkey's soft
// delete; keyward keeps it, revoked, for the audit trail), or deleted
// outright with permanent: true.
func (s *server) deleteKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in *deleteKeyRequest) error {
	if in.Permanent.Null {
		return badInput("permanent", "must be true or false")
	}
	_, err := s.apiKey(r.Context(), a, id)
	if err != nil {
		return err
	}
	if in.Permanent.Value {
		err = s.Svc.DeleteKey(r.Context(), a, keyward.KindAPI, id, "")
	} else {
		_, err = s.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, "")
	}
	return deleted(w, r, err, typeKeyNotFound)
}

type rerollRequest struct {
	keyIDMember
	Expiration keyward.Field[int64] `json:"expiration"`
}

// rerollKey serves keys.rerollKey as keyward's rotation: the key keeps its
// id and settings and gets a new token; the old one keeps working for
// expiration milliseconds (0: stops at once; at most keyward's grace
// period of 7 days).
func (s *server) rerollKey(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in *rerollRequest) error {
	if !in.Expiration.HasValue() {
		return badInput("expiration", "is required: milliseconds the old key keeps working (0 for none)")
	}
	if in.Expiration.Value < 0 || in.Expiration.Value > keyward.MaxGracePeriod.Milliseconds() {
		return badInput("expiration", "must be from 0 to %d milliseconds (7 days)", keyward.MaxGracePeriod.Milliseconds())
	}
	if _, err := s.apiKey(r.Context(), a, id); err != nil {
		return err
	}
	k, tok, err := s.Svc.RotateKey(r.Context(), a, keyward.KindAPI, id, time.Duration(in.Expiration.Value)*time.Millisecond, keyward.Field[time.Time]{}, "")
	if err != nil {
		return withType(renamed(err), typeKeyNotFound, "")
	}
	return reply(w, r, map[string]string{"keyId": k.ID, "key": tok.Reveal()})
}

type updateCreditsRequest struct {
	keyIDMember
	Value     keyward.Field[int64]  `json:"value"`
	Operation keyward.Field[string] `json:"operation"`
}

// updateCredits serves keys.updateCredits: set (null: unlimited),
// increment or decrement the key's remaining credits.
func (s *server) updateCredits(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in *updateCreditsRequest) error {
	opName, err := required("operation", in.Operation)
	if err != nil {
		return err
	}
	var action keyward.CreditsAction
	switch opName {
	case "set":
		action = keyward.CreditsSet
	case "increment":
		action = keyward.CreditsAdd
	case "decrement":
		action = keyward.CreditsSubtract
	default:
		return badInput("operation", "must be set, increment or decrement")
	}
	if action != keyward.CreditsSet && !in.Value.HasValue() {
		return badInput("value", "is required to %s", opName)
	}
	k, err := s.apiKey(r.Context(), a, id)
	if err != nil {
		return err
	}
	switch {
	case action == keyward.CreditsSet && !in.Value.HasValue():
		k, err = s.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, &keyward.KeyFields{Credits: keyward.Null[keyward.Credits]()}, "")
	case action == keyward.CreditsSet && k.Credits == nil:
		k, err = s.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, &keyward.KeyFields{Credits: keyward.Some(keyward.Credits{Remaining: in.Value.Value})}, "")
	case k.Credits == nil:
		return badInput("operation", "the key has unlimited credits: set a value first")
	default:
		op := keyward.CreditsOp{Action: action, Amount: in.Value.Value}
		if err := op.Check(); err != nil {
			return badInput("value", "%s", strings.TrimPrefix(keyward.AsError(err).Message, string(action)+": "))
		}
		k, err = s.Svc.ChangeCredits(r.Context(), a, id, op, "")
	}
	if err != nil {
		return withType(mapFields(err, func(string) string { return "value" }), typeKeyNotFound, "")
	}
	c := creditsOf(k.Credits)
	if c == nil {
		return reply(w, r, creditsData{})
	}
	return reply(w, r, c)
}

type keyPermissionsRequest struct {
	keyIDMember
	Permissions keyward.Field[[]string] `json:"permissions"`
}

// permissionData is Unkey's Permission.
type permissionData struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Description string `json:"description,omitempty"`
}

// permissionView renders a slug (a resource id or a keyward atom) as a
// Permission, named after its catalog resource.
func permissionView(slug string, cat keyward.Catalog) permissionData {
	res, _, _ := strings.Cut(slug, ":")
	d := permissionData{ID: permPrefix + slug, Name: slug, Slug: slug}
	if rs := cat[res]; rs != nil {
		d.Description = rs.Description
		if slug == res {
			d.Name = rs.DisplayName
		}
	}
	return d
}

func permissionViews(slugs []string, cat keyward.Catalog) []permissionData {
	out := make([]permissionData, 0, len(slugs))
	for _, s := range slugs {
		out = append(out, permissionView(s, cat))
	}
	return out
}

// restrictedOnly refuses to add to or remove from the permissions of a key
// whose mode grants the whole catalog: that would silently narrow it.
func restrictedOnly(k *keyward.Key, what string) error {
	if k.PermissionMode == keyward.ModeRestricted {
		return nil
	}
	return badInput(what, "the key holds every permission (keyward permission mode %s): set its permissions with keys.set%s or keys.updateKey",
		k.PermissionMode, strings.ToUpper(what[:1])+what[1:])
}

// opKey checks the list what (permissions or roles, each one of kind)
// that keys.add…, keys.remove… or keys.set… sends and reads the key it
// changes, which must hold restricted permissions unless the list
// replaces them (restrictedOnly).
func (s *server) opKey(ctx context.Context, a *keyward.Actor, id string, o op, what string, list keyward.Field[[]string], kind string) (*keyward.Key, error) {
	if !list.HasValue() || (o != opSet && len(list.Value) == 0) {
		return nil, badInput(what, "is required: %s", kind)
	}
	k, err := s.apiKey(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if o != opSet {
		if err := restrictedOnly(k, what); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// keyPermissions serves keys.addPermissions, keys.removePermissions and
// keys.setPermissions; the answer is every permission the key then holds
// directly. add and set create the permissions that do not exist, when
// the root key may (catalog:write; else 403).
func (s *server) keyPermissions(o op) kit.Handler {
	return keyProcedure(func(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in *keyPermissionsRequest) error {
		k, err := s.opKey(r.Context(), a, id, o, "permissions", in.Permissions, "an array of permission slugs")
		if err != nil {
			return err
		}
		x, err := s.expansion(r.Context(), a)
		if err != nil {
			return err
		}
		var made []string
		if o != opRemove {
			if made, err = s.ensurePermissions(r.Context(), a, in.Permissions.Value, x); err != nil {
				return err
			}
		}
		sent, err := scopesOf("permissions", in.Permissions.Value, x.Catalog)
		if err != nil {
			s.undoPermissions(r.Context(), a, made)
			return err
		}
		var next []keyward.Scope
		switch o {
		case opAdd:
			next = mergeScopes(append(keyward.CloneScopes(k.Scopes), sent...))
		case opRemove:
			next = removeScopes(k.Scopes, sent)
		case opSet:
			next = sent
		}
		kf := &keyward.KeyFields{Scopes: keyward.Some(next)}
		if k.PermissionMode != keyward.ModeRestricted {
			kf.PermissionMode = keyward.Some(keyward.ModeRestricted)
			kf.Roles = keyward.Some(slices.Clone(k.Roles))
		}
		k, err = s.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, kf, "")
		if err != nil {
			s.undoPermissions(r.Context(), a, made)
			return withType(renamed(err), typeKeyNotFound, "")
		}
		return reply(w, r, permissionViews(slugsOf(k.Scopes), x.Catalog))
	})
}

// removeScopes takes out of have what drop grants: a scope on every
// object removes the resource's scope at that level; a target removes
// that target.
func removeScopes(have, drop []keyward.Scope) []keyward.Scope {
	out := []keyward.Scope{}
	for _, h := range have {
		h.Targets = slices.Clone(h.Targets)
		for _, d := range drop {
			if d.Resource != h.Resource || d.Access != h.Access {
				continue
			}
			if slices.Contains(d.Targets, keyward.Wildcard) {
				h.Targets = nil
				break
			}
			h.Targets = slices.DeleteFunc(h.Targets, func(t string) bool { return slices.Contains(d.Targets, t) })
		}
		if len(h.Targets) > 0 {
			out = append(out, h)
		}
	}
	return out
}

type keyRolesRequest struct {
	keyIDMember
	Roles keyward.Field[[]string] `json:"roles"`
}

// keyRoles serves keys.addRoles, keys.removeRoles and keys.setRoles; the
// answer is every role the key then holds.
func (s *server) keyRoles(o op) kit.Handler {
	return keyProcedure(func(w http.ResponseWriter, r *http.Request, a *keyward.Actor, id string, in *keyRolesRequest) error {
		k, err := s.opKey(r.Context(), a, id, o, "roles", in.Roles, "an array of role names or ids")
		if err != nil {
			return err
		}
		sent := make([]string, len(in.Roles.Value))
		for i, name := range in.Roles.Value {
			sent[i] = strings.TrimPrefix(name, rolePrefix)
		}
		var next []string
		switch o {
		case opAdd:
			next = slices.Clone(k.Roles)
			for _, n := range sent {
				if !slices.Contains(next, n) {
					next = append(next, n)
				}
			}
		case opRemove:
			next = slices.DeleteFunc(slices.Clone(k.Roles), func(n string) bool { return slices.Contains(sent, n) })
		case opSet:
			next = slices.Compact(slices.Sorted(slices.Values(sent)))
		}
		if next == nil {
			next = []string{}
		}
		kf := &keyward.KeyFields{Roles: keyward.Some(next)}
		if k.PermissionMode != keyward.ModeRestricted {
			kf.PermissionMode = keyward.Some(keyward.ModeRestricted)
			kf.Scopes = keyward.Some([]keyward.Scope{})
		}
		if k, err = s.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, kf, ""); err != nil {
			return withType(renamed(err), typeKeyNotFound, "")
		}
		x, err := s.expansion(r.Context(), a)
		if err != nil {
			return err
		}
		out := make([]roleData, 0, len(k.Roles))
		for _, n := range k.Roles {
			out = append(out, roleView(n, nil, x))
		}
		return reply(w, r, out)
	})
}

// roleData is Unkey's Role.
type roleData struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Permissions []permissionData `json:"permissions"`
}

// roleView renders a role by name; desc is its description when known.
func roleView(name string, desc *string, x *service.ScopeExpansion) roleData {
	d := roleData{ID: rolePrefix + name, Name: name, Permissions: permissionViews(slugsOf(x.RoleScopes[name]), x.Catalog)}
	if desc != nil {
		d.Description = *desc
	}
	return d
}

type migrateRequest struct {
	MigrationID keyward.Field[string]           `json:"migrationId"`
	APIID       keyward.Field[string]           `json:"apiId"`
	Keys        keyward.Field[[]migrateKeyData] `json:"keys"`
}

type migrateKeyData struct {
	Hash keyward.Field[string] `json:"hash"`
	keyRequest
}

type migrated struct {
	Hash  string `json:"hash"`
	KeyID string `json:"keyId"`
}

// migrateKeys serves keys.migrateKeys with keyward's import: each key
// arrives by the SHA-256 of its token (hex or base64) and verifies with
// its original token. A hash keyward already knows is listed in failed;
// any other invalid key fails the request (nothing is imported).
func (s *server) migrateKeys(w http.ResponseWriter, r *http.Request, a *keyward.Actor, in *migrateRequest) error {
	if _, err := required("migrationId", in.MigrationID); err != nil {
		return err
	}
	apiIDValue, err := required("apiId", in.APIID)
	if err != nil {
		return err
	}
	if !in.Keys.HasValue() || len(in.Keys.Value) == 0 {
		return badInput("keys", "is required: the keys to migrate")
	}
	p, x, err := expanded(s, r.Context(), a, apiIDValue, s.project)
	if err != nil {
		return err
	}
	items := make([]keyward.ImportItem, len(in.Keys.Value))
	hashes := make([]string, len(in.Keys.Value))
	for i := range in.Keys.Value {
		kd := &in.Keys.Value[i]
		if _, err := required("hash", kd.Hash); err != nil {
			return mapFields(err, func(f string) string { return "keys[" + strconv.Itoa(i) + "]." + f })
		}
	}
	// Identities the keys name are made (Unkey does), and removed again
	// if nothing is migrated.
	var made []string
	fail := func(err error) error {
		s.undo(r.Context(), a, made)
		return err
	}
	for i := range in.Keys.Value {
		kd := &in.Keys.Value[i]
		h := kd.Hash.Value
		kf, err := s.fields(r.Context(), a, &kd.keyRequest, nil, x, &made)
		if err != nil {
			return fail(mapFields(err, func(f string) string { return "keys[" + strconv.Itoa(i) + "]." + unkeyField(f) }))
		}
		kf.ProjectID = keyward.Some(p.ID)
		kf.PermissionMode = keyward.Some(keyward.ModeRestricted)
		if !kf.Scopes.Set {
			kf.Scopes = keyward.Some([]keyward.Scope{})
		}
		items[i] = keyward.ImportItem{Hash: h, KeyFields: *kf}
		hashes[i] = h
	}
	out := struct {
		Migrated []migrated `json:"migrated"`
		Failed   []string   `json:"failed"`
	}{Migrated: []migrated{}, Failed: []string{}}
	orig := make([]int, len(items)) // the request's index of each item imported
	for i := range orig {
		orig[i] = i
	}
	keys, err := s.Svc.ImportKeys(r.Context(), a, items)
	if keyward.ErrorCode(err) == keyward.ECodeDuplicate {
		// Only hashes keyward already knows (or repeated): those fail,
		// the others are imported.
		dup := map[int]bool{}
		for _, f := range keyward.AsError(err).Fields {
			if i, ok := parseIndex(f.Field); ok {
				dup[i] = true
			}
		}
		var rest []keyward.ImportItem
		var restHashes []string
		orig = orig[:0]
		for i := range items {
			if dup[i] {
				out.Failed = append(out.Failed, hashes[i])
				continue
			}
			rest, restHashes, orig = append(rest, items[i]), append(restHashes, hashes[i]), append(orig, i)
		}
		hashes, keys, err = restHashes, nil, nil
		if len(rest) > 0 {
			keys, err = s.Svc.ImportKeys(r.Context(), a, rest)
		}
	}
	if err != nil {
		// keys[i] of the items imported: named by its place in the request.
		return fail(mapFields(err, func(f string) string {
			if i, ok := parseIndex(f); ok && i < len(orig) {
				_, rest, _ := strings.Cut(f, "]")
				rest = strings.TrimPrefix(rest, ".")
				if rest != "" {
					rest = "." + unkeyField(rest)
				}
				return "keys[" + strconv.Itoa(orig[i]) + "]" + rest
			}
			return f
		}))
	}
	for i, k := range keys {
		out.Migrated = append(out.Migrated, migrated{Hash: hashes[i], KeyID: k.ID})
	}
	return reply(w, r, out)
}

// parseIndex reads i from "keys[i]…", -1 when there is none.
func parseIndex(field string) (int, bool) {
	rest, ok := strings.CutPrefix(field, "keys[")
	if !ok {
		return -1, false
	}
	n, _, ok := strings.Cut(rest, "]")
	if !ok {
		return -1, false
	}
	i, err := strconv.Atoi(n)
	return i, err == nil
}
