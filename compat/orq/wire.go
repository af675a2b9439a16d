package orq

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Ids. orq's api_key_id is a bare ULID and its project ids are
// proj_<ULID>; keyward's are key_<ULID> and prj_<ULID>. The ULID is the
// same, so the mapping is a change of prefix both ways, and keyward's own
// forms are accepted on input too (a client may hold ids read from the
// native API).
const orqProjectPrefix = "proj_"

// orqKeyID returns the orq form of a keyward key id (or of another id a
// key records, such as created_by_id): the bare ULID.
func orqKeyID(id string) string {
	if keyward.ValidID(keyward.PrefixKey, id) {
		return strings.TrimPrefix(id, keyward.PrefixKey)
	}
	return id
}

// keyID returns the keyward id for an orq api_key_id, and false if it is
// neither a bare ULID nor a key_ id.
func keyID(s string) (string, bool) {
	switch {
	case keyward.ValidID(keyward.PrefixKey, s):
		return s, true
	case keyward.ValidID(keyward.PrefixKey, keyward.PrefixKey+s):
		return keyward.PrefixKey + s, true
	}
	return "", false
}

func orqProjectID(id string) string {
	if keyward.ValidID(keyward.PrefixProject, id) {
		return orqProjectPrefix + strings.TrimPrefix(id, keyward.PrefixProject)
	}
	return id
}

// projectID returns the keyward id for an orq project id (proj_<ULID>, or
// keyward's prj_<ULID>), and false if it is neither.
func projectID(s string) (string, bool) {
	switch {
	case keyward.ValidID(keyward.PrefixProject, s):
		return s, true
	case keyward.ValidID(orqProjectPrefix, s):
		return keyward.PrefixProject + strings.TrimPrefix(s, orqProjectPrefix), true
	}
	return "", false
}

// Enums. orq sends protobuf enum names; the Node SDK also accepts the
// lowercase preset names for permission_mode.
const (
	statusUnspecified = "API_KEY_STATUS_UNSPECIFIED"
	statusActive      = "API_KEY_STATUS_ACTIVE"
	statusDisabled    = "API_KEY_STATUS_DISABLED"
	statusRevoked     = "API_KEY_STATUS_REVOKED"

	modeUnspecified = "PERMISSION_MODE_UNSPECIFIED"
	modeAll         = "PERMISSION_MODE_ALL"
	modeRestricted  = "PERMISSION_MODE_RESTRICTED"
	modeReadOnly    = "PERMISSION_MODE_READ_ONLY"

	accessNone  = "ACCESS_LEVEL_NONE"
	accessRead  = "ACCESS_LEVEL_READ"
	accessWrite = "ACCESS_LEVEL_WRITE"

	ownerUnspecified    = "OWNER_TYPE_UNSPECIFIED"
	ownerUser           = "OWNER_TYPE_USER"
	ownerServiceAccount = "OWNER_TYPE_SERVICE_ACCOUNT"
)

var statuses = map[string]keyward.KeyStatus{
	statusActive: keyward.StatusActive, statusDisabled: keyward.StatusDisabled, statusRevoked: keyward.StatusRevoked,
}

var modes = map[string]keyward.PermissionMode{
	modeAll: keyward.ModeAll, modeRestricted: keyward.ModeRestricted, modeReadOnly: keyward.ModeReadOnly,
	"all": keyward.ModeAll, "restricted": keyward.ModeRestricted, "read_only": keyward.ModeReadOnly,
}

func orqStatus(s keyward.KeyStatus) string { return enumName(statuses, s, statusUnspecified) }

func orqMode(m keyward.PermissionMode) string { return enumName(modes, m, modeUnspecified) }

// enumName is the protobuf name of v: its upper-case name in values (which
// also holds the SDK's lower-case aliases), else unspecified.
func enumName[T comparable](values map[string]T, v T, unspecified string) string {
	for name, x := range values {
		if x == v && name == strings.ToUpper(name) {
			return name
		}
	}
	return unspecified
}

