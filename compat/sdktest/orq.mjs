// orq's current Node SDK (@orq-ai/node, the version in package-lock.json,
// which speaks orq's APIKeyRestResponse shape) against keyward's orq
// dialect at /compat/orq/current: every api-key call the SDK has, each a
// call with one assertion, the SDK parsing every answer. Run by
// orq_test.go.
import { Orq } from "@orq-ai/node";
import { call, rejects, assert, env, done } from "./sdk.mjs";
import { workspace } from "./orqsetup.mjs";

const { acc, mk, user, orqPrj } = await workspace("orq-sdk-current");

const orq = new Orq({ apiKey: mk, serverURL: `${env.url}/compat/orq/current` });
const keys = orq.apiKeys;
const unknownID = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const future = new Date(Date.now() + 30 * 24 * 3600 * 1000);
future.setMilliseconds(123);

// Creates: every owner, project scope and permission mode, access,
// expires_at, labels, mcp_access. Keys are listed newest first, so the
// order of creation is the order the list checks below expect, reversed.
const saAll = await call("create: service-account owner, all projects, PERMISSION_MODE_ALL", async () => {
  const k = await keys.create({
    name: "sa all", owner: { serviceAccount: {} }, projectScope: { all: {} }, permissionMode: "PERMISSION_MODE_ALL",
  });
  assert.deepEqual([k.owner, k.projectScope, k.permissionMode, k.token.startsWith(k.tokenPrefix)],
    [{ service_account: {} }, { all: {} }, "PERMISSION_MODE_ALL", true]);
  return k;
});
const userKey = await call("create: user owner", async () => {
  const k = await keys.create({ name: "user key", owner: { user: { userId: user } } });
  assert.deepEqual(k.owner, { user: { user_id: user } });
  return k;
});
const single = await call("create: single project", async () => {
  const k = await keys.create({ name: "project key", projectScope: { single: { projectId: orqPrj } } });
  assert.deepEqual([k.projectScope, k.projects], [{ single: { project_id: orqPrj } }, [orqPrj]]);
  return k;
});
const readOnly = await call("create: PERMISSION_MODE_READ_ONLY", async () => {
  const k = await keys.create({ name: "read only", permissionMode: "PERMISSION_MODE_READ_ONLY" });
  assert.equal(k.permissionMode, "PERMISSION_MODE_READ_ONLY");
  return k;
});
const restricted = await call("create: PERMISSION_MODE_RESTRICTED with access", async () => {
  const k = await keys.create({
    name: "restricted", permissionMode: "PERMISSION_MODE_RESTRICTED",
    access: { agent: "ACCESS_LEVEL_WRITE", dataset: "ACCESS_LEVEL_READ", prompt: "ACCESS_LEVEL_NONE" },
  });
  assert.deepEqual(k.access, { agent: "ACCESS_LEVEL_WRITE", dataset: "ACCESS_LEVEL_READ" });
  return k;
});
const expiring = await call("create: expires_at", async () => {
  const k = await keys.create({ name: "expiring", expiresAt: future });
  assert.equal(k.expiration?.getTime(), future.getTime());
  return k;
});
const labelled = await call("create: labels", async () => {
  const k = await keys.create({ name: "labelled", labels: { team: "search", env: "prod" } });
  assert.deepEqual(k.additionalProperties?.labels, { team: "search", env: "prod" });
  return k;
});
const mcp = await call("create: mcp_access without restriction", async () => {
  const k = await keys.create({
    name: "mcp", mcpAccess: { denyAll: false, allowedMcpGatewayIds: [], toolsetIds: [], allowedFilesystemIds: [] },
  });
  assert.equal(k.status, "API_KEY_STATUS_ACTIVE");
  return k;
});
await call("create: default owner and mode", async () => {
  const k = await keys.create({ name: "defaults" });
  assert.deepEqual([k.owner, k.projectScope, k.permissionMode, k.workspaceId, k.active],
    [{ service_account: {} }, { all: {} }, "PERMISSION_MODE_ALL", acc, true]);
});
await call("create: mcp_access restriction → 400", () =>
  rejects(() => keys.create({ name: "mcp deny", mcpAccess: { denyAll: true } }), 400));
await call("create: PERMISSION_MODE_UNSPECIFIED → 400", () =>
  rejects(() => keys.create({ name: "unspecified", permissionMode: "PERMISSION_MODE_UNSPECIFIED" }), 400));
await call("create: restricted without access → 400", () =>
  rejects(() => keys.create({ name: "no access", permissionMode: "PERMISSION_MODE_RESTRICTED" }), 400));
await call("create: unknown access domain → 400", () =>
  rejects(() => keys.create({ name: "bad", permissionMode: "PERMISSION_MODE_RESTRICTED", access: { nope: "ACCESS_LEVEL_READ" } }), 400));
await call("create: expires_at in the past → 400", () =>
  rejects(() => keys.create({ name: "past", expiresAt: new Date("2001-01-01T00:00:00Z") }), 400));

