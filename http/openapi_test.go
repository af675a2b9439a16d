package http_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	khttp "github.com/keyward/keyward/http"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// oaSpec is the OpenAPI document of the native API, loaded, validated and
// routed once per test binary: every exchange of every test in the package
// is checked against it.
type oaSpec struct {
	doc    *openapi3.T
	router routers.Router
}

var oaOnce = sync.OnceValues(func() (*oaSpec, error) { return oaLoad(khttp.OpenAPI()) })

// oaLoad parses and validates an OpenAPI document and builds its router.
func oaLoad(data []byte) (*oaSpec, error) {
	// The invalidation stream is text: its body matches schema string.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &oaSpec{doc: doc, router: router}, nil
}

func oaMust(t *testing.T) *oaSpec {
	t.Helper()
	spec, err := oaOnce()
	if err != nil {
		t.Fatalf("http/openapi.json: %v", err)
	}
	return spec
}

// oaOptions turn authentication checks off (credentials are tested
// elsewhere) and report every problem at once.
func oaOptions(includeStatus bool) *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		MultiError:              true,
		SkipSettingDefaults:     true,
		IncludeResponseStatus:   includeStatus,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
}

// oaUnroutedStatuses are the answers a request can get when its path or
// method is not in the document: routing fails (404, 405) or something
// checked before routing does (pretty and Accept, timeouts, panics).
var oaUnroutedStatuses = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
	http.StatusNotAcceptable, http.StatusInternalServerError, http.StatusGatewayTimeout}

// validateExchange checks one recorded request and response against the
// OpenAPI document. A request answered 2xx must validate fully (the server
// accepted it, so the document must allow it); the request of any other
// answer is not checked, since refusing what the document forbids is right
// (a 400, 413, 415 or 422 usually answers exactly that, and a 401 may come
// before the body is looked at). Every response must validate: a
// documented status, the documented content type, a body matching the
// schema, the required headers; a problem document's status and
// request_id must equal the HTTP status and X-Request-Id.
func validateExchange(t *testing.T, ex exchange) {
	t.Helper()
	for _, err := range oaCheckExchange(oaMust(t), ex) {
		t.Errorf("OpenAPI: %s %s → %d: %v\nresponse body: %s", ex.Method, oaPathOf(ex.URL), ex.Status, err, oaClip(ex.RBody))
	}
}

// oaCheckExchange returns every way in which ex disagrees with the document.
func oaCheckExchange(spec *oaSpec, ex exchange) []error {
	ctx := context.Background()
	req, err := http.NewRequest(ex.Method, ex.URL, bytes.NewReader(ex.Body))
	if err != nil {
		return []error{fmt.Errorf("rebuilding the request: %w", err)}
	}
	if ex.Header != nil {
		req.Header = ex.Header.Clone()
		// A field value's surrounding whitespace is not part of it (RFC 9110,
		// section 5.5): the server never sees the spaces the client sent.
		for _, vs := range req.Header {
			for i, v := range vs {
				vs[i] = strings.Trim(v, " \t")
			}
		}
	}
	var errs []error
	// A HEAD answer has the headers of the GET answer and no body.
	head := ex.Method == http.MethodHead
	if p := ex.RHeader.Get("Content-Type"); strings.HasPrefix(p, "application/problem+json") && !head {
		errs = append(errs, oaCheckProblem(ex)...)
	}

	// The server reads any application/*+json body as JSON (the document
	// says so in words; OpenAPI 3.0 cannot say it as a media range).
	if mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err == nil &&
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json") {
		req.Header.Set("Content-Type", mime.FormatMediaType("application/json", params))
	}
	// net/http redirects a path that is not clean (/v1//keys) to its clean
	// form and the client follows: the recorded answer is the clean path's.
	if p := oaCleanPath(req.URL.Path); p != req.URL.Path {
		req.URL.Path, req.URL.RawPath = p, ""
	}
	routeReq := req
	if head {
		// GET routes answer HEAD too (net/http); the document lists GET.
		routeReq = req.Clone(context.Background())
		routeReq.Method = http.MethodGet
	}
	route, pathParams, err := spec.router.FindRoute(routeReq)
	if err != nil {
		if !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			return append(errs, fmt.Errorf("routing: %w", err))
		}
		return append(errs, oaCheckUnrouted(spec, ex, err)...)
	}
	if route.Operation.Responses.Status(ex.Status) == nil {
		return append(errs, fmt.Errorf("status %d is not documented for %s %s", ex.Status, route.Method, route.Path))
	}
	if head {
		return errs
	}

	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: oaOptions(false)}
	if ex.Status >= 200 && ex.Status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			errs = append(errs, fmt.Errorf("request accepted by the server but not by the document: %w", err))
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 ex.Status,
		Header:                 ex.RHeader,
		Body:                   io.NopCloser(bytes.NewReader(ex.RBody)),
		Options:                oaOptions(true),
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, fmt.Errorf("response does not match the document: %w", err))
	}
	// A schema that allows other members does not say the server may send
	// members the document does not name: every member of a 2xx JSON
	// answer must be documented.
	if r := route.Operation.Responses.Status(ex.Status); ex.Status < 300 && r != nil && r.Value.Content.Get("application/json") != nil {
		var body any
		if json.Unmarshal(ex.RBody, &body) == nil {
			for _, m := range oaUndocumented(r.Value.Content.Get("application/json").Schema, body, "") {
				errs = append(errs, fmt.Errorf("the answer has member %s, which the document does not describe", m))
			}
		}
	}
	return errs
}

// oaUndocumented returns the paths of members of v that schema does not
// name (properties of the schema and of its allOf, oneOf and anyOf parts),
// unless the schema allows other members: additionalProperties (whose
// values are then checked against it), or a free-form object (a schema
// that names no member at all, like metadata or an audit change's value).
func oaUndocumented(ref *openapi3.SchemaRef, v any, at string) []string {
	if ref == nil || ref.Value == nil {
		return nil
	}
	var parts []*openapi3.Schema
	var collect func(r *openapi3.SchemaRef)
	collect = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil {
			return
		}
		parts = append(parts, r.Value)
		for _, rs := range [][]*openapi3.SchemaRef{r.Value.AllOf, r.Value.OneOf, r.Value.AnyOf} {
			for _, sub := range rs {
				collect(sub)
			}
		}
	}
	collect(ref)
	named := false
	for _, p := range parts {
		named = named || len(p.Properties) > 0
	}
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for name, member := range x {
			var known *openapi3.SchemaRef
			var extra *openapi3.SchemaRef
			open := !named
			for _, p := range parts {
				if s, ok := p.Properties[name]; ok && known == nil {
					known = s
				}
				if ap := p.AdditionalProperties; ap.Schema != nil {
					extra = ap.Schema
				} else if ap.Has != nil && *ap.Has {
					open = true
				}
			}
			switch {
			case known != nil:
				out = append(out, oaUndocumented(known, member, at+"."+name)...)
			case extra != nil:
				out = append(out, oaUndocumented(extra, member, at+"."+name)...)
			case open:
			default:
				out = append(out, at+"."+name)
			}
		}
	case []any:
		for _, p := range parts {
			if p.Items != nil {
				for i, item := range x {
					out = append(out, oaUndocumented(p.Items, item, fmt.Sprintf("%s[%d]", at, i))...)
				}
				break
			}
		}
	}
	return out
}

