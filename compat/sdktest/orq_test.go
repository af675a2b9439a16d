package sdktest

import (
	"testing"

	"github.com/keyward/keyward/compat"
	"github.com/keyward/keyward/compat/compattest"
)

// orqCalls are the calls orq.mjs makes with orq's current Node SDK: each
// api-key call with its variants and error cases.
var orqCalls = []string{
	"create: service-account owner, all projects, PERMISSION_MODE_ALL",
	"create: user owner",
	"create: single project",
	"create: PERMISSION_MODE_READ_ONLY",
	"create: PERMISSION_MODE_RESTRICTED with access",
	"create: expires_at",
	"create: labels",
	"create: mcp_access without restriction",
	"create: default owner and mode",
	"create: mcp_access restriction → 400",
	"create: PERMISSION_MODE_UNSPECIFIED → 400",
	"create: restricted without access → 400",
	"create: unknown access domain → 400",
	"create: expires_at in the past → 400",
	"listCapabilities",
	"get",
	"get: include_budget",
	"get: unknown id → 404",
	"list",
	"list: limit",
	"list: starting_after",
	"list: ending_before",
	"list: project_id",
	"list: search",
	"list: owner_type user",
	"list: owner_type service account",
	"list: owner_type both",
	"list: permission_mode restricted",
	"list: permission_mode several",
	"list: include_budget",
	"list: tokens are masked",
	"update: rename",
	"update: status DISABLED",
	"list: status",
	"update: status ACTIVE",
	"update: PERMISSION_MODE_READ_ONLY",
	"update: PERMISSION_MODE_RESTRICTED with access",
	"update: access",
	"update: PERMISSION_MODE_ALL",
	"update: project scope single",
	"update: project scope all",
	"update: set expiry",
	"update: clear expiry",
	"update: mcp_access without restriction",
	"update: {}",
	"update: status REVOKED",
	"update: revoked key → 409",
	"update: unknown id → 404",
	"update: empty name → 400",
	"update: to restricted without access → 400",
	"update: expires_at with clear_expires_at → 400",
	"update: level the domain lacks → 400",
	"delete",
	"get: deleted → 404",
	"delete: unknown id → 404",
	"delete: revoked key",
	"managementKeys.list: not supported → 404",
	"a bad credential → 401",
}

// TestOrqNodeSDK runs orq's current Node SDK (@orq-ai/node) through every
// api-key call against the orq dialect's current rendering,
// /compat/orq/current.
func TestOrqNodeSDK(t *testing.T) { runOrq(t, "@orq-ai/node", "orq.mjs", orqCalls) }

// orq412Calls are the calls orq412.mjs makes with orq's Node SDK 4.12.22.
var orq412Calls = []string{
	"create: service-account owner, all projects, PERMISSION_MODE_ALL",
	"create: user owner",
	"create: single project",
	"create: PERMISSION_MODE_READ_ONLY",
	"create: PERMISSION_MODE_RESTRICTED with numeric access",
	"create: expires_at",
	"create: access level out of range → 400",
	"listCapabilities",
	"get",
	"get: include_budget",
	"get: unknown id → 404",
	"list",
	"list: limit and has_more",
	"list: starting_after",
	"list: ending_before",
	"list: project_id",
	"list: search",
	"list: owner_type",
	"list: permission_mode",
	"list: include_budget",
	"update: rename",
	"update: status DISABLED",
	"list: status",
	"update: status ACTIVE",
	"update: PERMISSION_MODE_RESTRICTED with numeric access",
	"update: numeric access",
	"update: PERMISSION_MODE_READ_ONLY",
	"update: PERMISSION_MODE_ALL",
	"update: project scope single",
	"update: project scope all",
	"update: set expiry",
	"update: clear expiry",
	"update: {}",
	"update: status REVOKED",
	"update: revoked key → 409",
	"update: unknown id → 404",
	"update: access level out of range → 400",
	"delete",
	"delete: unknown id → 404",
}

// TestOrqNodeSDK412 runs orq's Node SDK of the previous generation
// (4.12.22, installed as orq-node-4.12) through every api-key call against
// the orq dialect's numeric rendering, /compat/orq/numeric.
func TestOrqNodeSDK412(t *testing.T) { runOrq(t, "orq-node-4.12", "orq412.mjs", orq412Calls) }

// runOrq runs script, which uses the npm package pkg, against a new
// keyward server with every dialect mounted, expecting calls.
func runOrq(t *testing.T, pkg, script string, calls []string) {
	node := requireNode(t, pkg)
	e := compattest.New(t, compat.Mount, compattest.Options{})
	runScript(t, node, script, e.URL, e.Op, calls)
}
