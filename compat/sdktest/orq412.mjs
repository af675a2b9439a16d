// orq's Node SDK of the previous generation (@orq-ai/node 4.12.22,
// installed as orq-node-4.12; the {api_key} envelopes of orq's REST
// reference, with access levels and domain groups as protobuf enum
// numbers) against keyward's orq dialect at /compat/orq/numeric: every
// api-key call the SDK has, each a call with one assertion, the SDK
// parsing every answer. Run by orq_test.go.
import { Orq } from "orq-node-4.12";
import { call, rejects, assert, env, done } from "./sdk.mjs";
import { workspace } from "./orqsetup.mjs";

const { mk, user, orqPrj } = await workspace("orq-sdk-4-12");

const serverURL = `${env.url}/compat/orq/numeric`;
const keys = new Orq({ apiKey: mk, serverURL }).apiKeys;
const unknownID = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const future = new Date(Date.now() + 30 * 24 * 3600 * 1000);
future.setMilliseconds(123);
const [NONE, READ, WRITE] = [0, 1, 2];

const saAll = await call("create: service-account owner, all projects, PERMISSION_MODE_ALL", async () => {
  const r = await keys.create({
    name: "sa all", owner: { serviceAccount: {} }, projectScope: { all: {} }, permissionMode: "PERMISSION_MODE_ALL",
  });
  assert.deepEqual([r.apiKey.owner, r.apiKey.projectScope, r.token.startsWith(r.apiKey.tokenPrefix)],
    [{ serviceAccount: {} }, { all: {} }, true]);
  return r.apiKey;
});
const userKey = await call("create: user owner", async () => {
  const r = await keys.create({ name: "user key", owner: { user: { userId: user } } });
  assert.deepEqual(r.apiKey.owner, { user: { userId: user } });
  return r.apiKey;
});
const single = await call("create: single project", async () => {
  const r = await keys.create({ name: "project key", projectScope: { single: { projectId: orqPrj } } });
  assert.deepEqual(r.apiKey.projectScope, { single: { projectId: orqPrj } });
  return r.apiKey;
});
const readOnly = await call("create: PERMISSION_MODE_READ_ONLY", async () => {
  const r = await keys.create({ name: "read only", permissionMode: "PERMISSION_MODE_READ_ONLY" });
  assert.equal(r.apiKey.permissionMode, "PERMISSION_MODE_READ_ONLY");
  return r.apiKey;
});
const restricted = await call("create: PERMISSION_MODE_RESTRICTED with numeric access", async () => {
  const r = await keys.create({
    name: "restricted", permissionMode: "PERMISSION_MODE_RESTRICTED", access: { agent: WRITE, dataset: READ, prompt: NONE },
  });
  assert.deepEqual(r.apiKey.access, { agent: WRITE, dataset: READ });
  return r.apiKey;
});
const expiring = await call("create: expires_at", async () => {
  const r = await keys.create({ name: "expiring", expiresAt: future });
  assert.equal(r.apiKey.expiresAt?.getTime(), future.getTime());
  return r.apiKey;
});
await call("create: access level out of range → 400", () =>
  rejects(() => keys.create({ name: "bad", permissionMode: "PERMISSION_MODE_RESTRICTED", access: { agent: 3 } }), 400));

await call("listCapabilities", async () => {
  const c = await keys.listCapabilities();
  assert.deepEqual(c.domains.filter((d) => ["agent", "member", "model"].includes(d.id)).map((d) => [d.id, d.group]),
    [["member", 1], ["agent", 2], ["model", 3]]);
});

await call("get", async () => {
  const r = await keys.get({ apiKeyId: restricted.apiKeyId });
  assert.deepEqual([r.apiKey.name, r.apiKey.access], ["restricted", { agent: WRITE, dataset: READ }]);
});
await call("get: include_budget", async () => {
  const r = await keys.get({ apiKeyId: saAll.apiKeyId, includeBudget: true });
  assert.deepEqual([r.apiKey.apiKeyId, r.apiKey.budget], [saAll.apiKeyId, undefined]);
});
await call("get: unknown id → 404", () => rejects(() => keys.get({ apiKeyId: unknownID }), 404));

