package keyward

import (
	"strings"
	"time"
	"unicode"
)

// Catalog template names. An account starts from one; its catalog can be
// edited afterwards.
const (
	TemplateDefault  = "default"
	TemplateOrq      = "orq"
	TemplateDiscue   = "discue"
	TemplatePulseCRM = "pulsecrm"
	TemplateVectara  = "vectara"
)

// Templates lists the template names accepted by CatalogTemplate.
func Templates() []string {
	return []string{TemplateDefault, TemplateOrq, TemplateDiscue, TemplatePulseCRM, TemplateVectara}
}

// CatalogTemplate returns the resources and roles a new account of the named
// template starts with, stamped with now, and whether the template exists.
// The vendor templates follow each vendor's documented permission model
// (docs/permissions.md lists the templates).
func CatalogTemplate(name string, now time.Time) ([]*Resource, []*Role, bool) {
	var (
		res   []Resource
		roles []Role
	)
	switch name {
	case TemplateDefault:
		res = defaultTemplate()
	case TemplateOrq:
		res = orqTemplate()
	case TemplateDiscue:
		res = discueTemplate()
	case TemplatePulseCRM:
		res = pulseTemplate()
	case TemplateVectara:
		res, roles = vectaraTemplate()
	default:
		return nil, nil, false
	}
	// Every call returns fresh values: callers may change them.
	outR := make([]*Resource, len(res))
	for i := range res {
		r := res[i]
		r.ProjectScopes = cloneSlice(r.ProjectScopes)
		r.CreatedAt, r.UpdatedAt = now, now
		outR[i] = &r
	}
	outRoles := make([]*Role, len(roles))
	for i := range roles {
		r := roles[i]
		r.Scopes = CloneScopes(r.Scopes)
		r.CreatedAt, r.UpdatedAt, r.Version = now, now, 1
		outRoles[i] = &r
	}
	return outR, outRoles, true
}

func bothProjects() []string { return []string{ProjectScopeAll, ProjectScopeSingle} }
func allProjects() []string  { return []string{ProjectScopeAll} }

// defaultTemplate is a small, neutral example catalog: a few data resources
// any API has, one read-only resource, one write-only action, and a
// protected billing resource.
func defaultTemplate() []Resource {
	return []Resource{
		{ID: "documents", DisplayName: "Documents", Group: "data", Description: "Documents stored through the API", Readable: true, Writable: true, ProjectScopes: bothProjects()},
		{ID: "files", DisplayName: "Files", Group: "data", Description: "Uploaded files", Readable: true, Writable: true, ProjectScopes: bothProjects()},
		{ID: "search", DisplayName: "Search", Group: "data", Description: "Search queries over documents", Readable: true, Writable: false, ProjectScopes: bothProjects()},
		{ID: "webhooks", DisplayName: "Webhooks", Group: "integration", Description: "Webhook endpoints and deliveries", Readable: true, Writable: true, ProjectScopes: bothProjects()},
		{ID: "events", DisplayName: "Events", Group: "integration", Description: "Publishing events (write-only)", Readable: false, Writable: true, ProjectScopes: bothProjects()},
		{ID: "usage", DisplayName: "Usage", Group: "account", Description: "Usage reports of the account", Readable: true, Writable: false, ProjectScopes: allProjects()},
		{ID: "billing", DisplayName: "Billing", Group: "account", Description: "Payment methods and invoices; protected: never granted to API keys", Readable: true, Writable: true, ProjectScopes: allProjects(), Protected: true},
	}
}

// Group names of the orq template, from orq's DomainGroup enum.
const (
	OrqGroupWorkspaceAdmin = "workspace_admin"
	OrqGroupPlatform       = "platform"
	OrqGroupGateway        = "gateway"
)

// orqTemplate is orq.ai's capability catalog: the domains its API schema
// lists, in its three groups. Workspace-admin domains only go to keys of
// all projects (orq: member is ALL-only); the ones that act on the
// workspace's credentials or billing (api-key, billing, sso) are protected.
// Gateway endpoints are write-only (execute) except model, which is read-only.
func orqTemplate() []Resource {
	var out []Resource
	admin := map[string]bool{"api-key": true, "billing": true, "sso": true}
	for _, id := range []string{"api-key", "member", "billing", "sso", "group", "audit-log", "workspace"} {
		out = append(out, Resource{ID: id, DisplayName: displayName(id), Group: OrqGroupWorkspaceAdmin,
			Description: "Workspace administration: " + displayName(id),
			Readable:    true, Writable: id != "audit-log", ProjectScopes: allProjects(), Protected: admin[id]})
	}
	for _, id := range []string{"agent", "agent-schedule", "annotation", "chunking", "dataset", "deployment", "eval", "file",
		"guardrail-rule", "identity", "knowledge", "memory-store", "policy", "project", "prompt", "routing-rule", "skill", "tool"} {
		out = append(out, Resource{ID: id, DisplayName: plural(displayName(id)), Group: OrqGroupPlatform,
			Description: "Platform: " + plural(displayName(id)), Readable: true, Writable: true, ProjectScopes: bothProjects()})
	}
	for _, id := range []string{"chat_completions", "embeddings", "responses", "moderations", "images", "audio_speech",
		"audio_transcription", "realtime", "model"} {
		out = append(out, Resource{ID: id, DisplayName: displayName(id), Group: OrqGroupGateway,
			Description: "Gateway endpoint: " + displayName(id),
			Readable:    id == "model", Writable: id != "model", ProjectScopes: bothProjects()})
	}
	return out
}

