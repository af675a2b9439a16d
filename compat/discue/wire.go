package discue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/service"
)

// discue's key statuses. keyward's revoked has no discue name: a revoked
// key shows as disabled (it cannot be enabled again: a PUT is a 409).
const (
	statusEnabled  = "enabled"
	statusDisabled = "disabled"
)

// defaultName names a key created without a name: discue's create takes
// an empty body, keyward keys have a name.
const defaultName = "api key"

// keyRequest is the body of discue's create and update (UpdateApiKeyRequest):
// name, status and scopes, all optional in discue's schema. alias is the
// name's newer spelling and scopes may also be an object keyed by resource
// (both from discue's Terraform provider, which the reference asks to
// accept too).
type keyRequest struct {
	Name   keyward.Field[string]          `json:"name"`
	Alias  keyward.Field[string]          `json:"alias"`
	Status keyward.Field[string]          `json:"status"`
	Scopes keyward.Field[json.RawMessage] `json:"scopes"`
}

// keyInput is a validated discue request.
type keyInput struct {
	name      keyward.Field[string]
	nameField string // "name" or "alias": how the client spelled it, for errors
	status    keyward.KeyStatus
	scopesSet bool
	scopes    []keyward.Scope
	// paths are the client's paths of each scope ("scopes[2]", or
	// "scopes.queues" for the object form), for errors keyward reports
	// as scopes[i].
	paths []string
}

// readKeyRequest reads and validates a create or update body. An empty
// body is a request that sets nothing (allowed for create only: discue's
// own create example sends none). Malformed JSON and unknown members are
// 400, values of the wrong type or outside discue's enums 422, and
// nothing is changed.
func readKeyRequest(r *http.Request, bodyRequired bool) (*keyInput, error) {
	var req keyRequest
	if err := api.Decode(r, &req, bodyRequired); err != nil {
		return nil, err
	}
	in := &keyInput{nameField: "name"}
	var errs []keyward.FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, keyward.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case req.Name.Set && req.Alias.Set:
		add("alias", "is the newer name of name: send one of them")
	case req.Alias.Set:
		in.name, in.nameField = req.Alias, "alias"
	default:
		in.name = req.Name
	}
	if in.name.Null {
		add(in.nameField, "cannot be null")
	}
	if req.Status.Set {
		switch {
		case req.Status.Null:
			add("status", "must be %s or %s", statusEnabled, statusDisabled)
		case req.Status.Value == statusEnabled:
			in.status = keyward.StatusActive
		case req.Status.Value == statusDisabled:
			in.status = keyward.StatusDisabled
		default:
			add("status", "must be %s or %s, not %q", statusEnabled, statusDisabled, req.Status.Value)
		}
	}
	if req.Scopes.Set {
		in.scopesSet = true
		if req.Scopes.Null {
			add("scopes", "cannot be null; send [] for no scopes")
		} else if err := in.readScopes(req.Scopes.Value, add); err != nil {
			return nil, err
		}
	}
	if len(errs) > 0 {
		return nil, keyward.Invalid(errs...)
	}
	return in, nil
}

// scopeRequest is one ApiKeyScope: {resource, access, targets}. In the
// object form of scopes the resource is the member's name.
type scopeRequest struct {
	Resource keyward.Field[string]          `json:"resource"`
	Access   keyward.Field[string]          `json:"access"`
	Targets  keyward.Field[json.RawMessage] `json:"targets"`
}

// readScopes reads scopes as an array of ApiKeyScope, or as an object
// keyed by resource (the Terraform provider's form). Member errors are
// added with add; an unknown member is returned as a 400.
func (in *keyInput) readScopes(raw json.RawMessage, add func(field, format string, args ...any)) error {
	in.scopes = []keyward.Scope{}
	switch t := bytes.TrimLeft(raw, " \t\r\n"); {
	case len(t) > 0 && t[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			add("scopes", "must be an array of scopes")
			return nil
		}
		for i, item := range items {
			path := fmt.Sprintf("scopes[%d]", i)
			if err := in.readScope(path, "", item, add); err != nil {
				return err
			}
		}
	case len(t) > 0 && t[0] == '{':
		var byResource map[string]json.RawMessage
		if err := json.Unmarshal(raw, &byResource); err != nil {
			add("scopes", "must be an array of scopes")
			return nil
		}
		for _, name := range slices.Sorted(maps.Keys(byResource)) {
			if err := in.readScope("scopes."+name, name, byResource[name], add); err != nil {
				return err
			}
		}
	default:
		add("scopes", "must be an array of scopes")
	}
	return nil
}