// enumField reads an enum member of a body: absent stays absent, null is
// a 400, and a value must be one of values' names (names, for the
// message).
func enumField[T any](field string, v keyward.Field[string], values map[string]T, names ...string) (keyward.Field[T], error) {
	switch x, ok := values[v.Value]; {
	case !v.Set:
		return keyward.Field[T]{}, nil
	case v.Null:
		return keyward.Field[T]{}, keyward.InvalidField(field, "cannot be null")
	case !ok:
		return keyward.Field[T]{}, keyward.InvalidField(field, "must be one of %s", strings.Join(names, ", "))
	default:
		return keyward.Some(x), nil
	}
}

// statusField reads status. UNSPECIFIED is refused: it states no
// lifecycle, and "omit to keep current" is how orq keeps one.
func statusField(v keyward.Field[string]) (keyward.Field[keyward.KeyStatus], error) {
	return enumField("status", v, statuses, statusActive, statusDisabled, statusRevoked)
}

// modeField reads permission_mode; UNSPECIFIED is refused (orq's server
// rejects it on create, per its Terraform provider).
func modeField(v keyward.Field[string]) (keyward.Field[keyward.PermissionMode], error) {
	return enumField("permission_mode", v, modes, modeAll, modeReadOnly, modeRestricted)
}

// accessLevel is one level of an access map as a client sent it: orq's
// enum name (ACCESS_LEVEL_READ), or its protobuf number (0 NONE, 1 READ,
// 2 WRITE), which orq's Python SDK and its SDKs up to 4.12.22 send. Any
// other JSON value is kept as it came, for accessMap to refuse naming its
// domain.
type accessLevel struct {
	name string // a JSON string's value
	raw  string // any other JSON value's text
}

func (l *accessLevel) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &l.name)
	}
	l.raw = string(b)
	return nil
}

// access returns the level's keyward access; grant is false for
// ACCESS_LEVEL_NONE.
func (l accessLevel) access() (a keyward.Access, grant, ok bool) {
	switch {
	case l.name == accessNone || l.raw == "0":
		return "", false, true
	case l.name == accessRead || l.raw == "1":
		return keyward.AccessRead, true, true
	case l.name == accessWrite || l.raw == "2":
		return keyward.AccessWrite, true, true
	}
	return "", false, false
}

// accessMap turns orq's access map into keyward scopes on every object
// ("*"): ACCESS_LEVEL_NONE grants nothing and is dropped. It returns the
// scopes sorted by domain, and the domains in that order (to name them in
// errors).
func accessMap(m map[string]accessLevel) ([]keyward.Scope, []string, error) {
	domains := make([]string, 0, len(m))
	for d := range m {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	scopes := make([]keyward.Scope, 0, len(m))
	kept := make([]string, 0, len(m))
	for _, d := range domains {
		a, grant, ok := m[d].access()
		if !ok {
			return nil, nil, keyward.InvalidField("access."+d, "must be one of %s, %s, %s, or their numbers 0, 1, 2", accessNone, accessRead, accessWrite)
		}
		if !grant {
			continue
		}
		scopes = append(scopes, keyward.Scope{Resource: d, Access: a, Targets: []string{keyward.Wildcard}})
		kept = append(kept, d)
	}
	return scopes, kept, nil
}

// orqAccess renders a restricted key's explicit scopes as orq's access
// map. Only scopes on every object ("*") are shown: orq cannot express a
// grant on some objects, and showing it as the whole domain would widen it
// when a client writes the map back. Roles are not expanded either.
func orqAccess(k *keyward.Key) map[string]any {
	if k.PermissionMode != keyward.ModeRestricted {
		return nil
	}
	out := map[string]any{}
	for _, s := range k.Scopes {
		if !slices.Contains(s.Targets, keyward.Wildcard) {
			continue
		}
		level := accessRead
		if s.Access == keyward.AccessWrite {
			level = accessWrite
		}
		if out[s.Resource] != accessWrite {
			out[s.Resource] = level
		}
	}
	return out
}

// timestamp renders a time as protobuf's JSON mapping does: RFC 3339 in
// UTC, with 0 or 3 fractional digits (keyward keeps milliseconds).
func timestamp(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}

func optTimestamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return timestamp(*t)
}