// oaCheckUnrouted checks the answer to a request whose path or method the
// document does not have: a problem document of a status any route can
// give, matching that status's schema.
func oaCheckUnrouted(spec *oaSpec, ex exchange, routeErr error) []error {
	if !slices.Contains(oaUnroutedStatuses, ex.Status) {
		return []error{fmt.Errorf("the document has no such operation (%v), yet the server answered %d", routeErr, ex.Status)}
	}
	var errs []error
	if ct := ex.RHeader.Get("Content-Type"); ct != "application/problem+json" {
		errs = append(errs, fmt.Errorf("Content-Type %q, want application/problem+json", ct))
	}
	if ex.RHeader.Get("X-Request-Id") == "" {
		errs = append(errs, errors.New("no X-Request-Id header"))
	}
	if ex.Status == http.StatusMethodNotAllowed && ex.RHeader.Get("Allow") == "" {
		errs = append(errs, errors.New("405 without Allow"))
	}
	if ex.Method == http.MethodHead {
		return errs
	}
	ref := spec.doc.Components.Schemas[fmt.Sprintf("Problem%d", ex.Status)]
	if ref == nil {
		return append(errs, fmt.Errorf("the document has no schema Problem%d", ex.Status))
	}
	var v any
	if err := json.Unmarshal(ex.RBody, &v); err != nil {
		return append(errs, fmt.Errorf("the body is not JSON: %w", err))
	}
	if err := ref.Value.VisitJSON(v, openapi3.VisitAsResponse(), openapi3.MultiErrors(), openapi3.DisableSchemaErrorDetails()); err != nil {
		errs = append(errs, fmt.Errorf("the body does not match Problem%d: %w", ex.Status, err))
	}
	return errs
}

// oaCheckProblem checks what the schema cannot say about a problem
// document: its status member is the HTTP status and its request_id the
// X-Request-Id header.
func oaCheckProblem(ex exchange) []error {
	var p struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(ex.RBody, &p); err != nil {
		return []error{fmt.Errorf("problem body is not JSON: %w", err)}
	}
	var errs []error
	if p.Status != ex.Status {
		errs = append(errs, fmt.Errorf("problem status %d differs from the HTTP status", p.Status))
	}
	if h := ex.RHeader.Get("X-Request-Id"); p.RequestID != h {
		errs = append(errs, fmt.Errorf("problem request_id %q differs from X-Request-Id %q", p.RequestID, h))
	}
	return errs
}

// oaCleanPath is path.Clean keeping a trailing slash, as net/http's
// ServeMux cleans request paths.
func oaCleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func oaPathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.RequestURI()
}

func oaClip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// TestOpenAPIDocumentValid loads the document with kin-openapi and
// validates it, then checks the conventions the rest of the API relies on.
func TestOpenAPIDocumentValid(t *testing.T) {
	spec := oaMust(t)
	doc := spec.doc
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	for _, name := range []string{"bearer", "apiKey"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %q missing", name)
		}
	}
	if s := doc.Components.SecuritySchemes["apiKey"]; s != nil && (s.Value.In != "header" || s.Value.Name != "X-API-Key") {
		t.Errorf("apiKey scheme is %s %q, want header X-API-Key", s.Value.In, s.Value.Name)
	}
	public := map[string]bool{"/healthz": true, "/readyz": true, "/openapi.json": true, "/metrics": true}
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			name := method + " " + path
			t.Run(name, func(t *testing.T) {
				if o.OperationID == "" || o.Summary == "" || o.Description == "" {
					t.Errorf("needs operationId, summary and description")
				}
				// Security: public routes none, the rest a key.
				switch {
				case public[path]:
					if o.Security == nil || len(*o.Security) != 0 {
						t.Errorf("public route must say security: []")
					}
				case o.Security != nil:
					t.Errorf("must inherit the document's security (bearer or X-API-Key)")
				}
				ok := false
				for code, r := range o.Responses.Map() {
					if strings.HasPrefix(code, "2") {
						ok = true
					}
					if r.Value.Headers["X-Request-Id"] == nil {
						t.Errorf("response %s does not declare X-Request-Id", code)
					}
					if code >= "400" {
						if len(r.Value.Content) != 1 || r.Value.Content.Get("application/problem+json") == nil {
							t.Errorf("error response %s must be application/problem+json only", code)
						}
					}
				}
				if !ok {
					t.Errorf("no 2xx response")
				}
				for _, code := range []string{"400", "406", "500", "504"} {
					if code == "406" && path == "/metrics" {
						continue // the Prometheus text format, whatever Accept says
					}
					if o.Responses.Value(code) == nil {
						t.Errorf("every route can answer %s; not documented", code)
					}
				}
				if !public[path] {
					// 429: a locked-out client address (every authenticated route).
					for _, code := range []string{"401", "403", "429"} {
						if o.Responses.Value(code) == nil {
							t.Errorf("keyed route must document %s", code)
						}
					}
				}
				if r := o.Responses.Value("429"); r != nil && r.Value.Headers["Retry-After"] == nil {
					t.Errorf("429 must declare Retry-After")
				}
				// A creating POST: a retry may be replayed (Idempotent-Replayed)
				// or clash with another request (409).
				if oaTakesHeader(item, o, "Idempotency-Key") {
					if o.Responses.Value("409") == nil {
						t.Errorf("a route taking Idempotency-Key must document 409 (idempotency_conflict)")
					}
					for code, r := range o.Responses.Map() {
						if strings.HasPrefix(code, "2") && r.Value.Headers["Idempotent-Replayed"] == nil {
							t.Errorf("response %s of a route taking Idempotency-Key must declare Idempotent-Replayed", code)
						}
					}
				}
				if rb := o.RequestBody; rb != nil {
					for _, code := range []string{"413", "415", "422"} {
						if o.Responses.Value(code) == nil {
							t.Errorf("route with a body must document %s", code)
						}
					}
					mt := rb.Value.Content.Get("application/json")
					if mt == nil || mt.Schema == nil {
						t.Fatalf("request body must be application/json with a schema")
					}
					if ap := mt.Schema.Value.AdditionalProperties.Has; ap == nil || *ap {
						t.Errorf("request body schema must say additionalProperties: false (the server refuses unknown members)")
					}
				}
			})
		}
	}
}