// readScope reads one scope at path; resource is set for the object form,
// where the scope itself may not name one.
func (in *keyInput) readScope(path, resource string, raw json.RawMessage, add func(field, format string, args ...any)) error {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		add(path, "must be an object with resource, access and targets")
		return nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		add(path, "must be an object with resource, access and targets")
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(members)) {
		known := name == "access" || name == "targets" || (name == "resource" && resource == "")
		if !known {
			e := keyward.Errorf(keyward.ECodeUnknownField, "unknown field %q", path+"."+name)
			e.Fields = []keyward.FieldError{{Field: path + "." + name, Message: "is not a known field"}}
			return e
		}
	}
	var sr scopeRequest
	bad := map[string]bool{}
	for _, m := range []struct {
		name string
		dst  any
	}{{"resource", &sr.Resource}, {"access", &sr.Access}, {"targets", &sr.Targets}} {
		if v, ok := members[m.name]; ok {
			if err := json.Unmarshal(v, m.dst); err != nil {
				bad[m.name] = true
				add(path+"."+m.name, "must be a string")
			}
		}
	}
	s := keyward.Scope{Resource: resource, Access: keyward.AccessWrite, Targets: []string{keyward.Wildcard}}
	if resource == "" {
		if !bad["resource"] && (!sr.Resource.HasValue() || sr.Resource.Value == "") {
			add(path+".resource", "is required")
		}
		s.Resource = sr.Resource.Value
	}
	// discue's access defaults to write (its Terraform provider documents
	// the default); it is read or write.
	if sr.Access.Set && !bad["access"] {
		switch a := keyward.Access(sr.Access.Value); {
		case sr.Access.Null:
			add(path+".access", "must be read or write")
		case a == keyward.AccessRead || a == keyward.AccessWrite:
			s.Access = a
		default:
			add(path+".access", "must be read or write, not %q", sr.Access.Value)
		}
	}
	// targets: ["*"], a list of ids, or "*" alone (discue's prose shows the
	// bare string); empty or absent means every object, as discue's
	// Terraform provider documents.
	if sr.Targets.Set {
		if sr.Targets.Null {
			add(path+".targets", `cannot be null; send ["*"] for every object`)
		} else if list, ok := readTargets(sr.Targets.Value); !ok {
			add(path+".targets", `must be "*" or an array of ids`)
		} else if len(list) > 0 {
			s.Targets = list
		}
	}
	in.scopes = append(in.scopes, s)
	in.paths = append(in.paths, path)
	return nil
}

func readTargets(raw json.RawMessage) ([]string, bool) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false
	}
	return list, true
}

// fields returns the request as keyward's fields: the PATCH a discue
// create or PUT amounts to. For a PUT (replace), every field discue can
// state is set: an absent status is enabled and absent scopes are the
// default set (the account's default permission mode), as for a new key;
// what discue cannot state (description, expiry, project, metadata, IP
// allowlist, limits) is left as it is. defaultMode is the account's
// default permission mode, needed only when scopes are absent.
func (in *keyInput) fields(replace bool, defaultMode keyward.PermissionMode) *keyward.KeyFields {
	f := &keyward.KeyFields{Name: in.name}
	if in.status != "" {
		f.Status = keyward.Some(in.status)
	} else if replace {
		f.Status = keyward.Some(keyward.StatusActive)
	}
	switch {
	case in.scopesSet:
		// discue keys hold exactly their scopes; the array replaces the
		// key's permissions wholesale.
		f.PermissionMode = keyward.Some(keyward.ModeRestricted)
		f.Scopes = keyward.Some(in.scopes)
		f.Roles = keyward.Some([]string{})
	case defaultMode == keyward.ModeRestricted:
		// A restricted default grants nothing until scopes are given.
		f.PermissionMode = keyward.Some(keyward.ModeRestricted)
		f.Scopes = keyward.Some([]keyward.Scope{})
		f.Roles = keyward.Some([]string{})
	case defaultMode != "":
		f.PermissionMode = keyward.Some(defaultMode)
	}
	return f
}