// Newest first.
const all = [expiring, restricted, readOnly, single, userKey, saAll].map((k) => k?.apiKeyId);
const ids = (r) => r.data.map((k) => k.apiKeyId);
await call("list", async () => {
  assert.deepEqual(ids(await keys.list()), all);
});
await call("list: limit and has_more", async () => {
  const r = await keys.list({ limit: 2 });
  assert.deepEqual([ids(r), r.hasMore], [all.slice(0, 2), true]);
});
await call("list: starting_after", async () => {
  assert.deepEqual(ids(await keys.list({ limit: 2, startingAfter: all[1] })), all.slice(2, 4));
});
await call("list: ending_before", async () => {
  assert.deepEqual(ids(await keys.list({ limit: 2, endingBefore: all[4] })), all.slice(2, 4));
});
await call("list: project_id", async () => {
  assert.deepEqual(ids(await keys.list({ projectId: orqPrj })), [single.apiKeyId]);
});
await call("list: search", async () => {
  assert.deepEqual(ids(await keys.list({ search: "RESTRICT" })), [restricted.apiKeyId]);
});
await call("list: owner_type", async () => {
  assert.deepEqual(ids(await keys.list({ ownerType: ["OWNER_TYPE_USER"] })), [userKey.apiKeyId]);
});
await call("list: permission_mode", async () => {
  assert.deepEqual(ids(await keys.list({ permissionMode: ["PERMISSION_MODE_RESTRICTED", "PERMISSION_MODE_READ_ONLY"] })),
    [restricted.apiKeyId, readOnly.apiKeyId]);
});
await call("list: include_budget", async () => {
  assert.equal((await keys.list({ includeBudget: true })).data.length, all.length);
});

const update = (k, body) => keys.update({ apiKeyId: k.apiKeyId, updateApiKeyRequest: body });
await call("update: rename", async () => {
  assert.equal((await update(saAll, { name: "renamed" })).apiKey.name, "renamed");
});
await call("update: status DISABLED", async () => {
  assert.equal((await update(expiring, { status: "API_KEY_STATUS_DISABLED" })).apiKey.status, "API_KEY_STATUS_DISABLED");
});
await call("list: status", async () => {
  assert.deepEqual(ids(await keys.list({ status: "API_KEY_STATUS_DISABLED" })), [expiring.apiKeyId]);
});
await call("update: status ACTIVE", async () => {
  assert.equal((await update(expiring, { status: "API_KEY_STATUS_ACTIVE" })).apiKey.status, "API_KEY_STATUS_ACTIVE");
});
await call("update: PERMISSION_MODE_RESTRICTED with numeric access", async () => {
  const r = await update(saAll, { permissionMode: "PERMISSION_MODE_RESTRICTED", access: { prompt: READ } });
  assert.deepEqual([r.apiKey.permissionMode, r.apiKey.access], ["PERMISSION_MODE_RESTRICTED", { prompt: READ }]);
});
await call("update: numeric access", async () => {
  assert.deepEqual((await update(saAll, { access: { prompt: WRITE, agent: NONE } })).apiKey.access, { prompt: WRITE });
});
await call("update: PERMISSION_MODE_READ_ONLY", async () => {
  const r = await update(saAll, { permissionMode: "PERMISSION_MODE_READ_ONLY" });
  assert.deepEqual([r.apiKey.permissionMode, r.apiKey.access], ["PERMISSION_MODE_READ_ONLY", undefined]);
});
await call("update: PERMISSION_MODE_ALL", async () => {
  assert.equal((await update(saAll, { permissionMode: "PERMISSION_MODE_ALL" })).apiKey.permissionMode, "PERMISSION_MODE_ALL");
});
await call("update: project scope single", async () => {
  const r = await update(readOnly, { projectScope: { single: { projectId: orqPrj } } });
  assert.deepEqual(r.apiKey.projectScope, { single: { projectId: orqPrj } });
});
await call("update: project scope all", async () => {
  assert.deepEqual((await update(readOnly, { projectScope: { all: {} } })).apiKey.projectScope, { all: {} });
});
await call("update: set expiry", async () => {
  assert.equal((await update(single, { expiresAt: future })).apiKey.expiresAt?.getTime(), future.getTime());
});
await call("update: clear expiry", async () => {
  assert.equal((await update(single, { clearExpiresAt: true })).apiKey.expiresAt, undefined);
});
await call("update: {}", async () => {
  const before = await keys.get({ apiKeyId: userKey.apiKeyId });
  assert.deepEqual(await update(userKey, {}), before);
});
await call("update: status REVOKED", async () => {
  assert.equal((await update(userKey, { status: "API_KEY_STATUS_REVOKED" })).apiKey.status, "API_KEY_STATUS_REVOKED");
});
await call("update: revoked key → 409", () => rejects(() => update(userKey, { name: "again" }), 409));
await call("update: unknown id → 404", () =>
  rejects(() => keys.update({ apiKeyId: unknownID, updateApiKeyRequest: { name: "x" } }), 404));
await call("update: access level out of range → 400", () => rejects(() => update(restricted, { access: { agent: -1 } }), 400));

await call("delete", async () => {
  assert.deepEqual(await keys.delete({ apiKeyId: expiring.apiKeyId }), {});
});
await call("delete: unknown id → 404", () => rejects(() => keys.delete({ apiKeyId: unknownID }), 404));

done();