await call("listCapabilities", async () => {
  const c = await keys.listCapabilities();
  assert.deepEqual(c.domains.filter((d) => ["agent", "member", "model"].includes(d.id)).map((d) => [d.id, d.group]),
    [["member", "DOMAIN_GROUP_WORKSPACE_ADMIN"], ["agent", "DOMAIN_GROUP_PLATFORM"], ["model", "DOMAIN_GROUP_GATEWAY"]]);
});

await call("get", async () => {
  const k = await keys.get({ apiKeyId: restricted.id });
  assert.deepEqual([k.id, k.name, k.access, k.token !== restricted.token],
    [restricted.id, "restricted", { agent: "ACCESS_LEVEL_WRITE", dataset: "ACCESS_LEVEL_READ" }, true]);
});
await call("get: include_budget", async () => {
  const k = await keys.get({ apiKeyId: saAll.id, includeBudget: true });
  assert.deepEqual([k.id, k.budget], [saAll.id, undefined]);
});
await call("get: unknown id → 404", () => rejects(() => keys.get({ apiKeyId: unknownID }), 404));

// Lists. Newest first: defaults, mcp, labelled, expiring, restricted,
// readOnly, single, userKey, saAll.
const all = [mcp, labelled, expiring, restricted, readOnly, single, userKey, saAll].map((k) => k?.id);
const ids = (page) => page.map((k) => k.id);
let defaultsID;
await call("list", async () => {
  const page = await keys.list();
  defaultsID = page[0]?.id;
  assert.deepEqual(ids(page).slice(1), all);
});
await call("list: limit", async () => {
  assert.deepEqual(ids(await keys.list({ limit: 3 })), [defaultsID, ...all.slice(0, 2)]);
});
await call("list: starting_after", async () => {
  assert.deepEqual(ids(await keys.list({ limit: 2, startingAfter: all[1] })), all.slice(2, 4));
});
await call("list: ending_before", async () => {
  assert.deepEqual(ids(await keys.list({ limit: 2, endingBefore: all[4] })), all.slice(2, 4));
});
await call("list: project_id", async () => {
  assert.deepEqual(ids(await keys.list({ projectId: orqPrj })), [single.id]);
});
await call("list: search", async () => {
  assert.deepEqual(ids(await keys.list({ search: "LABEL" })), [labelled.id]);
});
await call("list: owner_type user", async () => {
  assert.deepEqual(ids(await keys.list({ ownerType: ["OWNER_TYPE_USER"] })), [userKey.id]);
});
await call("list: owner_type service account", async () => {
  assert.equal((await keys.list({ ownerType: ["OWNER_TYPE_SERVICE_ACCOUNT"] })).length, all.length);
});
await call("list: owner_type both", async () => {
  assert.equal((await keys.list({ ownerType: ["OWNER_TYPE_USER", "OWNER_TYPE_SERVICE_ACCOUNT"] })).length, all.length + 1);
});
await call("list: permission_mode restricted", async () => {
  assert.deepEqual(ids(await keys.list({ permissionMode: ["PERMISSION_MODE_RESTRICTED"] })), [restricted.id]);
});
await call("list: permission_mode several", async () => {
  assert.deepEqual(ids(await keys.list({ permissionMode: ["PERMISSION_MODE_RESTRICTED", "PERMISSION_MODE_READ_ONLY"] })),
    [restricted.id, readOnly.id]);
});
await call("list: include_budget", async () => {
  assert.equal((await keys.list({ includeBudget: true })).length, all.length + 1);
});
await call("list: tokens are masked", async () => {
  const page = await keys.list();
  assert.ok(page.every((k) => k.token.includes("...") && k.token !== saAll.token), JSON.stringify(page.map((k) => k.token)));
});