// clientFields renames the fields of a keyward validation error to the
// client's spelling: scopes[i] becomes the path the client sent that
// scope at, and name alias if it sent alias.
func (in *keyInput) clientFields(err error) error {
	var e *keyward.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = make([]keyward.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		out.Fields[i] = keyward.FieldError{Field: in.clientField(f.Field), Message: f.Message}
	}
	if len(out.Fields) == 1 {
		out.Message = out.Fields[0].Field + ": " + out.Fields[0].Message
	}
	return &out
}

func (in *keyInput) clientField(field string) string {
	if field == "name" {
		return in.nameField
	}
	var i int
	var rest string
	if n, _ := fmt.Sscanf(field, "scopes[%d]", &i); n == 1 && i >= 0 && i < len(in.paths) {
		if _, after, ok := strings.Cut(field, "]"); ok {
			rest = after
		}
		return in.paths[i] + rest
	}
	return field
}

// keyView is discue's ApiKey: the key redacted to its first characters,
// times in epoch milliseconds.
type keyView struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	CreatedAt  int64           `json:"created_at"`
	UpdatedAt  int64           `json:"updated_at"`
	LastUsedAt *int64          `json:"last_used_at"`
	Key        string          `json:"key"`
	Status     string          `json:"status"`
	Scopes     []keyward.Scope `json:"scopes"`
}

func viewOf(k *keyward.Key, x *service.ScopeExpansion) keyView {
	v := keyView{
		ID: publicID(k.ID), Name: k.Name,
		CreatedAt: k.CreatedAt.UnixMilli(), UpdatedAt: k.UpdatedAt.UnixMilli(),
		Key: k.Start, Status: statusEnabled, Scopes: scopesOf(k, x),
	}
	if k.LastUsedAt != nil {
		ms := k.LastUsedAt.UnixMilli()
		v.LastUsedAt = &ms
	}
	if k.Status != keyward.StatusActive {
		v.Status = statusDisabled
	}
	return v
}

// scopesOf returns what k grants as discue scopes: keyward's modes all and
// read_only as the catalog's resources they cover; a restricted key's own
// scopes in their order, then its roles' scopes; merged by resource and
// access, and without what the catalog no longer lets it hold.
func scopesOf(k *keyward.Key, x *service.ScopeExpansion) []keyward.Scope {
	if k.PermissionMode != keyward.ModeRestricted {
		return keyward.EffectiveScopes(k, x.Catalog, nil)
	}
	out := []keyward.Scope{}
	at := map[string]int{}
	add := func(s keyward.Scope) {
		r := x.Catalog[s.Resource]
		if r == nil || r.Protected || !r.Supports(s.Access) || (k.ProjectID != nil && !r.AllowsSingleProject()) {
			return
		}
		pair := s.Resource + "\x00" + string(s.Access)
		i, seen := at[pair]
		if !seen {
			at[pair] = len(out)
			out = append(out, keyward.Scope{Resource: s.Resource, Access: s.Access, Targets: slices.Clone(s.Targets)})
			return
		}
		cur := &out[i]
		switch {
		case slices.Contains(cur.Targets, keyward.Wildcard):
		case slices.Contains(s.Targets, keyward.Wildcard):
			cur.Targets = []string{keyward.Wildcard}
		default:
			for _, t := range s.Targets {
				if !slices.Contains(cur.Targets, t) {
					cur.Targets = append(cur.Targets, t)
				}
			}
		}
	}
	for _, s := range k.Scopes {
		add(s)
	}
	for _, role := range k.Roles {
		for _, s := range x.RoleScopes[role] {
			add(s)
		}
	}
	return out
}

// links is discue's HAL-style _links.
type links struct {
	Self link `json:"self"`
}

type link struct {
	Href string `json:"href"`
}

// selfLink is the absolute URL of path on the host the client called.
func selfLink(r *http.Request, path string) links {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return links{Self: link{Href: scheme + "://" + r.Host + path}}
}
