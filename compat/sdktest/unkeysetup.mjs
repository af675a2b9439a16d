// The setup the Unkey scripts (unkey.mjs, hono.mjs) share: keyward's
// native API with the operator key, and a root key made through it
// (setup, not a call under test: a failure stops the script).
import { env } from "./sdk.mjs";

// unkeyURL is the Unkey SDKs' serverURL: keyward's Unkey dialect.
export const unkeyURL = env.url + "/compat/unkey";

// native sends a request to keyward's native API with the operator key
// and returns the answer's status and JSON body.
export async function native(method, path, body) {
  const res = await fetch(env.url + path, {
    method,
    headers: { Authorization: `Bearer ${env.key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// rootKey creates a management key of the default account with the given
// management permissions, the Unkey root key, and returns its secret.
export async function rootKey(name, permissions) {
  const res = await native("POST", "/v1/management-keys", { name, permissions });
  if (res.status !== 201) {
    console.error(`creating the root key through the native API: ${res.status} ${JSON.stringify(res.body)}`);
    process.exit(2);
  }
  return res.body.secret;
}
