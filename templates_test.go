package keyward

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// dtTpl loads a template that must exist.
func dtTpl(t testing.TB, name string) ([]*Resource, []*Role) {
	t.Helper()
	res, roles, ok := CatalogTemplate(name, dtNow)
	if !ok {
		t.Fatalf("CatalogTemplate(%q) does not exist", name)
	}
	return res, roles
}

// dtTplIDs returns the sorted ids of the resources that pass keep.
func dtTplIDs(res []*Resource, keep func(r *Resource) bool) []string {
	var out []string
	for _, r := range res {
		if keep(r) {
			out = append(out, r.ID)
		}
	}
	sort.Strings(out)
	return out
}

func dtTplSorted(ids ...string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return out
}

func TestDtTemplatesList(t *testing.T) {
	want := []string{"default", "orq", "discue", "pulsecrm", "vectara"}
	if got := Templates(); !slices.Equal(got, want) {
		t.Fatalf("Templates() = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "Default", "ORQ", "stripe", "orq ", "discue.io"} {
		if res, roles, ok := CatalogTemplate(bad, dtNow); ok || res != nil || roles != nil {
			t.Errorf("CatalogTemplate(%q) = %d resources, %d roles, %v; want nothing", bad, len(res), len(roles), ok)
		}
	}
}

// Every template is a catalog the rest of keyward can use: valid, unique
// ids; resources that can be granted at some level and to some keys; roles
// whose scopes pass the same checks a role created through the API does.
func TestDtTemplatesWellFormed(t *testing.T) {
	for _, name := range Templates() {
		t.Run(name, func(t *testing.T) {
			at := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
			res, roles, ok := CatalogTemplate(name, at)
			if !ok || len(res) == 0 {
				t.Fatalf("template %s has no resources (ok %v)", name, ok)
			}
			seen := map[string]bool{}
			for _, r := range res {
				if !ValidResourceID(r.ID) {
					t.Errorf("resource id %q is not valid", r.ID)
				}
				if seen[r.ID] {
					t.Errorf("resource %q twice", r.ID)
				}
				seen[r.ID] = true
				if !r.Readable && !r.Writable {
					t.Errorf("resource %q can be granted at no level", r.ID)
				}
				if len(r.ProjectScopes) == 0 {
					t.Errorf("resource %q has no project scopes", r.ID)
				}
				for _, ps := range r.ProjectScopes {
					if ps != ProjectScopeAll && ps != ProjectScopeSingle {
						t.Errorf("resource %q has project scope %q", r.ID, ps)
					}
				}
				if !slices.Contains(r.ProjectScopes, ProjectScopeAll) {
					t.Errorf("resource %q cannot be granted to keys of all projects", r.ID)
				}
				if CheckText(r.DisplayName, MaxNameLen, true) != "" || CheckText(r.Group, MaxNameLen, true) != "" {
					t.Errorf("resource %q: display name %q, group %q", r.ID, r.DisplayName, r.Group)
				}
				if CheckText(r.Description, MaxDescriptionLen, true) != "" {
					t.Errorf("resource %q: description %q", r.ID, r.Description)
				}
				if !r.CreatedAt.Equal(at) || !r.UpdatedAt.Equal(at) {
					t.Errorf("resource %q stamped %v/%v, want %v", r.ID, r.CreatedAt, r.UpdatedAt, at)
				}
			}
			cat := NewCatalog(res)
			// Every non-protected resource can be granted to an API key at
			// each level it supports.
			for _, r := range res {
				if r.Protected {
					continue
				}
				for _, a := range []Access{AccessRead, AccessWrite} {
					if r.Supports(a) {
						if errs := CheckScopes("scopes", []Scope{dtScope(r.ID, a)}, cat, false); len(errs) > 0 {
							t.Errorf("granting %s:%s: %v", r.ID, a, errs)
						}
					}
				}
			}
			roleNames := map[string]bool{}
			for _, role := range roles {
				if !ValidRoleName(role.Name) || roleNames[role.Name] {
					t.Errorf("role name %q is not valid or repeated", role.Name)
				}
				roleNames[role.Name] = true
				if errs := CheckScopes("scopes", role.Scopes, cat, false); len(errs) > 0 {
					t.Errorf("role %s: its scopes fail against its own catalog: %v", role.Name, errs)
				}
				// The same role created through the rules.
				in := RoleFields{Name: Some(role.Name), Scopes: Some(CloneScopes(role.Scopes))}
				if role.Description != nil {
					in.Description = Some(*role.Description)
				}
				if err := ApplyRole(&Role{}, &in, cat, true); err != nil {
					t.Errorf("role %s cannot be created through ApplyRole: %v", role.Name, err)
				}
				if role.Version != 1 || !role.CreatedAt.Equal(at) || !role.UpdatedAt.Equal(at) {
					t.Errorf("role %s: version %d, times %v/%v", role.Name, role.Version, role.CreatedAt, role.UpdatedAt)
				}
				if role.AccountID != "" {
					t.Errorf("role %s already belongs to account %q", role.Name, role.AccountID)
				}
			}
		})
	}
}

// Each call returns fresh objects that share no memory with each other or
// with another call: an edit of one account's catalog (or of one resource)
// must not leak into another. Checked by address, without writing, so a
// failure cannot poison the templates for the other tests.
func TestDtTemplatesFreshCopies(t *testing.T) {
	for _, name := range Templates() {
		res1, roles1 := dtTpl(t, name)
		res2, roles2 := dtTpl(t, name)
		owner := map[*string]string{}
		var shared []string
		claim := func(s []string, who string) {
			if len(s) == 0 {
				return
			}
			p := &s[:cap(s)][cap(s)-1] // the end of the backing array
			if prev, dup := owner[p]; dup {
				shared = append(shared, who+" with "+prev)
				return
			}
			owner[p] = who
		}
		for call, res := range [][]*Resource{res1, res2} {
			for _, r := range res {
				claim(r.ProjectScopes, fmt.Sprintf("call %d resource %s project_scopes", call+1, r.ID))
			}
		}
		for call, roles := range [][]*Role{roles1, roles2} {
			for _, r := range roles {
				for i, s := range r.Scopes {
					claim(s.Targets, fmt.Sprintf("call %d role %s scopes[%d].targets", call+1, r.Name, i))
				}
			}
		}
		if len(shared) > 0 {
			t.Errorf("template %s: %d slices share memory, e.g. %s", name, len(shared), strings.Join(shared[:min(2, len(shared))], "; "))
		}
		for i := range res1 {
			if res1[i] == res2[i] {
				t.Errorf("template %s: resource %s is the same object in two calls", name, res1[i].ID)
			}
		}
	}
}

func TestDtTemplateDefault(t *testing.T) {
	res, roles := dtTpl(t, TemplateDefault)
	if len(roles) != 0 {
		t.Errorf("default template has roles %v", roles)
	}
	if got := dtTplIDs(res, func(r *Resource) bool { return r.Protected }); !slices.Equal(got, []string{"billing"}) {
		t.Errorf("protected = %v, want [billing]", got)
	}
	// One of each kind, so the modes differ on the default catalog.
	if got := dtTplIDs(res, func(r *Resource) bool { return r.Readable && !r.Writable }); len(got) == 0 {
		t.Error("no read-only resource")
	}
	if got := dtTplIDs(res, func(r *Resource) bool { return r.Writable && !r.Readable }); len(got) == 0 {
		t.Error("no write-only resource")
	}
}

// orq.ai's capability catalog (its API schema): the domains of
// the API schema in their three groups.
func TestDtTemplateOrq(t *testing.T) {
	res, roles := dtTpl(t, TemplateOrq)
	if len(roles) != 0 {
		t.Errorf("orq template has roles %v", roles)
	}
	groups := map[string][]string{
		OrqGroupWorkspaceAdmin: dtTplSorted("api-key", "member", "billing", "sso", "group", "audit-log", "workspace"),
		OrqGroupPlatform: dtTplSorted("agent", "agent-schedule", "annotation", "chunking", "dataset", "deployment", "eval", "file",
			"guardrail-rule", "identity", "knowledge", "memory-store", "policy", "project", "prompt", "routing-rule", "skill", "tool"),
		OrqGroupGateway: dtTplSorted("chat_completions", "embeddings", "responses", "moderations", "images", "audio_speech",
			"audio_transcription", "realtime", "model"),
	}
	total := 0
	for g, want := range groups {
		total += len(want)
		if got := dtTplIDs(res, func(r *Resource) bool { return r.Group == g }); !slices.Equal(got, want) {
			t.Errorf("group %s = %v\nwant %v", g, got, want)
		}
	}
	if len(res) != total {
		t.Errorf("%d resources, want %d (only the three groups)", len(res), total)
	}
	if got := dtTplIDs(res, func(r *Resource) bool { return r.Protected }); !slices.Equal(got, []string{"api-key", "billing", "sso"}) {
		t.Errorf("protected = %v, want [api-key billing sso]", got)
	}
	for _, r := range res {
		switch r.Group {
		case OrqGroupWorkspaceAdmin:
			// orq: member is ALL-only; workspace administration never goes
			// to a single-project key.
			if !slices.Equal(r.ProjectScopes, []string{ProjectScopeAll}) {
				t.Errorf("workspace-admin %s has project scopes %v, want [all]", r.ID, r.ProjectScopes)
			}
			if !r.Readable {
				t.Errorf("workspace-admin %s is not readable", r.ID)
			}
		case OrqGroupPlatform:
			if !r.Readable || !r.Writable || !r.AllowsSingleProject() {
				t.Errorf("platform %s: readable %v writable %v scopes %v", r.ID, r.Readable, r.Writable, r.ProjectScopes)
			}
		case OrqGroupGateway:
			// The UI disables Read for write-only gateway endpoints and
			// Write for the read-only model.
			if r.Readable != (r.ID == "model") || r.Writable != (r.ID != "model") {
				t.Errorf("gateway %s: readable %v writable %v", r.ID, r.Readable, r.Writable)
			}
		}
	}
	cat := NewCatalog(res)
	// orq's access map examples: {agent: WRITE, deployment: READ} on a
	// single-project key, gateway execution.
	ok := []Scope{dtScope("agent", AccessWrite), dtScope("deployment", AccessRead), dtScope("chat_completions", AccessWrite), dtScope("model", AccessRead)}
	if errs := CheckScopes("scopes", ok, cat, true); len(errs) > 0 {
		t.Errorf("orq example scopes refused: %v", errs)
	}
	bad := []Scope{dtScope("member", AccessRead), dtScope("api-key", AccessWrite), dtScope("model", AccessWrite), dtScope("embeddings", AccessRead), dtScope("agents", AccessWrite)}
	errs := CheckScopes("scopes", bad, cat, true)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	sort.Strings(fields)
	want := []string{"scopes[0].resource", "scopes[1].resource", "scopes[1].resource", "scopes[2].access", "scopes[3].access", "scopes[4].resource"}
	if !slices.Equal(fields, want) {
		t.Errorf("orq refusals = %v\nwant %v (member all-projects only; api-key protected and all-projects only; model read-only; embeddings write-only; plural ids unknown)", fields, want)
	}
}

// discue's scope resources (its API reference): the documented enum and the
// Terraform provider's, with the three the API refuses to set protected.
func TestDtTemplateDiscue(t *testing.T) {
	res, roles := dtTpl(t, TemplateDiscue)
	if len(roles) != 0 {
		t.Errorf("discue template has roles %v", roles)
	}
	documented := []string{"api_clients", "api_keys", "events", "queues", "listeners", "messages", "schemas", "stats", "subscriptions"}
	terraform := []string{"api_clients", "channels", "domains", "events", "listeners", "messages", "queues", "schemas", "stats", "subscriptions", "topics"}
	union := dtTplSorted(slices.Compact(dtTplSorted(append(slices.Clone(documented), terraform...)...))...)
	if got := dtTplIDs(res, func(*Resource) bool { return true }); !slices.Equal(got, union) {
		t.Errorf("resources = %v\nwant %v", got, union)
	}
	if got := dtTplIDs(res, func(r *Resource) bool { return r.Protected }); !slices.Equal(got, []string{"api_clients", "api_keys", "subscriptions"}) {
		t.Errorf("protected = %v, want [api_clients api_keys subscriptions]", got)
	}
	for _, r := range res {
		// discue scopes are read or write on any resource, with targets.
		if !r.Readable || !r.Writable {
			t.Errorf("%s: readable %v writable %v", r.ID, r.Readable, r.Writable)
		}
	}
	cat := NewCatalog(res)
	// The TF provider's settable resources all pass; targets are object ids.
	var scopes []Scope
	for _, id := range []string{"channels", "domains", "events", "listeners", "messages", "queues", "schemas", "stats", "topics"} {
		scopes = append(scopes, dtScope(id, AccessWrite, "V1StGXR8_Z5jdHi6B-myT"))
	}
	if errs := CheckScopes("scopes", scopes, cat, false); len(errs) > 0 {
		t.Errorf("discue settable scopes refused: %v", errs)
	}
	for _, id := range []string{"api_clients", "api_keys", "subscriptions"} {
		errs := CheckScopes("scopes", []Scope{dtScope(id, AccessRead)}, cat, false)
		if len(errs) != 1 || errs[0].Field != "scopes[0].resource" || !strings.Contains(errs[0].Message, "protected") {
			t.Errorf("granting protected %s: %v", id, errs)
		}
	}
}

// PulseCRM's flat permissions read<X>/write<X> map to resource X in
// snake case at read or write; writeApiKeys is protected.
func TestDtTemplatePulseCRM(t *testing.T) {
	res, roles := dtTpl(t, TemplatePulseCRM)
	if len(roles) != 0 {
		t.Errorf("pulsecrm template has roles %v", roles)
	}
	if got := dtTplIDs(res, func(*Resource) bool { return true }); !slices.Equal(got, dtTplSorted("applications", "merchants", "crm", "support", "api_keys")) {
		t.Errorf("resources = %v", got)
	}
	if got := dtTplIDs(res, func(r *Resource) bool { return r.Protected }); !slices.Equal(got, []string{"api_keys"}) {
		t.Errorf("protected = %v, want [api_keys]", got)
	}
	cat := NewCatalog(res)
	// The permission names the docs show, and the scope each becomes.
	for perm, scope := range map[string]Scope{
		"readApplications":  dtScope("applications", AccessRead),
		"writeApplications": dtScope("applications", AccessWrite),
		"readMerchants":     dtScope("merchants", AccessRead),
		"writeMerchants":    dtScope("merchants", AccessWrite),
		"readSupport":       dtScope("support", AccessRead),
		"readCRM":           dtScope("crm", AccessRead),
	} {
		if errs := CheckScopes("scopes", []Scope{scope}, cat, false); len(errs) > 0 {
			t.Errorf("%s as %s:%s refused: %v", perm, scope.Resource, scope.Access, errs)
		}
	}
	if errs := CheckScopes("scopes", []Scope{dtScope("api_keys", AccessWrite)}, cat, false); len(errs) != 1 {
		t.Errorf("writeApiKeys granted to an API key: %v", errs)
	}
	for _, r := range res {
		if !r.Readable || !r.Writable {
			t.Errorf("%s: readable %v writable %v (every permission has read and write)", r.ID, r.Readable, r.Writable)
		}
	}
}

// Vectara's key roles: serving queries corpora, serving_and_indexing
// also indexes, personal acts as its creator (bounded by the owner's roles).
func TestDtTemplateVectara(t *testing.T) {
	res, roles := dtTpl(t, TemplateVectara)
	cat := NewCatalog(res)
	if r := cat["corpus"]; r == nil || !r.Readable || !r.Writable || !r.AllowsSingleProject() {
		t.Fatalf("corpus resource = %+v", r)
	}
	if got := dtTplIDs(res, func(r *Resource) bool { return r.Protected }); !slices.Equal(got, []string{"api_keys", "billing", "users"}) {
		t.Errorf("protected = %v, want [api_keys billing users] (what a personal key may not touch)", got)
	}
	byName := map[string]*Role{}
	for _, r := range roles {
		byName[r.Name] = r
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"personal", "serving", "serving_and_indexing"}) {
		t.Fatalf("roles = %v, want [personal serving serving_and_indexing]", names)
	}
	for _, r := range roles {
		if r.Description == nil || *r.Description == "" {
			t.Errorf("role %s has no description", r.Name)
		}
	}
	allows := func(role string, atoms ...string) string {
		g := NewGrants(EffectiveScopes(&Key{PermissionMode: ModeRestricted}, cat, byName[role].Scopes))
		var out []string
		for _, a := range atoms {
			parts := strings.SplitN(a, ":", 3)
			target := ""
			if len(parts) == 3 {
				target = parts[2]
			}
			out = append(out, fmt.Sprintf("%s=%v", a, g.Allows(parts[0], Access(parts[1]), target)))
		}
		return strings.Join(out, " ")
	}
	atoms := []string{"corpus:read", "corpus:read:my-corpus_1", "corpus:write", "corpus:write:my-corpus_1", "agents:read", "billing:read", "users:write", "api_keys:read"}
	for role, want := range map[string]string{
		"serving":              "corpus:read=true corpus:read:my-corpus_1=true corpus:write=false corpus:write:my-corpus_1=false agents:read=false billing:read=false users:write=false api_keys:read=false",
		"serving_and_indexing": "corpus:read=true corpus:read:my-corpus_1=true corpus:write=true corpus:write:my-corpus_1=true agents:read=false billing:read=false users:write=false api_keys:read=false",
		"personal":             "corpus:read=true corpus:read:my-corpus_1=true corpus:write=true corpus:write:my-corpus_1=true agents:read=true billing:read=false users:write=false api_keys:read=false",
	} {
		if got := allows(role, atoms...); got != want {
			t.Errorf("role %s:\n got  %s\n want %s", role, got, want)
		}
	}
	// A key bound to listed corpora (Vectara corpus_keys) is a restricted
	// key with corpus targets; the role's wildcard does not widen it when
	// the owner holds only the role.
	key := []Scope{dtScope("corpus", AccessRead, "c1", "c2")}
	if errs := CheckScopes("scopes", key, cat, true); len(errs) > 0 {
		t.Fatalf("corpus key scopes refused: %v", errs)
	}
	g := NewGrants(IntersectScopes(key, byName["serving_and_indexing"].Scopes))
	if !g.Allows("corpus", AccessRead, "c1") || g.Allows("corpus", AccessRead, "c3") || g.Allows("corpus", AccessWrite, "c1") {
		t.Error("a corpus-bound key bounded by serving_and_indexing grants more or less than read on its corpora")
	}
}