// parseTimestamp reads an RFC 3339 timestamp from a body. zero reports the
// protobuf zero Timestamp (or Go's), which orq's PATCH reads as "no change".
func parseTimestamp(field, s string) (t time.Time, zero bool, err error) {
	t, err = time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, false, keyward.InvalidField(field, "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
	}
	return t, t.IsZero() || t.Equal(time.Unix(0, 0)), nil
}

// apiKey is orq's ApiKey. Unset optional members are omitted, as
// protobuf's JSON mapping does (generated clients reject null where the
// schema has none).
type apiKey struct {
	APIKeyID string `json:"api_key_id"`
	Name     string `json:"name"`
	keyCommon
	CreatedAt   string `json:"created_at"`
	UpdatedAt   string `json:"updated_at"`
	LastUsedAt  string `json:"last_used_at,omitempty"`
	ExpiresAt   string `json:"expires_at,omitempty"`
	LegacyKeyID string `json:"legacy_key_id,omitempty"`
}

// keyCommon are the members orq's ApiKey and its APIKeyRestResponse share,
// with the same names and values.
type keyCommon struct {
	Owner          owner          `json:"owner"`
	ProjectScope   projectScope   `json:"project_scope"`
	PermissionMode string         `json:"permission_mode"`
	Access         map[string]any `json:"access,omitzero"`
	TokenPrefix    string         `json:"token_prefix"`
	Status         string         `json:"status"`
	CreatedByID    string         `json:"created_by_id,omitempty"`
	UpdatedByID    string         `json:"updated_by_id,omitempty"`
}

// owner is orq's ApiKeyOwner oneof. keyward's account-owned keys are
// orq's workspace-owned service-account keys; a key owned by one of
// keyward's service accounts is shown as a service-account key too, with
// its id (orq's service_account member has none).
type owner struct {
	User           *userOwner           `json:"user,omitempty"`
	ServiceAccount *serviceAccountOwner `json:"service_account,omitempty"`
}

type userOwner struct {
	UserID string `json:"user_id"`
}

type serviceAccountOwner struct {
	ServiceAccountID string `json:"service_account_id,omitempty"`
}

// projectScope is orq's ProjectScope oneof.
type projectScope struct {
	All    *struct{}    `json:"all,omitempty"`
	Single *singleScope `json:"single,omitempty"`
}

type singleScope struct {
	ProjectID string `json:"project_id"`
}

// view renders a keyward API key as orq's ApiKey.
func view(k *keyward.Key) apiKey {
	v := apiKey{
		APIKeyID: orqKeyID(k.ID), Name: k.Name,
		keyCommon: keyCommon{
			PermissionMode: orqMode(k.PermissionMode), Access: orqAccess(k), TokenPrefix: k.Start, Status: orqStatus(k.Status),
			CreatedByID: orqKeyID(k.CreatedByID), UpdatedByID: orqKeyID(k.UpdatedByID),
		},
		CreatedAt: timestamp(k.CreatedAt), UpdatedAt: timestamp(k.UpdatedAt), LastUsedAt: optTimestamp(k.LastUsedAt),
		ExpiresAt: optTimestamp(k.ExpiresAt),
	}
	switch k.Owner.Type {
	case keyward.OwnerUser:
		v.Owner.User = &userOwner{UserID: k.Owner.ID}
	case keyward.OwnerServiceAccount:
		v.Owner.ServiceAccount = &serviceAccountOwner{ServiceAccountID: k.Owner.ID}
	default:
		v.Owner.ServiceAccount = &serviceAccountOwner{}
	}
	if k.ProjectID != nil {
		v.ProjectScope.Single = &singleScope{ProjectID: orqProjectID(*k.ProjectID)}
	} else {
		v.ProjectScope.All = &struct{}{}
	}
	if k.LegacyKeyID != nil {
		v.LegacyKeyID = *k.LegacyKeyID
	}
	return v
}

// keyResponse is {api_key} (get, update) and, with token, {api_key, token}
// (create, rotate).
type keyResponse struct {
	APIKey apiKey `json:"api_key"`
	Token  string `json:"token,omitempty"`
}