// oaTakesHeader reports whether the operation (or its path) declares the
// request header.
func oaTakesHeader(item *openapi3.PathItem, o *openapi3.Operation, name string) bool {
	for _, p := range append(slices.Clone(item.Parameters), o.Parameters...) {
		if p.Value != nil && p.Value.In == "header" && p.Value.Name == name {
			return true
		}
	}
	return false
}

// oaRouteKey normalises "METHOD /pattern" (Go ServeMux) and OpenAPI
// "METHOD /path/{param}" to one form.
func oaRouteKey(method, path string) string {
	path = strings.ReplaceAll(path, "...}", "}")
	path = strings.TrimSuffix(path, "{$}")
	return strings.ToUpper(method) + " " + path
}

// TestOpenAPIMatchesRoutes fails when a route is served but not documented,
// or documented but not served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	served := map[string]bool{}
	for _, r := range e.HTTP.Routes() {
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			t.Fatalf("route %q has no method", r)
		}
		served[oaRouteKey(method, path)] = true
	}
	documented := map[string]bool{}
	for path, item := range oaMust(t).doc.Paths.Map() {
		for method := range item.Operations() {
			documented[oaRouteKey(method, path)] = true
		}
	}
	if len(served) == 0 {
		t.Fatal("the server reports no routes")
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but missing from http/openapi.json", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in http/openapi.json but the server does not serve it", r)
		}
	}
}

// TestOpenAPIServed checks GET /openapi.json: the embedded document, as
// application/json, that parses.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	res := e.must(http.StatusOK, req{Method: "GET", Path: "/openapi.json", NoAuth: true})
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !bytes.Equal(res.Body, khttp.OpenAPI()) {
		t.Errorf("served document differs from the embedded one (%d vs %d bytes)", len(res.Body), len(khttp.OpenAPI()))
	}
	if _, err := oaLoad(res.Body); err != nil {
		t.Errorf("served document: %v", err)
	}
	// A key is not needed, and one that is not valid does not matter.
	e.must(http.StatusOK, req{Method: "GET", Path: "/openapi.json", Token: "kw_not_a_key"})
}

// oaIdem is the header map of one Idempotency-Key.
func oaIdem(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

// oaData returns the data member of a list answer.
func oaData(t *testing.T, r *resp) []any {
	t.Helper()
	data, ok := r.JSON(t)["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %s", r.Body)
	}
	return data
}