// Updates.
await call("update: rename", async () => {
  const k = await keys.update({ apiKeyId: saAll.id, updateApiKeyRequest: { name: "renamed" } });
  assert.equal(k.name, "renamed");
});
await call("update: status DISABLED", async () => {
  const k = await keys.update({ apiKeyId: expiring.id, updateApiKeyRequest: { status: "API_KEY_STATUS_DISABLED" } });
  assert.deepEqual([k.status, k.active], ["API_KEY_STATUS_DISABLED", false]);
});
await call("list: status", async () => {
  assert.deepEqual(ids(await keys.list({ status: "API_KEY_STATUS_DISABLED" })), [expiring.id]);
});
await call("update: status ACTIVE", async () => {
  const k = await keys.update({ apiKeyId: expiring.id, updateApiKeyRequest: { status: "API_KEY_STATUS_ACTIVE" } });
  assert.deepEqual([k.status, k.active], ["API_KEY_STATUS_ACTIVE", true]);
});
await call("update: PERMISSION_MODE_READ_ONLY", async () => {
  const k = await keys.update({ apiKeyId: saAll.id, updateApiKeyRequest: { permissionMode: "PERMISSION_MODE_READ_ONLY" } });
  assert.equal(k.permissionMode, "PERMISSION_MODE_READ_ONLY");
});
await call("update: PERMISSION_MODE_RESTRICTED with access", async () => {
  const k = await keys.update({
    apiKeyId: saAll.id,
    updateApiKeyRequest: { permissionMode: "PERMISSION_MODE_RESTRICTED", access: { prompt: "ACCESS_LEVEL_READ" } },
  });
  assert.deepEqual([k.permissionMode, k.access], ["PERMISSION_MODE_RESTRICTED", { prompt: "ACCESS_LEVEL_READ" }]);
});
await call("update: access", async () => {
  const k = await keys.update({ apiKeyId: saAll.id, updateApiKeyRequest: { access: { prompt: "ACCESS_LEVEL_WRITE", agent: "ACCESS_LEVEL_NONE" } } });
  assert.deepEqual(k.access, { prompt: "ACCESS_LEVEL_WRITE" });
});
await call("update: PERMISSION_MODE_ALL", async () => {
  const k = await keys.update({ apiKeyId: saAll.id, updateApiKeyRequest: { permissionMode: "PERMISSION_MODE_ALL" } });
  assert.deepEqual([k.permissionMode, k.access], ["PERMISSION_MODE_ALL", undefined]);
});
await call("update: project scope single", async () => {
  const k = await keys.update({ apiKeyId: readOnly.id, updateApiKeyRequest: { projectScope: { single: { projectId: orqPrj } } } });
  assert.deepEqual(k.projectScope, { single: { project_id: orqPrj } });
});
await call("update: project scope all", async () => {
  const k = await keys.update({ apiKeyId: readOnly.id, updateApiKeyRequest: { projectScope: { all: {} } } });
  assert.deepEqual([k.projectScope, k.projects], [{ all: {} }, undefined]);
});
await call("update: set expiry", async () => {
  const k = await keys.update({ apiKeyId: labelled.id, updateApiKeyRequest: { expiresAt: future } });
  assert.equal(k.expiration?.getTime(), future.getTime());
});
await call("update: clear expiry", async () => {
  const k = await keys.update({ apiKeyId: labelled.id, updateApiKeyRequest: { clearExpiresAt: true } });
  assert.equal(k.expiration, undefined);
});
await call("update: mcp_access without restriction", async () => {
  const k = await keys.update({ apiKeyId: mcp.id, updateApiKeyRequest: { mcpAccess: { denyAll: false } } });
  assert.equal(k.id, mcp.id);
});
await call("update: {}", async () => {
  const before = await keys.get({ apiKeyId: userKey.id });
  const k = await keys.update({ apiKeyId: userKey.id, updateApiKeyRequest: {} });
  assert.deepEqual(k, before);
});
await call("update: status REVOKED", async () => {
  const k = await keys.update({ apiKeyId: userKey.id, updateApiKeyRequest: { status: "API_KEY_STATUS_REVOKED" } });
  assert.deepEqual([k.status, k.active], ["API_KEY_STATUS_REVOKED", false]);
});
await call("update: revoked key → 409", () =>
  rejects(() => keys.update({ apiKeyId: userKey.id, updateApiKeyRequest: { name: "again" } }), 409));
await call("update: unknown id → 404", () =>
  rejects(() => keys.update({ apiKeyId: unknownID, updateApiKeyRequest: { name: "x" } }), 404));
await call("update: empty name → 400", () =>
  rejects(() => keys.update({ apiKeyId: mcp.id, updateApiKeyRequest: { name: "" } }), 400));
await call("update: to restricted without access → 400", () =>
  rejects(() => keys.update({ apiKeyId: mcp.id, updateApiKeyRequest: { permissionMode: "PERMISSION_MODE_RESTRICTED" } }), 400));
await call("update: expires_at with clear_expires_at → 400", () =>
  rejects(() => keys.update({ apiKeyId: mcp.id, updateApiKeyRequest: { expiresAt: future, clearExpiresAt: true } }), 400));
await call("update: level the domain lacks → 400", () =>
  rejects(() => keys.update({ apiKeyId: restricted.id, updateApiKeyRequest: { access: { model: "ACCESS_LEVEL_WRITE" } } }), 400));

await call("delete", async () => {
  assert.equal(await keys.delete({ apiKeyId: mcp.id }), undefined);
});
await call("get: deleted → 404", () => rejects(() => keys.get({ apiKeyId: mcp.id }), 404));
await call("delete: unknown id → 404", () => rejects(() => keys.delete({ apiKeyId: unknownID }), 404));
await call("delete: revoked key", async () => {
  assert.equal(await keys.delete({ apiKeyId: userKey.id }), undefined);
});

await call("managementKeys.list: not supported → 404", () => rejects(() => orq.managementKeys.list(), 404));
await call("a bad credential → 401", () =>
  rejects(() => new Orq({ apiKey: "sk-orq-nope", serverURL: `${env.url}/compat/orq/current` }).apiKeys.list(), 401));

done();
