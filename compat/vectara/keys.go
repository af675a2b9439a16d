package vectara

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/compat/internal/kit"
)

// Vectara's api_key_role values (ApiKeyRole).
const (
	roleServing            = "serving"
	roleServingAndIndexing = "serving_and_indexing"
	rolePersonal           = "personal"
)

var roles = []string{roleServing, roleServingAndIndexing, rolePersonal}

// corpusResource is the catalog resource a Vectara corpus binding grants
// (the vectara catalog template's "corpus": read is querying, write is
// indexing and querying); corpus keys are its targets.
const corpusResource = "corpus"

// idPrefix is Vectara's API key id prefix. An aky_ id is the key's keyward
// id with aky_ instead of key_: the same ULID, so ids map both ways without
// a lookup table and keep sorting by creation time.
const idPrefix = "aky_"

// List limits (listApiKeys: limit int32 1–100, default 10).
const (
	defaultLimit = 10
	maxLimit     = 100
	// scanPage is how many keys a filtered list reads per store page.
	scanPage = keyward.MaxPageLimit
)

// corpusKeyPattern is Vectara's CorpusKey: [a-zA-Z0-9_\=\-]+, at most 50
// characters (anchored: the OpenAPI pattern is meant as a whole match).
var corpusKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9_=\-]+$`)

const maxCorpusKeyLen = 50

func vectaraID(id string) string { return idPrefix + strings.TrimPrefix(id, keyward.PrefixKey) }

// keywardID returns the keyward id of an aky_ id, and false for anything
// that cannot be one (which is then a 404, like an unknown id).
func keywardID(vid string) (string, bool) {
	rest, ok := strings.CutPrefix(vid, idPrefix)
	id := keyward.PrefixKey + rest
	return id, ok && keyward.ValidID(keyward.PrefixKey, id)
}

// apiKeyView is Vectara's ApiKey object, in its documented member order.
type apiKeyView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// SecretKey is the token: always at creation, later only for a
	// recoverable key read with keys:reveal (keyward stores only hashes
	// of every other key's token).
	SecretKey string `json:"secret_key,omitempty"`
	Enabled   bool   `json:"enabled"`
	// APIRoles, CorpusRoles and AgentRoles are Vectara's newer role
	// members, derived from what the key may do (rolesOf); APIKeyRole is
	// the deprecated one, derived from the key (roleOf).
	APIRoles    []string         `json:"api_roles"`
	APIKeyRole  string           `json:"api_key_role"`
	CorpusRoles []corpusRoleView `json:"corpus_roles"`
	AgentRoles  []agentRoleView  `json:"agent_roles"`
	APIPolicy   apiPolicy        `json:"api_policy"`
}

// apiPolicy is Vectara's ApiPolicy: what the key may do now. Operations
// are keyward permission atoms ("corpus:read"), exactly what a service
// checks at verification; their resources are the scopes' targets.
type apiPolicy struct {
	Name              string                     `json:"name"`
	AllowedOperations map[string]operationPolicy `json:"allowed_operations"`
}

// operationPolicy is Vectara's ApiOperationPolicy. allowed_resources maps
// a resource path (path.corpus_key) to the objects allowed; it is absent
// when any object is.
type operationPolicy struct {
	AllowAnyResource bool                `json:"allow_any_resource"`
	AllowedResources map[string][]string `json:"allowed_resources,omitempty"`
}

// listView is Vectara's ListApiKeysResponse.
type listView struct {
	APIKeys  []apiKeyView `json:"api_keys"`
	Metadata listMetadata `json:"metadata"`
}

// listMetadata carries the cursor of the next page; absent on the last.
type listMetadata struct {
	PageKey string `json:"page_key,omitempty"`
}

// roleOf returns the Vectara role that describes a key: personal for a key
// with every permission (mode all, or the personal role), serving for a
// read-only key, serving_and_indexing for a key that may write to corpora,
// and serving for any other restricted key (its api_policy says exactly
// what it may do).
func roleOf(k *keyward.Key) string {
	switch k.PermissionMode {
	case keyward.ModeAll:
		return rolePersonal
	case keyward.ModeReadOnly:
		return roleServing
	}
	switch {
	case slices.Contains(k.Roles, rolePersonal):
		return rolePersonal
	case slices.Contains(k.Roles, roleServingAndIndexing):
		return roleServingAndIndexing
	}
	for _, sc := range k.Scopes {
		if sc.Resource == corpusResource && sc.Access == keyward.AccessWrite {
			return roleServingAndIndexing
		}
	}
	return roleServing
}

// policyOf renders effective scopes as an api_policy named after the role.
// A write scope also allows reading (write includes read).
func policyOf(role string, scopes []keyward.Scope) apiPolicy {
	type grant struct {
		resource string
		any      bool
		targets  []string
	}
	ops := map[string]*grant{}
	add := func(resource string, access keyward.Access, targets []string) {
		op := resource + ":" + string(access)
		g := ops[op]
		if g == nil {
			g = &grant{resource: resource}
			ops[op] = g
		}
		if slices.Contains(targets, keyward.Wildcard) {
			g.any = true
		}
		g.targets = append(g.targets, targets...)
	}
	for _, sc := range scopes {
		add(sc.Resource, sc.Access, sc.Targets)
		if sc.Access == keyward.AccessWrite {
			add(sc.Resource, keyward.AccessRead, sc.Targets)
		}
	}
	p := apiPolicy{Name: role, AllowedOperations: make(map[string]operationPolicy, len(ops))}
	for op, g := range ops {
		if g.any {
			p.AllowedOperations[op] = operationPolicy{AllowAnyResource: true}
			continue
		}
		p.AllowedOperations[op] = operationPolicy{AllowedResources: map[string][]string{
			"path." + g.resource + "_key": sortedUnique(g.targets),
		}}
	}
	return p
}

// viewOf renders a key with its effective scopes; secret is "" except at
// creation and for a revealed recoverable key.
func viewOf(k *keyward.Key, scopes []keyward.Scope, secret string) apiKeyView {
	role := roleOf(k)
	rs := rolesOf(scopes, hintOf(k))
	roles := viewOfRoles(&rs)
	return apiKeyView{
		ID: vectaraID(k.ID), Name: k.Name, SecretKey: secret,
		Enabled:  k.Status == keyward.StatusActive,
		APIRoles: roles.APIRoles, APIKeyRole: role, CorpusRoles: roles.CorpusRoles, AgentRoles: roles.AgentRoles,
		APIPolicy: policyOf(role, scopes),
	}
}

// viewAfterWrite renders a key the request has just changed. The change
// is committed, so the answer must not fail: the effective scopes are read
// even past the request's timeout, and if that read fails the key's own
// scopes stand in for them (a client that loses a create's answer loses
// the only copy of the secret).
func (s *server) viewAfterWrite(ctx context.Context, a *keyward.Actor, k *keyward.Key, secret string) apiKeyView {
	sc, err := s.Svc.EffectiveKeyScopes(context.WithoutCancel(ctx), a, []*keyward.Key{k})
	if err != nil {
		return viewOf(k, k.Scopes, secret)
	}
	return viewOf(k, sc[0], secret)
}

// createRequest is Vectara's CreateApiKeyRequest: name, the newer role
// members and the deprecated api_key_role and corpus_keys, plus
// keyward's recoverable (an extension: Vectara shows secret_key after
// creation, which keyward can do only for a key whose token it keeps
// sealed, and keeping tokens is opt-in, per key, as on the native API).
// The role lists are read by hand (parseAPIRoles, objectRoles.parse) so
// that each error names the entry at fault.
type createRequest struct {
	Name        keyward.Field[string]          `json:"name"`
	APIRoles    keyward.Field[json.RawMessage] `json:"api_roles"`
	APIKeyRole  keyward.Field[string]          `json:"api_key_role"`
	CorpusKeys  keyward.Field[[]string]        `json:"corpus_keys"`
	CorpusRoles keyward.Field[json.RawMessage] `json:"corpus_roles"`
	AgentRoles  keyward.Field[json.RawMessage] `json:"agent_roles"`
	Recoverable keyward.Field[bool]            `json:"recoverable"`
}

// keyFields translates a create request. A request uses one of two forms:
// the role lists (api_roles, corpus_roles, agent_roles: restricted scopes,
// see scopesOf), or the deprecated api_key_role with corpus_keys (serving
// is corpus read on the corpus keys, serving_and_indexing corpus write on
// them, both restricted mode; personal is mode all, every non-protected
// permission, which is what the creator of the key may grant). A
// non-null api_key_role or a non-empty corpus_keys next to a non-empty
// role list is a 400: the two forms could disagree, and keyward will not
// guess which one the client meant. Errors name Vectara's fields. sources
// names, per scope, the member it comes from.
func (in *createRequest) keyFields() (f *keyward.KeyFields, sources []string, err error) {
	var errs []keyward.FieldError
	add := func(field, msg string) { errs = append(errs, keyward.FieldError{Field: field, Message: msg}) }
	if !in.Name.HasValue() {
		add("name", "is required")
	}
	nerr := len(errs)
	rs := roleSet{
		API:    parseAPIRoles(in.APIRoles, add),
		Corpus: corpusRoles.parse(in.CorpusRoles, add),
		Agent:  agentRoles.parse(in.AgentRoles, add),
	}
	newer := !rs.empty() || len(errs) > nerr
	corpora := in.CorpusKeys.Value
	switch {
	case newer:
		const mix = "is deprecated and cannot be combined with api_roles, corpus_roles or agent_roles: send one form"
		if in.APIKeyRole.HasValue() {
			add("api_key_role", mix)
		}
		if len(corpora) > 0 {
			add("corpus_keys", mix)
		}
	case in.APIKeyRole.HasValue() || len(corpora) > 0:
		in.checkDeprecated(add)
	default:
		add("api_roles", "a key needs a role: send api_roles, corpus_roles or agent_roles (or the deprecated api_key_role)")
	}
	if len(errs) > 0 {
		return nil, nil, keyward.Invalid(errs...)
	}
	// recoverable true without a master key is the native 422 naming it.
	f = &keyward.KeyFields{Name: in.Name, Recoverable: in.Recoverable, PermissionMode: keyward.Some(keyward.ModeRestricted)}
	if newer {
		scoped := scopesOf(&rs)
		scopes := make([]keyward.Scope, len(scoped))
		for i, s := range scoped {
			scopes[i], sources = s.scope, append(sources, s.member)
		}
		f.Scopes = keyward.Some(scopes)
		if h := hintFor(&rs, scopes); h != nil {
			f.Metadata = keyward.Some(h)
		}
		return f, sources, nil
	}
	role := in.APIKeyRole.Value
	if role == rolePersonal {
		f.PermissionMode = keyward.Some(keyward.ModeAll)
		return f, nil, nil
	}
	access := keyward.AccessRead
	if role == roleServingAndIndexing {
		access = keyward.AccessWrite
	}
	f.Scopes = keyward.Some([]keyward.Scope{{Resource: corpusResource, Access: access, Targets: corpora}})
	return f, nil, nil
}

// checkDeprecated checks the deprecated form: api_key_role is required
// and one of the ApiKeyRole values; a personal key takes no corpus keys,
// a serving or serving_and_indexing key at least one.
func (in *createRequest) checkDeprecated(add func(field, msg string)) {
	role, corpora := in.APIKeyRole.Value, in.CorpusKeys.Value
	switch {
	case !in.APIKeyRole.HasValue():
		add("api_key_role", "is required with corpus_keys: one of "+strings.Join(roles, ", "))
	case !slices.Contains(roles, role):
		add("api_key_role", "must be one of "+strings.Join(roles, ", "))
	}
	for i, c := range corpora {
		if len(c) > maxCorpusKeyLen || !corpusKeyPattern.MatchString(c) {
			add("corpus_keys["+strconv.Itoa(i)+"]", "must be 1–50 characters of letters, digits and _ = -")
		}
	}
	switch role {
	case rolePersonal:
		if len(corpora) > 0 {
			add("corpus_keys", "must be null or missing for a personal API key: it has the permissions of its creator")
		}
	case roleServing, roleServingAndIndexing:
		if len(corpora) == 0 {
			add("corpus_keys", "a "+role+" API key needs at least one corpus key: it can only act on its corpora")
		}
	}
}

// roleMembers are the CreateApiKeyRequest members that say what a key may
// do. Vectara's UpdateApiKeyRequest takes none of them: a key's roles are
// set when it is created.
var roleMembers = []string{"api_roles", "corpus_roles", "agent_roles", "api_key_role", "corpus_keys"}

// decodeBody reads a JSON body strictly into dst (api.Decode), and names
// in Vectara's terms what the decoder names in Go's.
func decodeBody(r *http.Request, dst any, required bool) error {
	err := api.Decode(r, dst, required)
	e, ok := err.(*keyward.Error)
	if !ok || len(e.Fields) != 1 {
		return err
	}
	switch name := e.Fields[0].Field; {
	case e.Code == keyward.ECodeUnknownField && slices.Contains(roleMembers, name):
		return &keyward.Error{Code: e.Code, Message: "unknown field " + strconv.Quote(name),
			Fields: []keyward.FieldError{{Field: name, Message: "cannot be changed: Vectara's update takes only enabled, a key's roles are set when it is created (change its scopes through the native API)"}}}
	case e.Code == keyward.ECodeValidation && name == "corpus_keys":
		// The decoder names the element type; the member is a list.
		return keyward.InvalidField(name, "must be a list of corpus keys (strings) or null")
	}
	return err
}

// scopeIndex matches a native error field on one scope of a create.
var scopeIndex = regexp.MustCompile(`^scopes\[(\d+)\]`)

// roleMemberError names, in a create's error, the role member each scope
// came from (sources), where the service names scopes[i]: a viewer in an
// account whose catalog has no agents resource is a 400 on api_roles.
func roleMemberError(err error, sources []string) error {
	e, ok := err.(*keyward.Error)
	if !ok || len(sources) == 0 || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = make([]keyward.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		if m := scopeIndex.FindStringSubmatch(f.Field); m != nil {
			if n, _ := strconv.Atoi(m[1]); n < len(sources) {
				f.Field = sources[n]
			}
		}
		out.Fields[i] = f
	}
	return &out
}

// create serves POST /v2/api_keys → 201 with the key and its secret_key.
func (s *server) create(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	if _, err := s.Kit.Query(r, nil); err != nil {
		return err
	}
	var in createRequest
	if err := decodeBody(r, &in, true); err != nil {
		return err
	}
	f, sources, err := in.keyFields()
	if err != nil {
		return err
	}
	k, tok, err := s.Svc.CreateKey(r.Context(), a, keyward.KindAPI, f)
	if err != nil {
		return roleMemberError(err, sources)
	}
	return kit.WriteJSON(w, r, http.StatusCreated, s.viewAfterWrite(r.Context(), a, k, tok.Reveal()))
}

// get serves GET /v2/api_keys/{api_key_id}. A recoverable key's secret_key
// is included when the credential holds keys:reveal (an audit event
// records each reveal); other keys have none to show.
func (s *server) get(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	vid, id, err := s.pathKey(r)
	if err != nil {
		return err
	}
	k, err := s.Svc.GetKey(r.Context(), a, keyward.KindAPI, id)
	if err != nil {
		return keyError(err, vid)
	}
	var secret string
	if k.Recoverable {
		_, tok, err := s.Svc.RevealSecret(r.Context(), a, id)
		switch keyward.ErrorCode(err) {
		case "":
			secret = tok.Reveal()
		case keyward.ECodePermissionDenied, keyward.ECodeConflict, keyward.ECodeNotFound:
			// No keys:reveal, no master key, or deleted meanwhile: the key
			// is shown without its secret.
		default:
			return err
		}
	}
	sc, err := s.Svc.EffectiveKeyScopes(r.Context(), a, []*keyward.Key{k})
	if err != nil {
		return err
	}
	return kit.WriteJSON(w, r, http.StatusOK, viewOf(k, sc[0], secret))
}

// updateRequest is Vectara's UpdateApiKeyRequest.
type updateRequest struct {
	Enabled keyward.Field[bool] `json:"enabled"`
}

// update serves PATCH /v2/api_keys/{api_key_id}: enabled true makes the
// key active, false disabled; absent changes nothing (200, no audit
// event). A revoked key cannot be enabled or disabled (409).
func (s *server) update(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	vid := r.PathValue("api_key_id")
	if _, err := s.Kit.Query(r, nil); err != nil {
		return err
	}
	var in updateRequest
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	var f keyward.KeyFields
	switch {
	case in.Enabled.Null:
		return keyward.InvalidField("enabled", "must be true or false")
	case in.Enabled.Set && in.Enabled.Value:
		f.Status = keyward.Some(keyward.StatusActive)
	case in.Enabled.Set:
		f.Status = keyward.Some(keyward.StatusDisabled)
	}
	id, ok := keywardID(vid)
	if !ok {
		return notFound(vid)
	}
	k, err := s.Svc.UpdateKey(r.Context(), a, keyward.KindAPI, id, &f, "")
	if err != nil {
		return keyError(err, vid)
	}
	return kit.WriteJSON(w, r, http.StatusOK, s.viewAfterWrite(r.Context(), a, k, ""))
}

// delete serves DELETE /v2/api_keys/{api_key_id} → 204.
func (s *server) delete(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	vid, id, err := s.pathKey(r)
	if err != nil {
		return err
	}
	if err = s.Svc.DeleteKey(r.Context(), a, keyward.KindAPI, id, ""); err != nil {
		return keyError(err, vid)
	}
	return kit.WriteJSON(w, r, http.StatusNoContent, nil)
}

// pathKey reads {api_key_id} on a route without query parameters: the id
// asked for, and the keyward id it names (anything but an aky_ id names
// no key: not_found).
func (s *server) pathKey(r *http.Request) (vid, id string, err error) {
	vid = r.PathValue("api_key_id")
	if _, err := s.Kit.Query(r, nil); err != nil {
		return vid, "", err
	}
	id, ok := keywardID(vid)
	if !ok {
		return vid, "", notFound(vid)
	}
	return vid, id, nil
}

// keyError reports a service's not_found for a key in Vectara's terms (the
// aky_ id asked for); other errors pass through.
func keyError(err error, vid string) error {
	if keyward.ErrorCode(err) == keyward.ECodeNotFound {
		return notFound(vid)
	}
	return err
}

// list serves GET /v2/api_keys: newest first, limit 1–100 (10), page_key
// the opaque cursor of metadata.page_key, filters corpus_key (keys that
// may act on that corpus now) and api_key_role.
func (s *server) list(w http.ResponseWriter, r *http.Request, a *keyward.Actor) error {
	q, err := s.Kit.Query(r, []string{"limit", "page_key", "corpus_key", "api_key_role"})
	if err != nil {
		return err
	}
	limit := defaultLimit
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxLimit {
			return api.BadParam("limit", "must be an integer from 1 to 100")
		}
		limit = n
	}
	var after string
	if q.Has("page_key") {
		if after, err = decodePageKey(q.Get("page_key")); err != nil {
			return err
		}
	}
	corpus, role := q.Get("corpus_key"), q.Get("api_key_role")
	if q.Has("corpus_key") && (len(corpus) > maxCorpusKeyLen || !corpusKeyPattern.MatchString(corpus)) {
		return api.BadParam("corpus_key", "must be 1–50 characters of letters, digits and _ = -")
	}
	if q.Has("api_key_role") && !slices.Contains(roles, role) {
		return api.BadParam("api_key_role", "must be one of %s", strings.Join(roles, ", "))
	}
	keys, more, err := s.page(r.Context(), a, limit, after, corpus, role)
	if err != nil {
		return err
	}
	scopes, err := s.Svc.EffectiveKeyScopes(r.Context(), a, keys)
	if err != nil {
		return err
	}
	out := listView{APIKeys: make([]apiKeyView, len(keys))}
	for i, k := range keys {
		out.APIKeys[i] = viewOf(k, scopes[i], "")
	}
	if more && len(keys) > 0 {
		out.Metadata.PageKey = encodePageKey(keys[len(keys)-1].ID)
	}
	return kit.WriteJSON(w, r, http.StatusOK, out)
}

// page returns up to limit keys after the cursor that pass the filters,
// and whether more follow. Without filters it is one store page; with
// them it reads pages until it has limit+1 matches or the keys run out
// (the filters are Vectara concepts keyward's store does not index).
func (s *server) page(ctx context.Context, a *keyward.Actor, limit int, after, corpus, role string) ([]*keyward.Key, bool, error) {
	f := keyward.KeyFilter{Page: keyward.Page{Limit: limit, StartingAfter: after}}
	if corpus == "" && role == "" {
		return s.Svc.ListKeys(ctx, a, keyward.KindAPI, f)
	}
	f.Limit = scanPage
	var keys []*keyward.Key
	for {
		batch, more, err := s.Svc.ListKeys(ctx, a, keyward.KindAPI, f)
		if err != nil {
			return nil, false, err
		}
		var sc [][]keyward.Scope
		if corpus != "" && len(batch) > 0 {
			if sc, err = s.Svc.EffectiveKeyScopes(ctx, a, batch); err != nil {
				return nil, false, err
			}
		}
		for i, k := range batch {
			if (role != "" && roleOf(k) != role) || (corpus != "" && !onCorpus(sc[i], corpus)) {
				continue
			}
			if keys = append(keys, k); len(keys) > limit {
				return keys[:limit], true, nil
			}
		}
		if !more || len(batch) == 0 {
			return keys, false, nil
		}
		f.StartingAfter = batch[len(batch)-1].ID
	}
}

// onCorpus reports whether effective scopes allow anything on a corpus.
func onCorpus(scopes []keyward.Scope, corpus string) bool {
	for _, sc := range scopes {
		if sc.Resource == corpusResource && (slices.Contains(sc.Targets, keyward.Wildcard) || slices.Contains(sc.Targets, corpus)) {
			return true
		}
	}
	return false
}

// pageKey is the content of a page_key: base64url JSON, opaque to
// clients like Vectara's (eyJvZmZzZXQiOjF9 is {"offset":1}).
type pageKey struct {
	After string `json:"after"`
}

func encodePageKey(id string) string {
	b, _ := json.Marshal(pageKey{After: vectaraID(id)}) // a struct of one string cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageKey returns the keyward id a page_key continues after.
func decodePageKey(s string) (string, error) {
	bad := api.BadParam("page_key", "is not a page_key from a previous answer")
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return "", bad
	}
	var pk pageKey
	if err := api.DecodeStrict(b, &pk); err != nil {
		return "", bad
	}
	id, ok := keywardID(pk.After)
	if !ok {
		return "", bad
	}
	return id, nil
}

// sortedUnique returns the distinct strings of s, sorted.
func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
