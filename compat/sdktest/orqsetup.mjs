// The setup the orq SDK scripts share: an orq workspace made through
// keyward's native API with the operator key (setup, not a call under
// test: a failure stops the script).
import { env } from "./sdk.mjs";

async function native(method, path, body, account) {
  const headers = { Authorization: `Bearer ${env.key}`, "Content-Type": "application/json" };
  if (account) headers["X-Account-Id"] = account;
  const res = await fetch(env.url + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

// workspace creates an account named name on the orq catalog template,
// with a management key for the SDK (keys:read, keys:write,
// catalog:read), a user and a project, and returns their ids and the
// key's secret (mk); orqPrj is the project's id in orq's form.
export async function workspace(name) {
  const acc = (await native("POST", "/v1/accounts", { name, catalog_template: "orq" })).id;
  const mk = (await native("POST", "/v1/management-keys",
    { name: "orq sdk", permissions: ["keys:read", "keys:write", "catalog:read"] }, acc)).secret;
  const user = (await native("POST", "/v1/users", { external_id: `${name}-user`, roles: [] }, acc)).id;
  const prj = (await native("POST", "/v1/projects", { name: `${name} project` }, acc)).id;
  return { acc, mk, user, orqPrj: "proj_" + prj.slice("prj_".length) };
}