// listResponse is orq's ListApiKeysResponse.
type listResponse struct {
	Object  string   `json:"object"`
	Data    []apiKey `json:"data"`
	HasMore bool     `json:"has_more"`
}

// Request bodies. Members are keyward.Field so absent, null and a value
// stay apart (keyward's PATCH rule); nested objects are decoded strictly.

// ownerIn is ApiKeyOwner on create.
type ownerIn struct {
	User           keyward.Field[userIn]           `json:"user"`
	ServiceAccount keyward.Field[serviceAccountIn] `json:"service_account"`
}

type userIn struct {
	UserID string `json:"user_id"`
}

// serviceAccountIn is orq's empty service_account member; service_account_id
// (a keyward extension) names one of keyward's service accounts.
type serviceAccountIn struct {
	ServiceAccountID string `json:"service_account_id"`
}

type projectScopeIn struct {
	All    keyward.Field[struct{}]      `json:"all"`
	Single keyward.Field[singleScopeIn] `json:"single"`
}

type singleScopeIn struct {
	ProjectID string `json:"project_id"`
}

// mcpAccessIn is orq's McpAccess; keyward has no MCP gateways, so only the
// value meaning "no restriction" is accepted.
type mcpAccessIn struct {
	DenyAll              bool     `json:"deny_all"`
	AllowedMcpGatewayIDs []string `json:"allowed_mcp_gateway_ids"`
	ToolsetIDs           []string `json:"toolset_ids"`
	AllowedFilesystemIDs []string `json:"allowed_filesystem_ids"`
}

// createRequest is orq's CreateApiKeyRequest.
type createRequest struct {
	Name           keyward.Field[string]                 `json:"name"`
	Owner          keyward.Field[ownerIn]                `json:"owner"`
	ProjectScope   keyward.Field[projectScopeIn]         `json:"project_scope"`
	PermissionMode keyward.Field[string]                 `json:"permission_mode"`
	Access         keyward.Field[map[string]accessLevel] `json:"access"`
	ExpiresAt      keyward.Field[string]                 `json:"expires_at"`
	McpAccess      keyward.Field[mcpAccessIn]            `json:"mcp_access"`
	Labels         keyward.Field[map[string]*string]     `json:"labels"`
}

// updateRequest is orq's UpdateApiKeyRequest (its update page).
type updateRequest struct {
	Name           keyward.Field[string]                 `json:"name"`
	Status         keyward.Field[string]                 `json:"status"`
	PermissionMode keyward.Field[string]                 `json:"permission_mode"`
	Access         keyward.Field[map[string]accessLevel] `json:"access"`
	ProjectScope   keyward.Field[projectScopeIn]         `json:"project_scope"`
	ExpiresAt      keyward.Field[string]                 `json:"expires_at"`
	ClearExpiresAt keyward.Field[bool]                   `json:"clear_expires_at"`
	McpAccess      keyward.Field[mcpAccessIn]            `json:"mcp_access"`
}

// rotateRequest is the body of :rotate: api_key_id repeats the path's.
type rotateRequest struct {
	APIKeyID keyward.Field[string] `json:"api_key_id"`
}

// projectField turns project_scope into keyward's project_id: all is
// null (every project), single is the project's id.
func projectField(f keyward.Field[projectScopeIn]) (keyward.Field[string], error) {
	if !f.Set {
		return keyward.Field[string]{}, nil
	}
	if f.Null {
		return keyward.Field[string]{}, keyward.InvalidField("project_scope", `cannot be null; send {"all":{}} for every project`)
	}
	ps := f.Value
	switch {
	case ps.All.Set && ps.Single.Set:
		return keyward.Field[string]{}, keyward.InvalidField("project_scope", "set exactly one of all, single")
	case ps.All.HasValue():
		return keyward.Null[string](), nil
	case ps.Single.HasValue():
		id, ok := projectID(ps.Single.Value.ProjectID)
		if !ok {
			return keyward.Field[string]{}, keyward.InvalidField("project_scope.single.project_id", "must be a project id (proj_…)")
		}
		return keyward.Some(id), nil
	}
	return keyward.Field[string]{}, keyward.InvalidField("project_scope", `set exactly one of {"all":{}} or {"single":{"project_id":…}}`)
}

