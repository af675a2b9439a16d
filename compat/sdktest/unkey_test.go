package sdktest

import (
	"testing"

	"github.com/keyward/keyward/compat"
	"github.com/keyward/keyward/compat/compattest"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// unkeyCalls are the calls unkey.mjs makes with @unkey/api against the
// Unkey dialect: every procedure of the SDK that keyward serves, each
// verification code, and the error cases.
var unkeyCalls = []string{
	"liveness (fetch; not in the SDK)",
	"apis.createApi",
	"apis.getApi",
	"permissions.createPermission",
	"permissions.createPermission (second)",
	"permissions.getPermission",
	"permissions.listPermissions",
	"permissions.createRole",
	"permissions.createRole (second)",
	"permissions.getRole",
	"permissions.listRoles",
	"identities.createIdentity",
	"identities.createIdentity meta (400, cannot be expressed)",
	"identities.getIdentity",
	"identities.listIdentities",
	"identities.updateIdentity",
	"keys.createKey",
	"native GET /v1/keys/{id} (key made by the SDK)",
	"keys.verifyKey VALID",
	"keys.verifyKey NOT_FOUND",
	"keys.verifyKey permission query VALID",
	"keys.verifyKey INSUFFICIENT_PERMISSIONS",
	"keys.verifyKey bad permission query (400)",
	"keys.getKey",
	"keys.whoami",
	"keys.whoami unknown key (NotFound)",
	"keys.updateKey",
	"keys.getKey after updateKey",
	"keys.addPermissions",
	"keys.removePermissions",
	"keys.addPermissions creates a missing permission",
	"permissions.getPermission created by addPermissions",
	"keys.setPermissions missing permission without catalog:write (403)",
	"keys.setPermissions",
	"keys.addRoles",
	"keys.removeRoles",
	"keys.setRoles",
	"keys.verifyKey VALID through a role",
	"keys.verifyKey INSUFFICIENT_PERMISSIONS through a role",
	"keys.createKey disabled",
	"keys.verifyKey DISABLED",
	"keys.whoami disabled key",
	"keys.updateKey enabled",
	"keys.verifyKey VALID after enabling",
	"keys.createKey expires",
	"keys.createKey credits",
	"keys.verifyKey VALID spends a credit",
	"keys.verifyKey USAGE_EXCEEDED",
	"keys.updateCredits set",
	"keys.updateCredits increment",
	"keys.updateCredits decrement",
	"keys.verifyKey VALID with credits cost",
	"keys.createKey keyward permission atom",
	"keys.getKey keyward permission atom",
	"keys.verifyKey VALID with an atom query",
	"keys.createKey keyward permission atom with a target",
	"keys.verifyKey VALID for its object",
	"keys.verifyKey INSUFFICIENT_PERMISSIONS for another object",
	"keys.createKey prefix and refill",
	"keys.getKey credits refill",
	"keys.verifyKey with tags",
	"keys.updateKey credits null (unlimited)",
	"keys.getKey without credits",
	"keys.createKey recoverable",
	"keys.getKey decrypt",
	"apis.listKeys decrypt",
	"native POST /v1/keys with an IP allowlist",
	"keys.verifyKey FORBIDDEN",
	"keys.createKey ratelimits",
	"keys.verifyKey VALID within the rate limit",
	"keys.verifyKey RATE_LIMITED",
	"keys.migrateKeys",
	"keys.migrateKeys known hash (failed)",
	"keys.verifyKey VALID for a migrated key",
	"keys.rerollKey",
	"keys.verifyKey VALID after rerollKey",
	"keys.verifyKey old secret after rerollKey",
	"apis.listKeys with pagination cursor",
	"apis.listKeys next page (the SDK's paginator)",
	"apis.listKeys externalId",
	"keys.verifyKey EXPIRED",
	"ratelimit.limit",
	"ratelimit.limit exceeded",
	"keys.getKey unknown key (NotFound)",
	"keys.createKey bad input (400)",
	"keys.createKey refused with a new externalId (400)",
	"identities.getIdentity after a refused createKey (NotFound)",
	"ratelimit.limit bad input (400)",
	"apis.getApi unknown root key (401)",
	"keys.deleteKey",
	"keys.getKey deleted key (NotFound)",
	"keys.verifyKey NOT_FOUND after deleteKey",
	"permissions.deletePermission",
	"permissions.getPermission deleted (NotFound)",
	"permissions.deleteRole",
	"permissions.getRole deleted (NotFound)",
	"identities.deleteIdentity with keys (412)",
	"keys.deleteKey the identity's keys",
	"identities.deleteIdentity",
	"identities.getIdentity deleted (NotFound)",
	"apis.deleteApi",
	"apis.getApi deleted (NotFound)",
}

// TestUnkeyTypeScriptSDK runs Unkey's TypeScript SDK (@unkey/api) against
// keyward's /compat/unkey, with a keyward management key as its root key.
// The server has a master key, so that keys can be recoverable.
func TestUnkeyTypeScriptSDK(t *testing.T) {
	node := requireNode(t, "@unkey/api")
	env := compattest.New(t, compat.Mount, compattest.Options{Service: service.Options{MasterKey: keywardtest.MasterKey(t)}})
	runScript(t, node, "unkey.mjs", env.URL, env.Op, unkeyCalls)
}

// honoCalls are the requests hono.mjs sends to its app and to keyward.
var honoCalls = []string{
	"native POST /v1/keys",
	"GET /protected/hello with a keyward key",
	"GET /protected/hello without a key",
	"GET /protected/hello with an unknown key",
	"native POST /v1/keys with a scope on documents",
	"native POST /v1/keys without scopes",
	"GET /documents/list with a key that may read documents",
	"GET /documents/list with a key without that permission",
	"native PATCH /v1/keys/{id} status revoked",
	"GET /protected/hello with the revoked key",
}

// TestUnkeyHonoApp runs a Hono app protected by @unkey/hono, pointed at
// keyward: its route accepts a key made by the native API and refuses it
// once revoked.
func TestUnkeyHonoApp(t *testing.T) {
	node := requireNode(t, "@unkey/api", "@unkey/hono", "hono")
	env := compattest.New(t, compat.Mount, compattest.Options{})
	runScript(t, node, "hono.mjs", env.URL, env.Op, honoCalls)
}
