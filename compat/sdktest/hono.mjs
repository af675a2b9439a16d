// A small Hono app protected by Unkey's middleware (@unkey/hono, exact
// version in package-lock.json), pointed at keyward, run by
// TestUnkeyHonoApp (unkey_test.go): its protected route accepts a key
// made by keyward's native API and refuses the same key once revoked; a
// second route needs a permission (the middleware's permissions option).
// The app is served by calling Hono's fetch handler (app.request).
//
// @unkey/hono builds its client as new Unkey({ rootKey }) and takes no
// base URL, so it calls https://api.unkey.com. The app sends those calls
// to keyward's /compat/unkey instead by wrapping fetch (the Unkey SDK
// calls the global fetch at each request); the rest is written as the
// middleware's README shows.
import { Hono } from "hono";
import { unkey } from "@unkey/hono";
import { call, assert, done } from "./sdk.mjs";
import { native, rootKey, unkeyURL } from "./unkeysetup.mjs";

const unkeyOrigin = "https://api.unkey.com";
const upstreamFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const req = new Request(input, init);
  if (!req.url.startsWith(unkeyOrigin + "/")) return upstreamFetch(input, init);
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.text();
  return upstreamFetch(unkeyURL + req.url.slice(unkeyOrigin.length), {
    method: req.method, headers: req.headers, body, signal: req.signal,
  });
};

// The root key: a keyward management key that may verify keys.
const root = await rootKey("hono root key", ["keys:verify"]);

// The app, as @unkey/hono's README writes it.
const app = new Hono();
app.use("/protected/*", unkey({ rootKey: root }));
app.get("/protected/hello", (c) => {
  const res = c.get("unkey");
  if (!res.data.valid) return c.json({ error: "unauthorized", code: res.data.code }, 401);
  return c.json({ message: "hello", keyId: res.data.keyId });
});
// A route that needs a permission: the middleware's permissions query,
// with its handleInvalidKey answering for keys that fail it.
app.use("/documents/*", unkey({
  rootKey: root,
  permissions: "documents",
  handleInvalidKey: (c, res) => c.json({ error: "forbidden", code: res.data.code }, 403),
}));
app.get("/documents/list", (c) => c.json({ documents: [], keyId: c.get("unkey").data.keyId }));

// get sends GET path to the app (its fetch handler) with the key, if any,
// and returns the answer's status and body (JSON if it is).
async function get(path, key) {
  const res = await app.request(path, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

const key = await call("native POST /v1/keys", async () => {
  const res = await native("POST", "/v1/keys", { name: "hono app key" });
  assert.deepEqual({ status: res.status, secret: typeof res.body?.secret }, { status: 201, secret: "string" });
  return res.body;
}) ?? {};

await call("GET /protected/hello with a keyward key", async () => {
  const res = await get("/protected/hello", key.secret);
  assert.deepEqual(res, { status: 200, body: { message: "hello", keyId: key.id } });
});

await call("GET /protected/hello without a key", async () => {
  const res = await get("/protected/hello");
  assert.equal(res.status, 401);
});

await call("GET /protected/hello with an unknown key", async () => {
  const res = await get("/protected/hello", "kw_notakeyofkeyward0000000000000000000");
  assert.deepEqual(res, { status: 401, body: { error: "unauthorized", code: "NOT_FOUND" } });
});

// Permissions: a native key with a scope on the catalog resource documents
// passes the middleware's query "documents" (the resource, at any level);
// a restricted key without it does not.
const reader = await call("native POST /v1/keys with a scope on documents", async () => {
  const res = await native("POST", "/v1/keys", { name: "reader", permission_mode: "restricted", scopes: [{ resource: "documents", access: "read" }] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}) ?? {};

const stranger = await call("native POST /v1/keys without scopes", async () => {
  const res = await native("POST", "/v1/keys", { name: "no scopes", permission_mode: "restricted", scopes: [] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}) ?? {};

await call("GET /documents/list with a key that may read documents", async () => {
  const res = await get("/documents/list", reader.secret);
  assert.deepEqual(res, { status: 200, body: { documents: [], keyId: reader.id } });
});

await call("GET /documents/list with a key without that permission", async () => {
  const res = await get("/documents/list", stranger.secret);
  assert.deepEqual(res, { status: 403, body: { error: "forbidden", code: "INSUFFICIENT_PERMISSIONS" } });
});

await call("native PATCH /v1/keys/{id} status revoked", async () => {
  const res = await native("PATCH", `/v1/keys/${key.id}`, { status: "revoked" });
  assert.deepEqual({ status: res.status, keyStatus: res.body?.status }, { status: 200, keyStatus: "revoked" });
});

await call("GET /protected/hello with the revoked key", async () => {
  const res = await get("/protected/hello", key.secret);
  assert.deepEqual({ status: res.status, error: res.body?.error }, { status: 401, error: "unauthorized" });
});

done();