// TestOpenAPIEveryOperation calls every documented operation with valid
// input, so each success response is validated against the document
// whatever the other tests do, and fails if an operation was not covered.
// The server has a master key, so recoverable keys and their reveal work.
func TestOpenAPIEveryOperation(t *testing.T) {
	e := startEnv(t, keywardtest.Options{Service: service.Options{MasterKey: keywardtest.MasterKey(t)}})
	type obj = map[string]any

	e.must(http.StatusOK, req{Method: "GET", Path: "/healthz", NoAuth: true})
	e.must(http.StatusOK, req{Method: "GET", Path: "/readyz?pretty", NoAuth: true})
	e.must(http.StatusOK, req{Method: "GET", Path: "/openapi.json", NoAuth: true})

	// Accounts: a second account with every setting, created idempotently
	// and retried.
	acctBody := obj{"name": "tenant-b", "default_prefix": "tb", "catalog_template": "vectara", "default_permission_mode": "read_only",
		"max_key_lifetime": 31536000, "require_expiry": false, "default_key_lifetime": 86400}
	acct := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/accounts", Body: acctBody, Header: oaIdem("oa-every-account-1")})
	if h := acct.Header.Get("Idempotent-Replayed"); h != "false" {
		t.Errorf("first account creation: Idempotent-Replayed %q, want false", h)
	}
	again := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/accounts", Body: acctBody, Header: oaIdem("oa-every-account-1")})
	if h := again.Header.Get("Idempotent-Replayed"); h != "true" || !bytes.Equal(again.Body, acct.Body) {
		t.Errorf("retried account creation: Idempotent-Replayed %q, body %s; want true and the first body %s", h, again.Body, acct.Body)
	}
	acctID := acct.Str(t, "id")
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/accounts?limit=10"})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/accounts/" + acctID})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/accounts/" + acctID, Body: obj{
		"catalog_template": "vectara", "require_expiry": true, "max_key_lifetime": nil, "default_key_lifetime": nil}})
	// The vectara catalog comes with roles: the catalog lists role objects.
	cat := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/catalog", Header: map[string]string{"X-Account-Id": acctID}}).JSON(t)
	if roles, _ := cat["roles"].([]any); len(roles) == 0 {
		t.Errorf("the vectara account's catalog has no roles: %v", cat["roles"])
	}

	// Projects.
	prj := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/projects", Body: obj{"name": "billing-api", "description": "the billing service"}}).JSON(t)
	prjID, _ := prj["id"].(string)
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/projects?limit=5"})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/projects/" + prjID})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/projects/" + prjID, Body: obj{"description": nil}})

	// Catalog.
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/catalog"})
	e.must(http.StatusCreated, req{Method: "PUT", Path: "/v1/catalog/resources/reports", Body: obj{"display_name": "Reports", "group": "data", "readable": true, "writable": false}})
	e.must(http.StatusOK, req{Method: "PUT", Path: "/v1/catalog/resources/reports", Body: obj{"display_name": "Reports", "group": "data", "description": "monthly reports", "readable": true, "writable": false, "project_scopes": []string{"all", "single"}}})

	// Roles.
	e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/roles", Header: oaIdem("oa-every-role-0001"),
		Body: obj{"name": "reader", "description": "reads documents", "scopes": []obj{{"resource": "documents", "access": "read"}}}})
	e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/roles", Body: obj{"name": "empty"}})
	if n := len(oaData(t, e.must(http.StatusOK, req{Method: "GET", Path: "/v1/roles"}))); n != 2 {
		t.Errorf("GET /v1/roles: %d roles, want 2", n)
	}
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/roles/reader"})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/roles/reader", Body: obj{"name": "reader", "description": nil,
		"scopes": []obj{{"resource": "documents", "access": "read"}, {"resource": "search", "access": "read", "targets": []string{"*"}}}}})
	if roles, _ := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/catalog"}).JSON(t)["roles"].([]any); len(roles) != 2 {
		t.Errorf("catalog roles: %v, want the 2 roles", roles)
	}

	// Users: one with every member, one with none.
	usr := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/users", Header: oaIdem("oa-every-user-00001"),
		Body: obj{"external_id": "u-1", "email": "ada@example.com", "name": "Ada", "roles": []string{"reader"}, "status": "active"}})
	usrID := usr.Str(t, "id")
	bare := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/users", Body: obj{}}).Str(t, "id")
	if n := len(oaData(t, e.must(http.StatusOK, req{Method: "GET", Path: "/v1/users?limit=5&status=active&role=reader&external_id=u-1&search=ADA"}))); n != 1 {
		t.Errorf("GET /v1/users with every filter: %d users, want 1", n)
	}
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/users/" + usrID})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/users/" + bare, Body: obj{"external_id": "u-2", "email": "bob@example.com", "name": "Bob"}})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/users/" + bare, Body: obj{"external_id": nil, "email": nil, "name": nil, "roles": []string{}, "status": "disabled"}})

	// Service accounts.
	sa := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/service-accounts", Header: oaIdem("oa-every-service-01"),
		Body: obj{"name": "ci-bot", "description": "the CI pipeline", "status": "active"}})
	saID := sa.Str(t, "id")
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/service-accounts?limit=5&status=active"})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/service-accounts/" + saID})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/service-accounts/" + saID, Body: obj{"description": nil, "status": "disabled"}})

	// API keys: a key with every optional member set, so the nullable
	// members are validated with values too.
	k := e.createKey(obj{
		"name": "ci", "description": "CI pipeline", "project_id": prjID, "permission_mode": "restricted",
		"scopes":     []obj{{"resource": "documents", "access": "write", "targets": []string{"doc_1"}}, {"resource": "reports", "access": "read"}},
		"roles":      []string{"reader"},
		"expires_at": "2099-01-01T00:00:00Z", "metadata": obj{"team": "platform", "n": 1},
		"ip_allowlist": []string{"127.0.0.1", "10.0.0.0/8"}, "owner": obj{"type": "account"}, "operator": false, "prefix": "ci",
		"recoverable": false, "legacy_key_id": "legacy-42",
	})
	id, _ := k["id"].(string)
	secret, _ := k["secret"].(string)
	plain := e.createKey(obj{"name": "plain"})
	plainSecret, _ := plain["secret"].(string)
	// Keys owned by the user and by the (now disabled) service account.
	userKey := e.createKey(obj{"name": "ada's key", "owner": obj{"type": "user", "id": usrID}, "permission_mode": "restricted", "roles": []string{"reader"}})
	saKey := e.createKey(obj{"name": "bot key", "owner": obj{"type": "service_account", "id": saID}})
	// A recoverable key (the server has a master key).
	recKey := e.createKey(obj{"name": "recoverable", "recoverable": true})

	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys?limit=10&status=active&permission_mode=restricted&project_id=" + prjID + "&resource=documents&role=reader&search=C&expired=false&pretty=1"})
	if n := len(oaData(t, e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys?role=reader&owner_type=user&owner_id=" + usrID}))); n != 1 {
		t.Errorf("GET /v1/keys by role and owner: %d keys, want 1", n)
	}
	etag := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id}).Header.Get("ETag")
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Header: map[string]string{"If-Match": etag},
		Body: obj{"description": nil, "metadata": nil, "ip_allowlist": nil, "rate_limit": nil, "credits": nil, "status": "disabled", "operator": false}})
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: obj{}})
	e.must(http.StatusOK, req{Method: "PUT", Path: "/v1/keys/" + id, Body: obj{
		"name": "ci (replaced)", "project_id": prjID, "permission_mode": "restricted",
		"scopes": []obj{{"resource": "documents", "access": "read"}}, "expires_at": nil, "operator": false}})
	rotBody := obj{"grace_period_seconds": 60, "expires_at": "2099-06-01T00:00:00Z"}
	rotRes := e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Body: rotBody, Header: oaIdem("oa-every-rotate-01")})
	rot := rotRes.JSON(t)
	if rot["secret"] == "" || rot["secret"] == secret || rot["expires_at"] != "2099-06-01T00:00:00Z" {
		t.Errorf("rotate returned secret %v, expires_at %v", rot["secret"], rot["expires_at"])
	}
	// An idempotent retry of the rotation rotates nothing and returns the same secret.
	if r := e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + id + "/rotate", Body: rotBody, Header: oaIdem("oa-every-rotate-01")}); r.Header.Get("Idempotent-Replayed") != "true" || r.Str(t, "secret") != rot["secret"] {
		t.Errorf("retried rotation: Idempotent-Replayed %q, secret changed: %v", r.Header.Get("Idempotent-Replayed"), r.Str(t, "secret") != rot["secret"])
	}
	e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + id + "/rotate"})

	// An idempotent key creation, retried: the same key and secret again.
	first := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: obj{"name": "retried"}, Header: oaIdem("oa-every-key-000001")})
	retry := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: obj{"name": "retried"}, Header: oaIdem("oa-every-key-000001")})
	if retry.Header.Get("Idempotent-Replayed") != "true" || retry.Str(t, "id") != first.Str(t, "id") || retry.Str(t, "secret") != first.Str(t, "secret") {
		t.Errorf("retried key creation: Idempotent-Replayed %q, same id %v, same secret %v",
			retry.Header.Get("Idempotent-Replayed"), retry.Str(t, "id") == first.Str(t, "id"), retry.Str(t, "secret") == first.Str(t, "secret"))
	}

	// The recoverable key's secret.
	if got := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + recKey["id"].(string) + "/secret"}).JSON(t); got["secret"] != recKey["secret"] || got["id"] != recKey["id"] {
		t.Errorf("revealed %v, want the key's id and creation secret", got)
	}

	// Import: one hash in hex, one in base64; both tokens verify.
	tokA, tokB := rkForeignToken(t, "legacy-"), rkForeignToken(t, "legacy-")
	sumA, sumB := sha256.Sum256([]byte(tokA)), sha256.Sum256([]byte(tokB))
	imp := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys/import", Header: oaIdem("oa-every-import-001"), Body: obj{"keys": []obj{
		{"hash": hex.EncodeToString(sumA[:]), "start": tokA[:11], "last4": tokA[len(tokA)-4:], "name": "imported", "metadata": obj{"from": "legacy"}, "legacy_key_id": "old-1"},
		{"hash": base64.StdEncoding.EncodeToString(sumB[:]), "start": nil, "last4": nil, "name": "imported (base64)", "expires_at": "2099-01-01T00:00:00Z", "recoverable": false},
	}}})
	if n := len(oaData(t, imp)); n != 2 {
		t.Errorf("import answered %d keys, want 2", n)
	}

	// Credits: a key with a budget, topped up.
	cred := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys", Body: obj{"name": "metered", "credits": obj{"remaining": 5}}}).JSON(t)
	if k := e.must(http.StatusOK, req{Method: "POST", Path: "/v1/keys/" + cred["id"].(string) + "/credits", Body: obj{"add": 10}}).JSON(t); k["credits"].(obj)["remaining"] != 15.0 {
		t.Errorf("credits after adding 10 to 5: %v", k["credits"])
	}
	// The invalidation stream, cut short by Request-Timeout-Millis: it
	// starts with hello.
	if body := string(e.must(http.StatusOK, req{Method: "GET", Path: "/v1/invalidations", Header: map[string]string{"Request-Timeout-Millis": "300"}}).Body); !strings.HasPrefix(body, "event: hello\n") {
		t.Errorf("invalidation stream: %q, want it to start with event: hello", body)
	}
	if body := string(e.must(http.StatusOK, req{Method: "GET", Path: "/metrics", NoAuth: true}).Body); !strings.Contains(body, "keyward_") {
		t.Errorf("/metrics has no keyward_ metric: %.200s", body)
	}

	// Verification: a known key (VALID and a failing code) and an unknown one.
	if r := e.verify(obj{"key": plainSecret, "permissions": "documents:read", "project_id": nil, "ip": "192.0.2.1", "cost": 1}); r["code"] != "VALID" {
		t.Errorf("verify plain key: %v", r)
	}
	if r := e.verify(obj{"key": secret}); r["code"] != "ROTATED" {
		t.Errorf("verify rotated-out secret: %v", r)
	}
	if r := e.verify(obj{"key": "kw_nope"}); r["code"] != "NOT_FOUND" {
		t.Errorf("verify unknown key: %v", r)
	}
	if r := e.verify(obj{"key": userKey["secret"], "permissions": "search:read"}); r["code"] != "VALID" {
		t.Errorf("verify the user's key: %v", r)
	}
	if r := e.verify(obj{"key": saKey["secret"]}); r["code"] != "OWNER_INACTIVE" {
		t.Errorf("verify the disabled service account's key: %v", r)
	}
	for _, tok := range []string{tokA, tokB} {
		if r := e.verify(obj{"key": tok}); r["code"] != "VALID" {
			t.Errorf("verify an imported token: %v", r)
		}
	}

	// Management keys: an account-bound one through its whole life, and an
	// operator one (account_id null).
	mk := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Header: oaIdem("oa-every-mgmt-00001"), Body: obj{
		"name": "auditor", "description": "reads keys and the log", "permissions": []string{"keys:read", "audit:read"},
		"operator": false, "owner": obj{"type": "account"}, "expires_at": "2099-01-01T00:00:00Z", "metadata": obj{"team": "sec"},
		"ip_allowlist": []string{"127.0.0.1"}}}).JSON(t)
	mkID, _ := mk["id"].(string)
	opk := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Body: obj{
		"name": "second operator", "operator": true, "permissions": []string{"accounts:read", "keys:read"}}}).JSON(t)
	if opk["account_id"] != nil || opk["operator"] != true {
		t.Errorf("operator key: account_id %v, operator %v; want null and true", opk["account_id"], opk["operator"])
	}
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/management-keys?limit=10&status=active&search=a"})
	mkEtag := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/management-keys/" + mkID}).Header.Get("ETag")
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/management-keys/" + mkID, Header: map[string]string{"If-Match": mkEtag},
		Body: obj{"description": nil, "permissions": []string{"keys:read"}, "metadata": nil}})
	e.must(http.StatusOK, req{Method: "PUT", Path: "/v1/management-keys/" + mkID, Body: obj{
		"name": "auditor (replaced)", "permissions": []string{"keys:read", "audit:read"}, "expires_at": nil}})
	mkRot := e.must(http.StatusOK, req{Method: "POST", Path: "/v1/management-keys/" + mkID + "/rotate", Header: oaIdem("oa-every-mgmt-rot01"),
		Body: obj{"grace_period_seconds": 0, "expires_at": "2099-06-01T00:00:00Z"}}).JSON(t)
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys?limit=1", Token: mkRot["secret"].(string)})

	// whoami: both key shapes.
	who := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/whoami", Token: plainSecret}).JSON(t)
	if key, _ := who["key"].(obj); key["kind"] != "api" {
		t.Errorf("whoami with an API key: %v", who)
	}
	who = e.must(http.StatusOK, req{Method: "GET", Path: "/v1/whoami", Header: map[string]string{"Authorization": "", "X-API-Key": e.Op}, NoAuth: true}).JSON(t)
	if key, _ := who["key"].(obj); key["kind"] != "management" {
		t.Errorf("whoami with the operator key: %v", who)
	}

	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/audit-events?limit=50&action=key.imported"})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id + "/usage?granularity=minute"})
	e.must(http.StatusOK, req{Method: "GET", Path: "/v1/usage?group_by=outcome&limit=5&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"})

	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/management-keys/" + mkID})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/management-keys/" + opk["id"].(string)})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/keys/" + id})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/projects/" + prjID})
	// Deleting the user revokes their key, which then no longer holds the
	// role: the role can go.
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/users/" + usrID})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/users/" + bare})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/service-accounts/" + saID})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/roles/reader"})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/catalog/resources/reports"})
	e.must(http.StatusNoContent, req{Method: "DELETE", Path: "/v1/accounts/" + acctID})

	// Every documented operation was answered 2xx at least once.
	spec := oaMust(t)
	covered := map[string]bool{}
	e.mu.Lock()
	exchanges := slices.Clone(e.exchanges)
	e.mu.Unlock()
	for _, ex := range exchanges {
		r, err := http.NewRequest(ex.Method, ex.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		route, _, err := spec.router.FindRoute(r)
		if err == nil && ex.Status < 300 {
			covered[oaRouteKey(ex.Method, route.Path)] = true
		}
		// Validate here too, so a mismatch fails this test by name.
		for _, err := range oaCheckExchange(spec, ex) {
			t.Errorf("OpenAPI: %s %s → %d: %v\nresponse body: %s", ex.Method, oaPathOf(ex.URL), ex.Status, err, oaClip(ex.RBody))
		}
	}
	for path, item := range spec.doc.Paths.Map() {
		for method := range item.Operations() {
			if k := oaRouteKey(method, path); !covered[k] {
				t.Errorf("%s was not exercised with a successful request", k)
			}
		}
	}
}

