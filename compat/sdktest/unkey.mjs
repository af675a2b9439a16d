// Unkey's TypeScript SDK (@unkey/api, exact version in package-lock.json)
// against keyward's Unkey dialect, run by TestUnkeyTypeScriptSDK
// (unkey_test.go). The only change from an application written for Unkey
// is the client setup: serverURL points at keyward's /compat/unkey and
// rootKey is a keyward management key. Every SDK call is one call(...)
// with one assertion; the names are listed in unkey_test.go.
import { createHash, randomBytes } from "node:crypto";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";
import { call, rejects, assert, done } from "./sdk.mjs";
import { native, rootKey, unkeyURL as serverURL } from "./unkeysetup.mjs";

// The root key: a keyward management key of the default account with the
// permissions Unkey's root-key procedures need (docs/compatibility.md).
const unkey = new Unkey({
  rootKey: await rootKey("unkey root key", [
    "keys:read", "keys:write", "keys:verify", "keys:reveal",
    "members:read", "members:write", "catalog:read", "catalog:write",
  ]),
  serverURL,
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const slugs = (perms) => (perms ?? []).map((p) => p.slug).sort();
const names = (roles) => (roles ?? []).map((r) => r.name).sort();
// verdict is what a verification answer says, in one comparable object.
const verdict = (res) => ({ valid: res.data.valid, code: res.data.code });
const VALID = { valid: true, code: "VALID" };
const invalid = (code) => ({ valid: false, code });

// notFound reports name: fn must fail with the SDK's NotFoundErrorResponse.
const notFound = (name, fn) => call(name, async () => {
  const err = await rejects(fn, 404);
  assert.ok(err instanceof errors.NotFoundErrorResponse, `got ${err?.name}`);
});

// The SDK has no liveness call; Unkey's GET /v2/liveness is checked with
// fetch so that the dialect's every route is covered.
await call("liveness (fetch; not in the SDK)", async () => {
  const res = await fetch(serverURL + "/v2/liveness");
  const body = await res.json();
  assert.deepEqual({ status: res.status, hasMessage: typeof body?.data?.message === "string" }, { status: 200, hasMessage: true });
});

// ---- APIs, permissions, roles, identities: what keys refer to.

const apiId = await call("apis.createApi", async () => {
  const res = await unkey.apis.createApi({ name: "sdk-test-api" });
  assert.match(res.data.apiId, /.+/);
  return res.data.apiId;
});

await call("apis.getApi", async () => {
  const res = await unkey.apis.getApi({ apiId });
  assert.deepEqual({ id: res.data.id, name: res.data.name }, { id: apiId, name: "sdk-test-api" });
});

await call("permissions.createPermission", async () => {
  const res = await unkey.permissions.createPermission({ name: "documents.read", slug: "documents.read", description: "read documents" });
  assert.match(res.data.permissionId, /.+/);
});

const writePermissionId = await call("permissions.createPermission (second)", async () => {
  const res = await unkey.permissions.createPermission({ name: "documents.write", slug: "documents.write" });
  assert.match(res.data.permissionId, /.+/);
  return res.data.permissionId;
});

await call("permissions.getPermission", async () => {
  const res = await unkey.permissions.getPermission({ permission: "documents.read" });
  assert.deepEqual({ slug: res.data.slug, description: res.data.description }, { slug: "documents.read", description: "read documents" });
});

await call("permissions.listPermissions", async () => {
  const res = await unkey.permissions.listPermissions({});
  assert.deepEqual(slugs(res.result.data).filter((s) => s.startsWith("documents.")), ["documents.read", "documents.write"]);
});

await call("permissions.createRole", async () => {
  const res = await unkey.permissions.createRole({ name: "reader", description: "reads documents", permissions: ["documents.read"] });
  assert.match(res.data.roleId, /.+/);
});

await call("permissions.createRole (second)", async () => {
  const res = await unkey.permissions.createRole({ name: "scratch" });
  assert.match(res.data.roleId, /.+/);
});

await call("permissions.getRole", async () => {
  const res = await unkey.permissions.getRole({ role: "reader" });
  assert.deepEqual({ name: res.data.name, permissions: slugs(res.data.permissions) }, { name: "reader", permissions: ["documents.read"] });
});

await call("permissions.listRoles", async () => {
  const res = await unkey.permissions.listRoles({});
  assert.deepEqual(names(res.result.data).filter((n) => n === "reader" || n === "scratch"), ["reader", "scratch"]);
});

await call("identities.createIdentity", async () => {
  const res = await unkey.identities.createIdentity({ externalId: "user_1" });
  assert.match(res.data.identityId, /.+/);
});

// An identity is a keyward service account, which holds no metadata or
// rate limits: asking for them is a 400 that says so (docs/compatibility.md).
await call("identities.createIdentity meta (400, cannot be expressed)", async () => {
  const err = await rejects(() => unkey.identities.createIdentity({ externalId: "user_2", meta: { plan: "pro" } }), 400);
  assert.ok(err instanceof errors.BadRequestErrorResponse && err.error.detail.includes("cannot be expressed"), `got ${err?.name}: ${err?.message}`);
});

await call("identities.getIdentity", async () => {
  const res = await unkey.identities.getIdentity({ identity: "user_1" });
  assert.equal(res.data.externalId, "user_1");
});

await call("identities.listIdentities", async () => {
  const res = await unkey.identities.listIdentities({});
  assert.deepEqual(res.result.data.map((i) => i.externalId), ["user_1"]);
});

await call("identities.updateIdentity", async () => {
  const res = await unkey.identities.updateIdentity({ identity: "user_1", meta: {}, ratelimits: [] });
  assert.equal(res.data.externalId, "user_1");
});

// ---- Keys.

const main = await call("keys.createKey", async () => {
  const res = await unkey.keys.createKey({
    apiId,
    name: "sdk key",
    externalId: "user_1",
    meta: { tier: "gold" },
    permissions: ["documents.read"],
  });
  assert.ok(typeof res.data.keyId === "string" && typeof res.data.key === "string" && res.data.key.length > 16, JSON.stringify(res.data));
  return res.data;
}) ?? {};

// A key made through the Unkey dialect is an ordinary keyward key.
await call("native GET /v1/keys/{id} (key made by the SDK)", async () => {
  const res = await native("GET", `/v1/keys/${main.keyId}`);
  assert.deepEqual({ status: res.status, id: res.body?.id, name: res.body?.name }, { status: 200, id: main.keyId, name: "sdk key" });
});

await call("keys.verifyKey VALID", async () => {
  const res = await unkey.keys.verifyKey({ key: main.key });
  assert.deepEqual(
    { ...verdict(res), keyId: res.data.keyId, externalId: res.data.identity?.externalId, meta: res.data.meta },
    { ...VALID, keyId: main.keyId, externalId: "user_1", meta: { tier: "gold" } },
  );
});

await call("keys.verifyKey NOT_FOUND", async () => {
  const res = await unkey.keys.verifyKey({ key: "sk_" + randomBytes(16).toString("hex") });
  assert.deepEqual(verdict(res), invalid("NOT_FOUND"));
});

await call("keys.verifyKey permission query VALID", async () => {
  const res = await unkey.keys.verifyKey({ key: main.key, permissions: "documents.read OR documents.write" });
  assert.deepEqual(verdict(res), VALID);
});

await call("keys.verifyKey INSUFFICIENT_PERMISSIONS", async () => {
  const res = await unkey.keys.verifyKey({ key: main.key, permissions: "documents.read AND documents.write" });
  assert.deepEqual(verdict(res), invalid("INSUFFICIENT_PERMISSIONS"));
});

await call("keys.verifyKey bad permission query (400)", async () => {
  const err = await rejects(() => unkey.keys.verifyKey({ key: main.key, permissions: "documents.read AND (" }), 400);
  assert.ok(err instanceof errors.BadRequestErrorResponse, `got ${err?.name}`);
});

await call("keys.getKey", async () => {
  const res = await unkey.keys.getKey({ keyId: main.keyId });
  assert.deepEqual(
    { keyId: res.data.keyId, name: res.data.name, enabled: res.data.enabled, permissions: res.data.permissions, meta: res.data.meta },
    { keyId: main.keyId, name: "sdk key", enabled: true, permissions: ["documents.read"], meta: { tier: "gold" } },
  );
});

await call("keys.whoami", async () => {
  const res = await unkey.keys.whoami({ key: main.key });
  assert.deepEqual({ keyId: res.data.keyId, name: res.data.name }, { keyId: main.keyId, name: "sdk key" });
});

await notFound("keys.whoami unknown key (NotFound)", () => unkey.keys.whoami({ key: "kw_" + randomBytes(16).toString("hex") }));

await call("keys.updateKey", async () => {
  const res = await unkey.keys.updateKey({ keyId: main.keyId, name: "renamed key", meta: { tier: "platinum" } });
  assert.match(res.meta.requestId, /.+/);
});

await call("keys.getKey after updateKey", async () => {
  const res = await unkey.keys.getKey({ keyId: main.keyId });
  assert.deepEqual({ name: res.data.name, meta: res.data.meta }, { name: "renamed key", meta: { tier: "platinum" } });
});

await call("keys.addPermissions", async () => {
  const res = await unkey.keys.addPermissions({ keyId: main.keyId, permissions: ["documents.write"] });
  assert.deepEqual(slugs(res.data), ["documents.read", "documents.write"]);
});

await call("keys.removePermissions", async () => {
  const res = await unkey.keys.removePermissions({ keyId: main.keyId, permissions: ["documents.write"] });
  assert.deepEqual(slugs(res.data), ["documents.read"]);
});

// As Unkey does, add and set create a permission that does not exist when
// the root key may (catalog:write), and refuse with 403 when it may not.
await call("keys.addPermissions creates a missing permission", async () => {
  const res = await unkey.keys.addPermissions({ keyId: main.keyId, permissions: ["billing.read"] });
  assert.deepEqual(slugs(res.data), ["billing.read", "documents.read"]);
});

await call("permissions.getPermission created by addPermissions", async () => {
  const res = await unkey.permissions.getPermission({ permission: "billing.read" });
  assert.equal(res.data.slug, "billing.read");
});

await call("keys.setPermissions missing permission without catalog:write (403)", async () => {
  const narrow = new Unkey({ rootKey: await rootKey("unkey root key without catalog:write", ["keys:read", "keys:write", "catalog:read"]), serverURL });
  const err = await rejects(() => narrow.keys.setPermissions({ keyId: main.keyId, permissions: ["billing.write"] }), 403);
  assert.ok(err instanceof errors.ForbiddenErrorResponse, `got ${err?.name}`);
});

await call("keys.setPermissions", async () => {
  const res = await unkey.keys.setPermissions({ keyId: main.keyId, permissions: [] });
  assert.deepEqual(slugs(res.data), []);
});

await call("keys.addRoles", async () => {
  const res = await unkey.keys.addRoles({ keyId: main.keyId, roles: ["reader", "scratch"] });
  assert.deepEqual(names(res.data), ["reader", "scratch"]);
});

await call("keys.removeRoles", async () => {
  const res = await unkey.keys.removeRoles({ keyId: main.keyId, roles: ["scratch"] });
  assert.deepEqual(names(res.data), ["reader"]);
});

await call("keys.setRoles", async () => {
  const res = await unkey.keys.setRoles({ keyId: main.keyId, roles: ["reader"] });
  assert.deepEqual(names(res.data), ["reader"]);
});

// The key now has no direct permission, only the role reader's.
await call("keys.verifyKey VALID through a role", async () => {
  const res = await unkey.keys.verifyKey({ key: main.key, permissions: "documents.read" });
  assert.deepEqual(verdict(res), VALID);
});

await call("keys.verifyKey INSUFFICIENT_PERMISSIONS through a role", async () => {
  const res = await unkey.keys.verifyKey({ key: main.key, permissions: "documents.write" });
  assert.deepEqual(verdict(res), invalid("INSUFFICIENT_PERMISSIONS"));
});

// DISABLED, then enabled again.
const disabled = await call("keys.createKey disabled", async () => {
  const res = await unkey.keys.createKey({ apiId, name: "disabled key", enabled: false });
  assert.match(res.data.keyId, /.+/);
  return res.data;
}) ?? {};

await call("keys.verifyKey DISABLED", async () => {
  const res = await unkey.keys.verifyKey({ key: disabled.key });
  assert.deepEqual(verdict(res), invalid("DISABLED"));
});

await call("keys.whoami disabled key", async () => {
  const res = await unkey.keys.whoami({ key: disabled.key });
  assert.deepEqual({ keyId: res.data.keyId, enabled: res.data.enabled }, { keyId: disabled.keyId, enabled: false });
});

await call("keys.updateKey enabled", async () => {
  const res = await unkey.keys.updateKey({ keyId: disabled.keyId, enabled: true });
  assert.match(res.meta.requestId, /.+/);
});

await call("keys.verifyKey VALID after enabling", async () => {
  const res = await unkey.keys.verifyKey({ key: disabled.key });
  assert.deepEqual(verdict(res), VALID);
});

// EXPIRED: a key that expires in three seconds (time enough to create it on a
// slow machine), verified at the end of the script.
const expiresAt = Date.now() + 3000;
const expiring = await call("keys.createKey expires", async () => {
  const res = await unkey.keys.createKey({ apiId, name: "expiring key", expires: expiresAt });
  assert.match(res.data.keyId, /.+/);
  return res.data;
}) ?? {};

// USAGE_EXCEEDED with credits, then keys.updateCredits.
const metered = await call("keys.createKey credits", async () => {
  const res = await unkey.keys.createKey({ apiId, name: "metered key", credits: { remaining: 1 } });
  assert.match(res.data.keyId, /.+/);
  return res.data;
}) ?? {};

await call("keys.verifyKey VALID spends a credit", async () => {
  const res = await unkey.keys.verifyKey({ key: metered.key });
  assert.deepEqual({ ...verdict(res), credits: res.data.credits }, { ...VALID, credits: 0 });
});

await call("keys.verifyKey USAGE_EXCEEDED", async () => {
  const res = await unkey.keys.verifyKey({ key: metered.key });
  assert.deepEqual(verdict(res), invalid("USAGE_EXCEEDED"));
});

await call("keys.updateCredits set", async () => {
  const res = await unkey.keys.updateCredits({ keyId: metered.keyId, operation: "set", value: 5 });
  assert.equal(res.data.remaining, 5);
});

await call("keys.updateCredits increment", async () => {
  const res = await unkey.keys.updateCredits({ keyId: metered.keyId, operation: "increment", value: 2 });
  assert.equal(res.data.remaining, 7);
});

await call("keys.updateCredits decrement", async () => {
  const res = await unkey.keys.updateCredits({ keyId: metered.keyId, operation: "decrement", value: 3 });
  assert.equal(res.data.remaining, 4);
});

await call("keys.verifyKey VALID with credits cost", async () => {
  const res = await unkey.keys.verifyKey({ key: metered.key, credits: { cost: 4 } });
  assert.deepEqual({ ...verdict(res), credits: res.data.credits }, { ...VALID, credits: 0 });
});

// keyward's own permission atoms as slugs: resource:access (and
// resource:access:target) on a resource of the catalog; a bare resource id
// is read on every object.
const writer = await call("keys.createKey keyward permission atom", async () => {
  const res = await unkey.keys.createKey({ apiId, name: "writer key", permissions: ["documents:write"] });
  assert.match(res.data.keyId, /.+/);
  return res.data;
}) ?? {};

await call("keys.getKey keyward permission atom", async () => {
  const res = await unkey.keys.getKey({ keyId: writer.keyId });
  assert.deepEqual(res.data.permissions, ["documents:write"]);
});

await call("keys.verifyKey VALID with an atom query", async () => {
  const res = await unkey.keys.verifyKey({ key: writer.key, permissions: "documents:write AND documents" });
  assert.deepEqual(verdict(res), VALID);
});

const oneDoc = await call("keys.createKey keyward permission atom with a target", async () => {
  const res = await unkey.keys.createKey({ apiId, name: "one document", permissions: ["documents:read:doc_1"] });
  assert.match(res.data.keyId, /.+/);
  return res.data;
}) ?? {};

await call("keys.verifyKey VALID for its object", async () => {
  const res = await unkey.keys.verifyKey({ key: oneDoc.key, permissions: "documents:read:doc_1" });
  assert.deepEqual(verdict(res), VALID);
});

await call("keys.verifyKey INSUFFICIENT_PERMISSIONS for another object", async () => {
  const res = await unkey.keys.verifyKey({ key: oneDoc.key, permissions: "documents:read:doc_2" });
  assert.deepEqual(verdict(res), invalid("INSUFFICIENT_PERMISSIONS"));
});

// A prefix of the application's own, and credits that refill daily.
const refilled = await call("keys.createKey prefix and refill", async () => {
  const res = await unkey.keys.createKey({
    apiId, name: "prefixed key", prefix: "acme",
    credits: { remaining: 10, refill: { interval: "daily", amount: 10 } },
  });
  assert.ok(res.data.key.startsWith("acme_"), res.data.key);
  return res.data;
}) ?? {};

await call("keys.getKey credits refill", async () => {
  const res = await unkey.keys.getKey({ keyId: refilled.keyId });
  assert.deepEqual(
    { remaining: res.data.credits?.remaining, interval: res.data.credits?.refill?.interval, amount: res.data.credits?.refill?.amount, start: res.data.start.startsWith("acme_") },
    { remaining: 10, interval: "daily", amount: 10, start: true },
  );
});

await call("keys.verifyKey with tags", async () => {
  const res = await unkey.keys.verifyKey({ key: refilled.key, tags: ["path=/v1/documents", "region=eu"] });
  assert.deepEqual({ ...verdict(res), credits: res.data.credits }, { ...VALID, credits: 9 });
});

await call("keys.updateKey credits null (unlimited)", async () => {
  const res = await unkey.keys.updateKey({ keyId: refilled.keyId, credits: null });
  assert.match(res.meta.requestId, /.+/);
});

await call("keys.getKey without credits", async () => {
  const res = await unkey.keys.getKey({ keyId: refilled.keyId });
  assert.equal(res.data.credits?.remaining ?? null, null, JSON.stringify(res.data.credits));
});

// A recoverable key: its token read back with decrypt (keys:reveal).
const recoverable = await call("keys.createKey recoverable", async () => {
  const res = await unkey.keys.createKey({ apiId, name: "recoverable key", recoverable: true });
  assert.match(res.data.keyId, /.+/);
  return res.data;
}) ?? {};

await call("keys.getKey decrypt", async () => {
  const res = await unkey.keys.getKey({ keyId: recoverable.keyId, decrypt: true });
  assert.equal(res.data.plaintext, recoverable.key);
});

await call("apis.listKeys decrypt", async () => {
  const res = await unkey.apis.listKeys({ apiId, decrypt: true });
  const k = res.result.data.find((x) => x.keyId === recoverable.keyId);
  assert.equal(k?.plaintext, recoverable.key);
});

// FORBIDDEN: a key made by the native API with an IP allowlist; Unkey's
// verifyKey sends no client address, and keyward fails closed.
const fenced = await call("native POST /v1/keys with an IP allowlist", async () => {
  const res = await native("POST", "/v1/keys", { name: "fenced", ip_allowlist: ["10.0.0.0/8"] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}) ?? {};

await call("keys.verifyKey FORBIDDEN", async () => {
  const res = await unkey.keys.verifyKey({ key: fenced.secret });
  assert.deepEqual({ ...verdict(res), keyId: res.data.keyId }, { ...invalid("FORBIDDEN"), keyId: fenced.id });
});

// RATE_LIMITED with a named rate limit applied on every verification.
const limited = await call("keys.createKey ratelimits", async () => {
  const res = await unkey.keys.createKey({
    apiId, name: "limited key",
    ratelimits: [{ name: "requests", limit: 1, duration: 60000, autoApply: true }],
  });
  assert.match(res.data.keyId, /.+/);
  return res.data;
}) ?? {};

await call("keys.verifyKey VALID within the rate limit", async () => {
  const res = await unkey.keys.verifyKey({ key: limited.key });
  assert.deepEqual(verdict(res), VALID);
});

await call("keys.verifyKey RATE_LIMITED", async () => {
  const res = await unkey.keys.verifyKey({ key: limited.key });
  assert.deepEqual(verdict(res), invalid("RATE_LIMITED"));
});

// keys.migrateKeys: a key of another system, moved by the hash of its
// token, verifies with that token.
const legacyToken = "legacy_" + randomBytes(24).toString("hex");
const migrated = await call("keys.migrateKeys", async () => {
  const hash = createHash("sha256").update(legacyToken).digest("base64");
  const res = await unkey.keys.migrateKeys({
    migrationId: "sdk-test",
    apiId,
    keys: [{ hash, name: "migrated key", externalId: "user_1", permissions: ["documents.read"] }],
  });
  assert.deepEqual(
    { migrated: res.data.migrated.map((m) => m.hash), failed: res.data.failed, keyId: typeof res.data.migrated[0]?.keyId },
    { migrated: [hash], failed: [], keyId: "string" },
  );
  return res.data.migrated[0];
});

await call("keys.migrateKeys known hash (failed)", async () => {
  const hash = createHash("sha256").update(legacyToken).digest("hex");
  const res = await unkey.keys.migrateKeys({ migrationId: "sdk-test", apiId, keys: [{ hash, name: "again" }] });
  assert.deepEqual({ migrated: res.data.migrated, failed: res.data.failed }, { migrated: [], failed: [hash] });
});

await call("keys.verifyKey VALID for a migrated key", async () => {
  const res = await unkey.keys.verifyKey({ key: legacyToken, permissions: "documents.read" });
  assert.deepEqual({ ...verdict(res), keyId: res.data.keyId }, { ...VALID, keyId: migrated?.keyId });
});

// keys.rerollKey: a new secret; the old one stops at once (expiration 0).
const rerolled = await call("keys.rerollKey", async () => {
  const res = await unkey.keys.rerollKey({ keyId: main.keyId, expiration: 0 });
  assert.ok(typeof res.data.key === "string" && res.data.key !== main.key && typeof res.data.keyId === "string", JSON.stringify(res.data));
  return res.data;
}) ?? {};

await call("keys.verifyKey VALID after rerollKey", async () => {
  const res = await unkey.keys.verifyKey({ key: rerolled.key });
  assert.deepEqual(verdict(res), VALID);
});

await call("keys.verifyKey old secret after rerollKey", async () => {
  const res = await unkey.keys.verifyKey({ key: main.key });
  assert.equal(res.data.valid, false, JSON.stringify(res.data));
});

// apis.listKeys: two pages of two keys, then the rest, by the cursor.
await call("apis.listKeys with pagination cursor", async () => {
  const first = await unkey.apis.listKeys({ apiId, limit: 2 });
  const second = await unkey.apis.listKeys({ apiId, limit: 2, cursor: first.result.pagination.cursor });
  const ids = [...first.result.data, ...second.result.data].map((k) => k.keyId);
  assert.deepEqual(
    { firstCount: first.result.data.length, firstHasMore: first.result.pagination.hasMore, distinct: new Set(ids).size },
    { firstCount: 2, firstHasMore: true, distinct: ids.length },
  );
});

await call("apis.listKeys next page (the SDK's paginator)", async () => {
  const seen = [];
  for await (const page of await unkey.apis.listKeys({ apiId, limit: 2 })) {
    seen.push(...page.result.data.map((k) => k.keyId));
  }
  const want = [
    main.keyId, disabled.keyId, expiring.keyId, writer.keyId, oneDoc.keyId, metered.keyId,
    refilled.keyId, recoverable.keyId, limited.keyId, migrated?.keyId, rerolled.keyId,
  ];
  assert.deepEqual([...new Set(seen)].sort(), [...new Set(want)].sort());
});

await call("apis.listKeys externalId", async () => {
  const res = await unkey.apis.listKeys({ apiId, externalId: "user_1" });
  assert.deepEqual(
    [...new Set(res.result.data.map((k) => k.keyId))].sort(),
    [...new Set([main.keyId, rerolled.keyId, migrated?.keyId])].sort(),
  );
});

// EXPIRED, now that the key's time has passed.
await sleep(Math.max(0, expiresAt + 200 - Date.now()));
await call("keys.verifyKey EXPIRED", async () => {
  const res = await unkey.keys.verifyKey({ key: expiring.key });
  assert.deepEqual(verdict(res), invalid("EXPIRED"));
});

// ---- ratelimit.limit: a limit on any identifier, no key involved.

await call("ratelimit.limit", async () => {
  const res = await unkey.ratelimit.limit({ namespace: "sdk-test", identifier: "user_1", limit: 1, duration: 60000 });
  assert.deepEqual({ success: res.data.success, limit: res.data.limit, remaining: res.data.remaining }, { success: true, limit: 1, remaining: 0 });
});

await call("ratelimit.limit exceeded", async () => {
  const res = await unkey.ratelimit.limit({ namespace: "sdk-test", identifier: "user_1", limit: 1, duration: 60000 });
  assert.deepEqual({ success: res.data.success, remaining: res.data.remaining }, { success: false, remaining: 0 });
});

// ---- Errors.

await call("keys.getKey unknown key (NotFound)", async () => {
  const err = await rejects(() => unkey.keys.getKey({ keyId: "key_2cGKbMxRyIzhCxo1Idjz8q" }), 404);
  assert.ok(err instanceof errors.NotFoundErrorResponse && err.error.status === 404, `got ${err?.name}`);
});

await call("keys.createKey bad input (400)", async () => {
  const err = await rejects(() => unkey.keys.createKey({ apiId, byteLength: 1 }), 400);
  assert.ok(err instanceof errors.BadRequestErrorResponse && err.error.status === 400, `got ${err?.name}`);
});

// A createKey naming a new identity, refused once the identity is made (a
// name over keyward's 255 characters): nothing of it is left.
await call("keys.createKey refused with a new externalId (400)", async () => {
  const err = await rejects(() => unkey.keys.createKey({ apiId, externalId: "ghost", name: "x".repeat(300) }), 400);
  assert.ok(err instanceof errors.BadRequestErrorResponse, `got ${err?.name}`);
});

await notFound("identities.getIdentity after a refused createKey (NotFound)", () => unkey.identities.getIdentity({ identity: "ghost" }));

await call("ratelimit.limit bad input (400)", async () => {
  const err = await rejects(() => unkey.ratelimit.limit({ namespace: "sdk-test", identifier: "user_1", limit: 1, duration: -5 }), 400);
  assert.ok(err instanceof errors.BadRequestErrorResponse, `got ${err?.name}`);
});

await call("apis.getApi unknown root key (401)", async () => {
  const stranger = new Unkey({ rootKey: "kwm_" + randomBytes(24).toString("hex"), serverURL });
  const err = await rejects(() => stranger.apis.getApi({ apiId }), 401);
  assert.ok(err instanceof errors.UnauthorizedErrorResponse, `got ${err?.name}`);
});

// ---- Deleting.

await call("keys.deleteKey", async () => {
  const res = await unkey.keys.deleteKey({ keyId: disabled.keyId });
  assert.match(res.meta.requestId, /.+/);
});

await notFound("keys.getKey deleted key (NotFound)", () => unkey.keys.getKey({ keyId: disabled.keyId }));

await call("keys.verifyKey NOT_FOUND after deleteKey", async () => {
  const res = await unkey.keys.verifyKey({ key: disabled.key });
  assert.deepEqual(verdict(res), invalid("NOT_FOUND"));
});

await call("permissions.deletePermission", async () => {
  const res = await unkey.permissions.deletePermission({ permission: writePermissionId ?? "documents.write" });
  assert.match(res.meta.requestId, /.+/);
});

await notFound("permissions.getPermission deleted (NotFound)", () => unkey.permissions.getPermission({ permission: "documents.write" }));

await call("permissions.deleteRole", async () => {
  const res = await unkey.permissions.deleteRole({ role: "scratch" });
  assert.match(res.meta.requestId, /.+/);
});

await notFound("permissions.getRole deleted (NotFound)", () => unkey.permissions.getRole({ role: "scratch" }));

// keyward refuses to delete an identity that still owns keys (it would
// have to revoke them): a 412, which this procedure's SDK schema does not
// list, so the SDK raises its generic APIError.
await call("identities.deleteIdentity with keys (412)", async () => {
  const err = await rejects(() => unkey.identities.deleteIdentity({ identity: "user_1" }), 412);
  assert.ok(err instanceof errors.APIError, `got ${err?.name}`);
});

await call("keys.deleteKey the identity's keys", async () => {
  const res = await Promise.all([...new Set([rerolled.keyId, main.keyId, migrated?.keyId])].map((keyId) => unkey.keys.deleteKey({ keyId })));
  assert.ok(res.every((r) => typeof r.meta.requestId === "string"));
});

await call("identities.deleteIdentity", async () => {
  const res = await unkey.identities.deleteIdentity({ identity: "user_1" });
  assert.match(res.meta.requestId, /.+/);
});

await notFound("identities.getIdentity deleted (NotFound)", () => unkey.identities.getIdentity({ identity: "user_1" }));

await call("apis.deleteApi", async () => {
  const res = await unkey.apis.deleteApi({ apiId });
  assert.match(res.meta.requestId, /.+/);
});

await notFound("apis.getApi deleted (NotFound)", () => unkey.apis.getApi({ apiId }));

done();
