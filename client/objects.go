package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward"
)

// PutResourceResult is a catalog resource as PUT left it.
type PutResourceResult struct {
	keyward.Resource
	// Created is set when the resource did not exist before (201).
	Created bool `json:"-"`
}

// AuditListParams are the filters and cursor of GET /v1/audit-events.
type AuditListParams struct {
	Limit         int
	StartingAfter string
	EndingBefore  string

	TargetID string
	ActorID  string
	Action   string    // such as "key.updated"
	Since    time.Time // inclusive; zero: none
	Until    time.Time // exclusive; zero: none
}

func (p *AuditListParams) values() url.Values {
	q := url.Values{}
	if p == nil {
		return q
	}
	setPage(q, p.Limit, p.StartingAfter, p.EndingBefore)
	setStr(q, "target_id", p.TargetID)
	setStr(q, "actor_id", p.ActorID)
	setStr(q, "action", p.Action)
	setTime(q, "since", p.Since)
	setTime(q, "until", p.Until)
	return q
}

const (
	projectsPath = "/v1/projects"
	catalogPath  = "/v1/catalog"
	auditPath    = "/v1/audit-events"
)

// ---- projects (keys:read / keys:write) ----

// CreateProject creates a project (names unique: 409 duplicate).
func (c *Client) CreateProject(ctx context.Context, in *keyward.ProjectFields, opts ...CallOption) (*Project, error) {
	return send[Project](ctx, c, http.MethodPost, segs(projectsPath), nil, fieldsBody(in), opts)
}

// ListProjects returns one page of projects, newest first.
func (c *Client) ListProjects(ctx context.Context, p *PageParams, opts ...CallOption) (*Page[Project], error) {
	return send[Page[Project]](ctx, c, http.MethodGet, segs(projectsPath), p.values(), nil, opts)
}

// ProjectsPager returns a pager over every project.
func (c *Client) ProjectsPager(p *PageParams, opts ...CallOption) *Pager[Project] {
	return newPager(c, projectsPath, p.values(), opts, func(p *Project) string { return p.ID })
}

// GetProject returns a project.
func (c *Client) GetProject(ctx context.Context, id string, opts ...CallOption) (*Project, error) {
	return send[Project](ctx, c, http.MethodGet, segs(projectsPath, id), nil, nil, opts)
}

// UpdateProject applies a partial update (keyward.Null clears the
// description). Honours IfMatch.
func (c *Client) UpdateProject(ctx context.Context, id string, in *keyward.ProjectFields, opts ...CallOption) (*Project, error) {
	return send[Project](ctx, c, http.MethodPatch, segs(projectsPath, id), nil, fieldsBody(in), opts)
}

// DeleteProject deletes a project and revokes every key scoped to it.
// Honours IfMatch.
func (c *Client) DeleteProject(ctx context.Context, id string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(projectsPath, id)}, opts)
	return err
}

// ---- catalog (catalog:read / catalog:write) ----

// GetCatalog returns the account's catalog.
func (c *Client) GetCatalog(ctx context.Context, opts ...CallOption) (*Catalog, error) {
	return send[Catalog](ctx, c, http.MethodGet, segs(catalogPath), nil, nil, opts)
}

// PutResource creates or replaces a catalog resource. A change that would
// break a grant a key holds is 409 resource_in_use (key_ids, key_count,
// role_names details).
func (c *Client) PutResource(ctx context.Context, id string, in *keyward.ResourceFields, opts ...CallOption) (*PutResourceResult, error) {
	var out PutResourceResult
	res, err := c.do(ctx, request{method: http.MethodPut, path: segs(catalogPath, "resources", id), body: fieldsBody(in), out: &out.Resource}, opts)
	if err != nil {
		return nil, err
	}
	out.Created = res.StatusCode == http.StatusCreated
	return &out, nil
}

// DeleteResource removes a catalog resource (409 resource_in_use while
// keys or roles hold it).
func (c *Client) DeleteResource(ctx context.Context, id string, opts ...CallOption) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: segs(catalogPath, "resources", id)}, opts)
	return err
}

// ---- audit log (audit:read) ----

// ListAuditEvents returns one page of audit events, newest first.
func (c *Client) ListAuditEvents(ctx context.Context, p *AuditListParams, opts ...CallOption) (*Page[AuditEvent], error) {
	return send[Page[AuditEvent]](ctx, c, http.MethodGet, segs(auditPath), p.values(), nil, opts)
}

// AuditEventsPager returns a pager over every audit event matching p.
func (c *Client) AuditEventsPager(p *AuditListParams, opts ...CallOption) *Pager[AuditEvent] {
	return newPager(c, auditPath, p.values(), opts, func(e *AuditEvent) string { return e.ID })
}

// ---- health, no credential needed ----

// Health checks liveness (GET /healthz): Status "ok".
func (c *Client) Health(ctx context.Context, opts ...CallOption) (*Status, error) {
	return send[Status](ctx, c, http.MethodGet, segs("/healthz"), nil, nil, opts)
}

// Ready checks readiness (GET /readyz): Status "ready" when the database
// answers; otherwise a 503 unavailable *Error with RetryAfter.
func (c *Client) Ready(ctx context.Context, opts ...CallOption) (*Status, error) {
	return send[Status](ctx, c, http.MethodGet, segs("/readyz"), nil, nil, opts)
}

// Metrics returns the server's Prometheus metrics in the text exposition
// format (GET /metrics, no credential). A server without metrics answers
// 404 not_found.
func (c *Client) Metrics(ctx context.Context, opts ...CallOption) ([]byte, error) {
	res, err := c.do(ctx, request{method: http.MethodGet, path: segs("/metrics"), accept: "text/plain"}, opts)
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// OpenAPI returns the server's OpenAPI 3 document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context, opts ...CallOption) (json.RawMessage, error) {
	res, err := c.do(ctx, request{method: http.MethodGet, path: segs("/openapi.json")}, opts)
	if err != nil {
		return nil, err
	}
	if !json.Valid(res.Body) {
		return nil, &Error{Method: http.MethodGet, Path: "/openapi.json", StatusCode: res.StatusCode, RequestID: res.RequestID,
			Err: keyward.Errorf(keyward.ECodeInternal, "the OpenAPI document is not JSON")}
	}
	return json.RawMessage(res.Body), nil
}