// TestOpenAPIErrorResponses sends requests the server refuses, on routed and
// unrouted paths, and checks each answer against the document.
func TestOpenAPIErrorResponses(t *testing.T) {
	e := newEnv(t)
	type obj = map[string]any
	k := e.createKey(obj{"name": "err"})
	id, _ := k["id"].(string)
	apiSecret, _ := k["secret"].(string)
	// A management key bound to the default account, without accounts:*
	// (which only operator keys may hold).
	weak := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/management-keys", Body: obj{
		"name": "weak", "permissions": []string{"keys:read", "management_keys:write", "members:read"}}}).Str(t, "secret")
	other := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/accounts", Body: obj{"name": "other"}}).Str(t, "id")
	dup := rkForeignToken(t, "legacy-")
	dupSum := sha256.Sum256([]byte(dup))
	e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys/import", Body: obj{"keys": []obj{{"hash": hex.EncodeToString(dupSum[:]), "name": "imported"}}}})
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"no credential", req{Method: "GET", Path: "/v1/keys", NoAuth: true}, 401, "unauthenticated"},
		{"api key on management route", req{Method: "GET", Path: "/v1/keys", Token: apiSecret}, 403, "api_key_forbidden"},
		{"unknown account", req{Method: "GET", Path: "/v1/keys", Header: map[string]string{"X-Account-Id": "acc_01J9Z8K3M4N5P6Q7R8S9T0V1W2"}}, 404, "not_found"},
		{"unknown key", req{Method: "GET", Path: "/v1/keys/key_01J9Z8K3M4N5P6Q7R8S9T0V1W2"}, 404, "not_found"},
		{"unknown path", req{Method: "GET", Path: "/v1/nothing"}, 404, "not_found"},
		{"method not allowed", req{Method: "DELETE", Path: "/v1/keys"}, 405, "method_not_allowed"},
		{"GET verify", req{Method: "GET", Path: "/v1/keys/verify"}, 405, "method_not_allowed"},
		{"GET import", req{Method: "GET", Path: "/v1/keys/import"}, 405, "method_not_allowed"},
		{"not acceptable", req{Method: "GET", Path: "/healthz", Header: map[string]string{"Accept": "text/html"}}, 406, "not_acceptable"},
		{"bad pretty on unknown path", req{Method: "GET", Path: "/nope?pretty=maybe"}, 400, "invalid_parameter"},
		{"unknown parameter", req{Method: "GET", Path: "/v1/keys?colour=red"}, 400, "invalid_parameter"},
		{"bad users filter", req{Method: "GET", Path: "/v1/users?status=gone"}, 400, "invalid_parameter"},
		{"unknown member", req{Method: "POST", Path: "/v1/keys", Body: obj{"name": "x", "colour": "red"}}, 400, "unknown_field"},
		{"wrong type", req{Method: "POST", Path: "/v1/keys", Body: obj{"name": 5}}, 422, "validation_failed"},
		{"bad permission query", req{Method: "POST", Path: "/v1/keys/verify", Body: obj{"key": apiSecret, "permissions": "AND ("}}, 422, "invalid_permission_query"},
		{"not JSON", req{Method: "PATCH", Path: "/v1/keys/" + id, Body: "{", Header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"too large", req{Method: "POST", Path: "/v1/projects", Body: `{"name":"` + strings.Repeat("a", 1<<20) + `"}`}, 413, "body_too_large"},
		{"if-match mismatch", req{Method: "PATCH", Path: "/v1/keys/" + id, Body: obj{"name": "y"}, Header: map[string]string{"If-Match": `"nope"`}}, 412, "precondition_failed"},
		{"bad timeout", req{Method: "GET", Path: "/v1/catalog", Header: map[string]string{"Request-Timeout": "soon"}}, 400, "invalid_parameter"},
		{"bad Idempotency-Key", req{Method: "POST", Path: "/v1/projects", Body: obj{"name": "p"}, Header: oaIdem("short")}, 400, "invalid_parameter"},
		{"recoverable without a master key", req{Method: "POST", Path: "/v1/keys", Body: obj{"name": "r", "recoverable": true}}, 422, "validation_failed"},
		{"reveal a key that is not recoverable", req{Method: "GET", Path: "/v1/keys/" + id + "/secret"}, 409, "conflict"},
		{"import a known hash", req{Method: "POST", Path: "/v1/keys/import", Body: obj{"keys": []obj{{"hash": hex.EncodeToString(dupSum[:]), "name": "again"}}}}, 409, "duplicate"},
		{"import an invalid item", req{Method: "POST", Path: "/v1/keys/import", Body: obj{"keys": []obj{{"hash": "nope", "name": "bad"}}}}, 422, "validation_failed"},
		{"user with an unknown role", req{Method: "POST", Path: "/v1/users", Body: obj{"roles": []string{"ghost"}}}, 422, "validation_failed"},
		{"account list, non-operator key", req{Method: "GET", Path: "/v1/accounts", Token: weak}, 403, "permission_denied"},
		{"account create, non-operator key", req{Method: "POST", Path: "/v1/accounts", Token: weak, Body: obj{"name": "nope"}}, 403, "permission_denied"},
		{"account get, non-operator key", req{Method: "GET", Path: "/v1/accounts/" + other, Token: weak}, 403, "permission_denied"},
		{"account patch, non-operator key", req{Method: "PATCH", Path: "/v1/accounts/" + other, Token: weak, Body: obj{"require_expiry": true}}, 403, "permission_denied"},
		{"account delete, non-operator key", req{Method: "DELETE", Path: "/v1/accounts/" + other, Token: weak}, 403, "permission_denied"},
		{"account mismatch", req{Method: "GET", Path: "/v1/keys", Token: weak, Header: map[string]string{"X-Account-Id": other}}, 403, "account_mismatch"},
		{"escalation", req{Method: "POST", Path: "/v1/management-keys", Token: weak, Body: obj{"name": "strong", "permissions": []string{"keys:write"}}}, 403, "permission_denied"},
		{"missing permission", req{Method: "POST", Path: "/v1/users", Token: weak, Body: obj{}}, 403, "permission_denied"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(c.r)
			if res.Status != c.status || res.Code(t) != c.code {
				t.Fatalf("status %d code %q, want %d %q\n%s", res.Status, res.Code(t), c.status, c.code, res.Body)
			}
		})
	}
	t.Run("account routes name the missing permission", func(t *testing.T) {
		for path, want := range map[string]string{"/v1/accounts": "accounts:read", "/v1/accounts/" + other: "accounts:read"} {
			if p := e.problem(e.do(req{Method: "GET", Path: path, Token: weak}), http.StatusForbidden, "permission_denied"); p["missing_permission"] != want {
				t.Errorf("GET %s: missing_permission %v, want %s", path, p["missing_permission"], want)
			}
		}
	})
	t.Run("idempotency conflict", func(t *testing.T) {
		h := oaIdem("oa-errors-conflict-01")
		e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/projects", Body: obj{"name": "idem"}, Header: h})
		e.problem(e.do(req{Method: "POST", Path: "/v1/projects", Body: obj{"name": "idem, another"}, Header: h}), http.StatusConflict, "idempotency_conflict")
	})
	t.Run("role in use", func(t *testing.T) {
		e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/roles", Body: obj{"name": "held", "scopes": []obj{{"resource": "documents", "access": "read"}}}})
		u := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/users", Body: obj{"roles": []string{"held"}}}).Str(t, "id")
		p := e.problem(e.do(req{Method: "DELETE", Path: "/v1/roles/held"}), http.StatusConflict, "resource_in_use")
		if ids, _ := p["user_ids"].([]any); len(ids) != 1 || ids[0] != u {
			t.Errorf("user_ids %v, want [%s]", p["user_ids"], u)
		}
	})
	t.Run("catalog resource held only by a role", func(t *testing.T) {
		e.must(http.StatusCreated, req{Method: "PUT", Path: "/v1/catalog/resources/reports", Body: obj{"readable": true, "writable": false}})
		e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/roles", Body: obj{"name": "reporter", "scopes": []obj{{"resource": "reports", "access": "read"}}}})
		p := e.problem(e.do(req{Method: "DELETE", Path: "/v1/catalog/resources/reports"}), http.StatusConflict, "resource_in_use")
		if names, _ := p["role_names"].([]any); p["key_count"] != float64(0) || len(names) != 1 || names[0] != "reporter" {
			t.Errorf("key_count %v, role_names %v; want 0 and [reporter]", p["key_count"], p["role_names"])
		}
	})
	// Revoke, then change: 409.
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id, Body: obj{"status": "revoked"}})
	e.problem(e.do(req{Method: "PATCH", Path: "/v1/keys/" + id, Body: obj{"name": "z"}}), http.StatusConflict, "key_revoked")

	// The lockout: a server that locks an address after 2 failed
	// authentications answers 429 locked with Retry-After on every
	// authenticated route, valid credentials included.
	t.Run("locked", func(t *testing.T) {
		l := startEnv(t, keywardtest.Options{HTTP: khttp.Options{Lockout: &khttp.LockoutPolicy{Threshold: 2, Window: time.Minute, Duration: time.Minute}}})
		apiKey := l.createKey(obj{"name": "locked out"})["secret"].(string)
		for i := 0; i < 2; i++ {
			l.problem(l.do(req{Method: "GET", Path: "/v1/keys", Token: "kwm_wrong"}), http.StatusUnauthorized, "unauthenticated")
		}
		for _, r := range []req{
			{Method: "GET", Path: "/v1/keys"},
			{Method: "POST", Path: "/v1/keys", Body: obj{"name": "x"}},
			{Method: "POST", Path: "/v1/keys/verify", Body: obj{"key": apiKey}},
			{Method: "GET", Path: "/v1/whoami", Token: apiKey},
			{Method: "GET", Path: "/v1/accounts"},
			{Method: "DELETE", Path: "/v1/roles/none"},
		} {
			res := l.do(r)
			p := l.problem(res, http.StatusTooManyRequests, "locked")
			if ra := res.Header.Get("Retry-After"); ra == "" || ra != fmt.Sprint(p["retry_after_seconds"]) {
				t.Errorf("%s %s: Retry-After %q, retry_after_seconds %v; want equal and set", r.Method, r.Path, ra, p["retry_after_seconds"])
			}
		}
		// Unauthenticated routes are not locked.
		l.must(http.StatusOK, req{Method: "GET", Path: "/healthz", NoAuth: true})
	})
	// Validation happens at cleanup (validateExchange) for all of these.
}

