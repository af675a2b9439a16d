package orq

import (
	"encoding/json"
	"net/http"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/compat/internal/kit"
)

// orq's API-key answers have changed shape while its requests stayed
// compatible, and its clients of each time expect their own: one dialect
// serves them all, under one base path per rendering. The routes, the
// request reading and every rule are shared; only the answers differ.
//
//   - seed: the shape of orq's REST reference (the update page): {api_key},
//     {api_key, token}, {object, data, has_more}, a JSON 200 on delete, enum
//     names. Served at /compat/orq.
//   - numeric: the same shape with access levels and domain groups as
//     protobuf enum numbers, which orq's SDKs up to 4.12.22 expect. Served
//     at /compat/orq/numeric.
//   - current: orq's APIKeyRestResponse, flat, a bare array for the list,
//     204 on delete, which orq's SDKs from 4.13.1 expect. Served at
//     /compat/orq/current.
type rendering interface {
	// key is a key's answer to get and update; created the answer to
	// create and rotate, with the new token.
	key(k *keyward.Key) any
	created(k *keyward.Key, token string) any
	// list is a page of keys, newest first; more says whether more keys
	// lie in the direction of travel.
	list(keys []*keyward.Key, more bool) any
	// deleted writes the answer to a delete.
	deleted(w http.ResponseWriter, r *http.Request) error
	// group is a capability domain's group (orq's name, such as
	// DOMAIN_GROUP_PLATFORM) as the rendering shows it; nil omits it.
	group(name string) any
}

// renderings are the base paths under the mount point (before
// /v2/api-keys) and their renderings.
var renderings = []struct {
	path   string
	render rendering
}{
	{"", seed{}},
	{"/numeric", seed{numbers: true}},
	{"/current", current{}},
}

// seed renders orq's ApiKey in its envelopes; numbers shows access levels
// and domain groups as protobuf enum numbers.
type seed struct{ numbers bool }

func (s seed) key(k *keyward.Key) any { return keyResponse{APIKey: s.view(k)} }

func (s seed) created(k *keyward.Key, token string) any {
	return keyResponse{APIKey: s.view(k), Token: token}
}

func (s seed) list(keys []*keyward.Key, more bool) any {
	out := listResponse{Object: "list", Data: make([]apiKey, 0, len(keys)), HasMore: more}
	for _, k := range keys {
		out.Data = append(out.Data, s.view(k))
	}
	return out
}

// deleted answers 200 {}: orq's empty message, which the REST reference
// and the SDKs up to 4.12.22 expect.
func (seed) deleted(w http.ResponseWriter, r *http.Request) error {
	return kit.WriteJSON(w, r, http.StatusOK, struct{}{})
}

func (s seed) group(name string) any {
	if s.numbers {
		return groupNumbers[name]
	}
	return name
}

func (s seed) view(k *keyward.Key) apiKey {
	v := view(k)
	if s.numbers && v.Access != nil {
		for d, l := range v.Access {
			v.Access[d] = levelNumbers[l.(string)]
		}
	}
	return v
}

// Protobuf's enum numbers of AccessLevel and DomainGroup.
var (
	levelNumbers = map[string]int{accessNone: 0, accessRead: 1, accessWrite: 2}
	groupNumbers = map[string]int{
		"DOMAIN_GROUP_UNSPECIFIED": 0, "DOMAIN_GROUP_WORKSPACE_ADMIN": 1, "DOMAIN_GROUP_PLATFORM": 2, "DOMAIN_GROUP_GATEWAY": 3,
	}
)

// current renders orq's APIKeyRestResponse.
type current struct{}

func (current) key(k *keyward.Key) any { return restView(k, maskedToken(k)) }

func (current) created(k *keyward.Key, token string) any { return restView(k, token) }

func (current) list(keys []*keyward.Key, _ bool) any {
	out := make([]restKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, restView(k, maskedToken(k)))
	}
	return out
}

// deleted answers 204 with no body, as the SDKs from 4.13.1 expect (a 200
// is "Unexpected response" to them).
func (current) deleted(w http.ResponseWriter, r *http.Request) error {
	return kit.WriteJSON(w, r, http.StatusNoContent, nil)
}

// group omits DOMAIN_GROUP_UNSPECIFIED: the current SDKs' DomainGroup
// has only the three groups, and group is optional.
func (current) group(name string) any {
	if groupNumbers[name] == 0 {
		return nil
	}
	return name
}

// restKey is orq's APIKeyRestResponse: id, name, workspace_id and token
// always; the members keyward has no value for (budget, consumption,
// constraints, mcp_access, source, is_legacy, legacy_token_family) are
// omitted, as protobuf's JSON mapping omits unset members.
type restKey struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	WorkspaceID string   `json:"workspace_id"`
	Token       string   `json:"token"`
	Active      bool     `json:"active"`
	Expiration  string   `json:"expiration,omitempty"`
	Projects    []string `json:"projects,omitempty"`
	Created     string   `json:"created"`
	Updated     string   `json:"updated"`
	keyCommon
	LegacyKeyID string            `json:"legacy_key_id,omitempty"`
	LastUsedAt  string            `json:"last_used_at,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// restView renders a key as APIKeyRestResponse, with token in its token
// member: the new token on create, else the masked one.
func restView(k *keyward.Key, token string) restKey {
	v := view(k)
	out := restKey{
		ID: v.APIKeyID, Name: v.Name, WorkspaceID: k.AccountID, Token: token, Active: k.Status == keyward.StatusActive,
		Expiration: v.ExpiresAt, Created: v.CreatedAt, Updated: v.UpdatedAt, keyCommon: v.keyCommon,
		LegacyKeyID: v.LegacyKeyID, LastUsedAt: v.LastUsedAt, Labels: labelsOf(k),
	}
	if v.ProjectScope.Single != nil {
		out.Projects = []string{v.ProjectScope.Single.ProjectID}
	}
	return out
}

// maskedToken stands for a token keyward cannot show again (it keeps only
// its hash): its start and its last 4 characters.
func maskedToken(k *keyward.Key) string { return k.Start + "..." + k.Last4 }

// labelsOf shows a key's metadata as orq's labels: its members whose
// value is a string (the labels a create set, and any such member set
// natively). Other members are not labels and are not shown.
func labelsOf(k *keyward.Key) map[string]string {
	var out map[string]string
	for n, raw := range k.Metadata {
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[n] = s
	}
	return out
}
