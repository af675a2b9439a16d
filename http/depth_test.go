package http_test

// Issue 9, point 7: free-form JSON (metadata) nests at most
// keyward.MaxJSONDepth levels. The old code took 2,700 levels, after which
// every listing and audit page holding the key was unreadable for
// Python's json.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// dpNested returns metadata whose member "a" makes the whole object
// depth levels deep (the metadata object is the first).
func dpNested(depth int) string {
	inner := strings.Repeat(`[`, depth-1) + `1` + strings.Repeat(`]`, depth-1)
	return `{"a":` + inner + `}`
}

func TestMetadataDepthLimit(t *testing.T) {
	e := newEnv(t)
	max := keyward.MaxJSONDepth
	k := e.must(http.StatusCreated, req{Method: "POST", Path: "/v1/keys",
		Body: `{"name":"deep enough","metadata":` + dpNested(max) + `}`}).JSON(t)
	id := k["id"].(string)
	before := dump(t, e)
	n := e.auditCount()
	for _, depth := range []int{max + 1, 2700} {
		for _, r := range []req{
			{Method: "POST", Path: "/v1/keys", Body: `{"name":"too deep","metadata":` + dpNested(depth) + `}`},
			{Method: "PATCH", Path: "/v1/keys/" + id, Body: `{"metadata":` + dpNested(depth) + `}`},
			{Method: "PUT", Path: "/v1/keys/" + id, Body: `{"name":"x","metadata":` + dpNested(depth) + `}`},
			{Method: "POST", Path: "/v1/keys/import", Body: `{"keys":[{"hash":"` + rkHashHex("deep") + `","name":"i","metadata":` + dpNested(depth) + `}]}`},
		} {
			p := e.problem(e.do(r), http.StatusUnprocessableEntity, "validation_failed")
			errs, _ := p["errors"].([]any)
			if len(errs) == 0 || !strings.HasPrefix(errs[0].(map[string]any)["field"].(string), "metadata") &&
				!strings.HasSuffix(errs[0].(map[string]any)["field"].(string), ".metadata") {
				t.Errorf("%s %s with metadata %d deep: errors %v, want one naming metadata", r.Method, r.Path, depth, errs)
			}
		}
	}
	unchanged(t, e, before, "too deep metadata")
	if got := e.auditCount(); got != n {
		t.Errorf("audit events %d → %d", n, got)
	}
	// Strings that look like nesting are not nesting.
	e.must(http.StatusOK, req{Method: "PATCH", Path: "/v1/keys/" + id,
		Body: `{"metadata":{"s":"` + strings.Repeat(`[{`, 100) + `\"\\"}}`})
}