// TestOpenAPIIdempotencyKeyDocumented checks that the document lists the
// Idempotency-Key header on exactly the POSTs that honour it: each POST is
// sent with a malformed key; the routes that honour the header refuse it
// (400 naming Idempotency-Key) before anything else.
func TestOpenAPIIdempotencyKeyDocumented(t *testing.T) {
	e := newEnv(t)
	spec := oaMust(t)
	fill := strings.NewReplacer("{id}", "key_01J9Z8K3M4N5P6Q7R8S9T0V1W2", "{name}", "nothing")
	for path, item := range spec.doc.Paths.Map() {
		o := item.Post
		if o == nil {
			continue
		}
		t.Run("POST "+path, func(t *testing.T) {
			documented := oaTakesHeader(item, o, "Idempotency-Key")
			res := e.do(req{Method: "POST", Path: fill.Replace(path), Header: oaIdem("short")})
			honoured := res.Status == http.StatusBadRequest && res.Code(t) == "invalid_parameter" && strings.Contains(string(res.Body), `"field":"Idempotency-Key"`)
			if documented != honoured {
				t.Errorf("Idempotency-Key documented: %v, honoured by the server: %v (a malformed key got %d %s)", documented, honoured, res.Status, bytes.TrimSpace(res.Body))
			}
		})
	}
}