// discueTemplate is discue.io's scope resources, both the documented enum
// and the newer ones its Terraform provider sets; api_clients, api_keys and
// subscriptions are protected ("cannot be set via API").
func discueTemplate() []Resource {
	protected := map[string]bool{"api_clients": true, "api_keys": true, "subscriptions": true}
	ids := []string{"api_clients", "api_keys", "channels", "domains", "events", "listeners", "messages", "queues", "schemas", "stats", "subscriptions", "topics"}
	out := make([]Resource, 0, len(ids))
	for _, id := range ids {
		group := "messaging"
		if protected[id] {
			group = "organization"
		}
		out = append(out, Resource{ID: id, DisplayName: displayName(id), Group: group, Description: "discue " + displayName(id),
			Readable: true, Writable: true, ProjectScopes: bothProjects(), Protected: protected[id]})
	}
	return out
}

// pulseTemplate is PulseCRM's flat permissions read<X>/write<X>: each
// resource here is X in snake case (readApplications = applications:read).
// api_keys (writeApiKeys) is protected: API keys cannot manage keys.
func pulseTemplate() []Resource {
	specs := []struct {
		id, name, group string
		protected       bool
	}{
		{"applications", "Applications", "crm", false},
		{"merchants", "Merchants", "crm", false},
		{"crm", "CRM", "crm", false},
		{"support", "Support", "support", false},
		{"api_keys", "API keys", "administration", true},
	}
	out := make([]Resource, 0, len(specs))
	for _, s := range specs {
		out = append(out, Resource{ID: s.id, DisplayName: s.name, Group: s.group, Description: "PulseCRM " + s.name,
			Readable: true, Writable: true, ProjectScopes: allProjects(), Protected: s.protected})
	}
	return out
}

// vectaraTemplate models Vectara's API-key roles: corpus read is querying,
// corpus write is indexing (and, since write includes read, querying);
// targets are corpus keys. The roles serving, serving_and_indexing and
// personal carry Vectara's documented meaning; account-level resources a
// personal key may not touch (billing, users, api_keys) are protected.
func vectaraTemplate() ([]Resource, []Role) {
	res := []Resource{
		{ID: "corpus", DisplayName: "Corpora", Group: "corpora", Description: "read: query a corpus; write: index into it (and query)", Readable: true, Writable: true, ProjectScopes: bothProjects()},
		{ID: "agents", DisplayName: "Agents", Group: "agents", Description: "Vectara agents", Readable: true, Writable: true, ProjectScopes: bothProjects()},
		{ID: "pipelines", DisplayName: "Pipelines", Group: "pipelines", Description: "Ingestion pipelines", Readable: true, Writable: true, ProjectScopes: bothProjects()},
		{ID: "billing", DisplayName: "Billing", Group: "account", Description: "Billing data; protected", Readable: true, Writable: true, ProjectScopes: allProjects(), Protected: true},
		{ID: "users", DisplayName: "Users", Group: "account", Description: "Users of the account; protected", Readable: true, Writable: true, ProjectScopes: allProjects(), Protected: true},
		{ID: "api_keys", DisplayName: "API keys", Group: "account", Description: "API keys; protected", Readable: true, Writable: true, ProjectScopes: allProjects(), Protected: true},
	}
	all := []string{Wildcard}
	desc := func(s string) *string { return &s }
	roles := []Role{
		{Name: "serving", Description: desc("query-type requests on its corpora"),
			Scopes: []Scope{{Resource: "corpus", Access: AccessRead, Targets: all}}},
		{Name: "serving_and_indexing", Description: desc("indexing and query-type requests on its corpora"),
			Scopes: []Scope{{Resource: "corpus", Access: AccessWrite, Targets: all}}},
		{Name: "personal", Description: desc("the same permissions as the creator of the key (bounded by the owner's roles)"),
			Scopes: []Scope{{Resource: "agents", Access: AccessWrite, Targets: all}, {Resource: "corpus", Access: AccessWrite, Targets: all},
				{Resource: "pipelines", Access: AccessWrite, Targets: all}}},
	}
	return res, roles
}

// displayName turns a resource id into words: "guardrail-rule" → "Guardrail rule".
func displayName(id string) string {
	s := strings.NewReplacer("-", " ", "_", " ", ".", " ").Replace(id)
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	s = string(r)
	for _, up := range []string{"Api ", "Sso"} {
		s = strings.Replace(s, up, strings.ToUpper(up), 1)
	}
	return s
}

func plural(s string) string {
	switch {
	case strings.HasSuffix(s, "y") && !strings.HasSuffix(s, "ey"):
		return s[:len(s)-1] + "ies"
	case strings.HasSuffix(s, "s"):
		return s
	case s == "Knowledge" || s == "Chunking" || s == "Identity":
		return s
	}
	return s + "s"
}