// ownerField turns ApiKeyOwner into keyward's owner. orq's default, and
// its service_account member, is a key of the workspace itself: keyward's
// account owner.
func ownerField(f keyward.Field[ownerIn]) (keyward.Field[keyward.Owner], error) {
	if !f.Set {
		return keyward.Field[keyward.Owner]{}, nil
	}
	if f.Null {
		return keyward.Field[keyward.Owner]{}, keyward.InvalidField("owner", "cannot be null; omit it for a service-account key")
	}
	o := f.Value
	switch {
	case o.User.Set && o.ServiceAccount.Set:
		return keyward.Field[keyward.Owner]{}, keyward.InvalidField("owner", "set exactly one of user, service_account")
	case o.User.HasValue():
		if !keyward.ValidID(keyward.PrefixUser, o.User.Value.UserID) {
			return keyward.Field[keyward.Owner]{}, keyward.InvalidField("owner.user.user_id", "must be a user id (usr_…)")
		}
		return keyward.Some(keyward.Owner{Type: keyward.OwnerUser, ID: o.User.Value.UserID}), nil
	case o.ServiceAccount.HasValue():
		if id := o.ServiceAccount.Value.ServiceAccountID; id != "" {
			if !keyward.ValidID(keyward.PrefixService, id) {
				return keyward.Field[keyward.Owner]{}, keyward.InvalidField("owner.service_account.service_account_id", "must be a service account id (sa_…)")
			}
			return keyward.Some(keyward.Owner{Type: keyward.OwnerServiceAccount, ID: id}), nil
		}
		return keyward.Some(keyward.Owner{Type: keyward.OwnerAccount}), nil
	}
	return keyward.Field[keyward.Owner]{}, keyward.InvalidField("owner", "set exactly one of user, service_account")
}

// checkMcpAccess refuses an MCP restriction keyward could not enforce:
// accepting it silently would leave the key wider than the client asked.
func checkMcpAccess(f keyward.Field[mcpAccessIn]) error {
	if !f.Set || f.Null {
		return nil
	}
	m := f.Value
	if m.DenyAll || len(m.AllowedMcpGatewayIDs) > 0 || len(m.ToolsetIDs) > 0 || len(m.AllowedFilesystemIDs) > 0 {
		return keyward.InvalidField("mcp_access", "MCP gateway restrictions are not supported by this server; omit mcp_access")
	}
	return nil
}

// labelsField turns orq's labels (create) into keyward's metadata: each
// label a member with its string value. {} sets none; null, as labels or
// as a label's value, is refused.
func labelsField(f keyward.Field[map[string]*string]) (keyward.Field[map[string]json.RawMessage], error) {
	switch {
	case f.Null:
		return keyward.Field[map[string]json.RawMessage]{}, keyward.InvalidField("labels", "cannot be null; omit it for no labels")
	case len(f.Value) == 0:
		return keyward.Field[map[string]json.RawMessage]{}, nil
	}
	md := make(map[string]json.RawMessage, len(f.Value))
	for n, v := range f.Value {
		if v == nil {
			return keyward.Field[map[string]json.RawMessage]{}, keyward.InvalidField("labels."+n, "must be a string")
		}
		md[n], _ = json.Marshal(*v) // a string always encodes
	}
	return keyward.Some(md), nil
}

// expiryField reads expires_at: null clears it (keyward's PATCH rule), the protobuf
// zero Timestamp means "no change" (orq's update page).
func expiryField(f keyward.Field[string]) (keyward.Field[time.Time], error) {
	switch {
	case !f.Set:
		return keyward.Field[time.Time]{}, nil
	case f.Null:
		return keyward.Null[time.Time](), nil
	}
	t, zero, err := parseTimestamp("expires_at", f.Value)
	if err != nil || zero {
		return keyward.Field[time.Time]{}, err
	}
	return keyward.Some(t), nil
}