// TestOpenAPIValidatorCatchesMismatches feeds validateExchange's checker
// exchanges that disagree with the document, so the validation that every
// other test relies on is known to bite.
func TestOpenAPIValidatorCatchesMismatches(t *testing.T) {
	spec := oaMust(t)
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "probe"})
	id, _ := k["id"].(string)
	got := e.must(http.StatusOK, req{Method: "GET", Path: "/v1/keys/" + id})
	var key map[string]any
	if err := json.Unmarshal(got.Body, &key); err != nil {
		t.Fatal(err)
	}
	delete(key, "etag")
	noEtag, _ := json.Marshal(key)
	jsonHeader := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"req_1"}, "Etag": {`"x"`}}
	problemHeader := http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"req_1"}}
	reqHeader := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + e.Op}}
	problem := func(status int, code string) []byte {
		return []byte(fmt.Sprintf(`{"type":"urn:keyward:error:%s","title":"x","status":%d,"detail":"x","code":%q,"errors":[],"request_id":"req_1"}`, code, status, code))
	}
	base := e.URL
	prj := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/projects", Body: map[string]any{"name": "p"}})
	projectHeader, projectBody := prj.Header, prj.Body
	paddedHeader := reqHeader.Clone()
	paddedHeader.Set("X-Account-Id", " \t"+key["account_id"].(string)+" ")
	badAccountHeader := reqHeader.Clone()
	badAccountHeader.Set("X-Account-Id", "default")
	lockedHeader := problemHeader.Clone()
	lockedHeader.Set("Retry-After", "60")
	replayedHeader := projectHeader.Clone()
	replayedHeader.Set("Idempotent-Replayed", "true")
	badReplayedHeader := projectHeader.Clone()
	badReplayedHeader.Set("Idempotent-Replayed", "yes")
	cases := []struct {
		name    string
		ex      exchange
		wantErr string // "" = must validate
	}{
		{"valid key", exchange{"GET", base + "/v1/keys/" + id, reqHeader, nil, 200, got.Header, got.Body}, ""},
		{"member missing", exchange{"GET", base + "/v1/keys/" + id, reqHeader, nil, 200, jsonHeader, noEtag}, "etag"},
		{"undocumented status", exchange{"GET", base + "/healthz", nil, nil, 418, jsonHeader, []byte(`{}`)}, "status 418 is not documented for GET /healthz"},
		{"undocumented status on HEAD", exchange{"HEAD", base + "/v1/keys", reqHeader, nil, 201, jsonHeader, nil}, "status 201 is not documented for GET /v1/keys"},
		{"HEAD of a GET route", exchange{"HEAD", base + "/v1/keys", reqHeader, nil, 200, jsonHeader, nil}, ""},
		{"HEAD refused", exchange{"HEAD", base + "/v1/keys", nil, nil, 401, http.Header{"Content-Type": {"application/problem+json"}, "X-Request-Id": {"req_1"}, "Www-Authenticate": {"Bearer"}}, nil}, ""},
		{"HEAD unrouted", exchange{"HEAD", base + "/v1/nothing", nil, nil, 404, problemHeader, nil}, ""},
		{"+json body", exchange{"POST", base + "/v1/projects", http.Header{"Content-Type": {"application/vnd.keyward+json; charset=utf-8"}}, []byte(`{"name":"p"}`), 201, projectHeader, projectBody}, ""},
		{"unclean path", exchange{"GET", base + "/v1//keys/" + id, reqHeader, nil, 200, got.Header, got.Body}, ""},
		{"padded header value", exchange{"GET", base + "/v1/keys/" + id, paddedHeader, nil, 200, got.Header, got.Body}, ""},
		{"malformed header value", exchange{"GET", base + "/v1/keys/" + id, badAccountHeader, nil, 200, got.Header, got.Body}, "X-Account-Id"},
		{"wrong content type", exchange{"GET", base + "/healthz", nil, nil, 200, problemHeader, []byte(`{"status":"ok"}`)}, "Content-Type"},
		{"no X-Request-Id", exchange{"GET", base + "/healthz", nil, nil, 200, http.Header{"Content-Type": {"application/json"}}, []byte(`{"status":"ok"}`)}, "X-Request-Id"},
		{"accepted request the document forbids", exchange{"POST", base + "/v1/projects", reqHeader, []byte(`{"name":"p","colour":"red"}`), 201, jsonHeader, []byte(`{}`)}, "request accepted"},
		{"refused request is not checked", exchange{"POST", base + "/v1/projects", reqHeader, []byte(`{"name":"p","colour":"red"}`), 400, problemHeader, problem(400, "unknown_field")}, ""},
		{"code of another status", exchange{"GET", base + "/v1/keys/" + id, reqHeader, nil, 404, problemHeader, problem(404, "unauthenticated")}, "code"},
		{"problem status differs", exchange{"GET", base + "/v1/keys/" + id, reqHeader, nil, 404, problemHeader, problem(403, "not_found")}, "status"},
		{"unrouted answered 200", exchange{"GET", base + "/v1/nothing", reqHeader, nil, 200, jsonHeader, []byte(`{}`)}, "no such operation"},
		{"unrouted 404 not a problem", exchange{"GET", base + "/v1/nothing", reqHeader, nil, 404, jsonHeader, problem(404, "not_found")}, "Content-Type"},
		{"unrouted 404 problem", exchange{"GET", base + "/v1/nothing", reqHeader, nil, 404, problemHeader, problem(404, "not_found")}, ""},
		{"429 with Retry-After", exchange{"GET", base + "/v1/keys", reqHeader, nil, 429, lockedHeader, problem(429, "locked")}, ""},
		{"429 without Retry-After", exchange{"GET", base + "/v1/keys", reqHeader, nil, 429, problemHeader, problem(429, "locked")}, "Retry-After"},
		{"locked is not a 423", exchange{"GET", base + "/v1/keys", reqHeader, nil, 423, problemHeader, problem(423, "locked")}, "status 423 is not documented"},
		{"replayed creation", exchange{"POST", base + "/v1/projects", reqHeader, []byte(`{"name":"p"}`), 201, replayedHeader, projectBody}, ""},
		{"bad Idempotent-Replayed", exchange{"POST", base + "/v1/projects", reqHeader, []byte(`{"name":"p"}`), 201, badReplayedHeader, projectBody}, "Idempotent-Replayed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := oaCheckExchange(spec, c.ex)
			msg := fmt.Sprint(errs)
			switch {
			case c.wantErr == "" && len(errs) > 0:
				t.Errorf("want no error, got %s", msg)
			case c.wantErr != "" && !strings.Contains(msg, c.wantErr):
				t.Errorf("want an error mentioning %q, got %s", c.wantErr, msg)
			}
		})
	}
}

// TestOpenAPIVerifyRequiresKey: docs/api.md gives the verify body as {key,
// permissions?, project_id?, ip?, cost?}, so key is required (the document
// says so); a body without it is a 422 naming key, not a verification.
func TestOpenAPIVerifyRequiresKey(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{`{}`, `{"key":null}`, `{"permissions":"documents:read"}`} {
		res := e.do(req{Method: "POST", Path: "/v1/keys/verify", Body: body})
		if res.Status != http.StatusUnprocessableEntity || res.Code(t) != "validation_failed" || !strings.Contains(string(res.Body), `"field":"key"`) {
			t.Errorf("verify %s: %d %s, want 422 validation_failed naming key", body, res.Status, bytes.TrimSpace(res.Body))
		}
	}
	// A malformed key is no error: it verifies as NOT_FOUND.
	if r := e.verify(map[string]any{"key": ""}); r["code"] != "NOT_FOUND" || len(r) != 2 {
		t.Errorf(`verify {"key":""}: %v, want only valid:false, code:NOT_FOUND`, r)
	}
}
