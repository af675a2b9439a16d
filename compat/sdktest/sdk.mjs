// The JavaScript half of the SDK tests (sdktest_test.go). A script imports
// call and done from here; each call runs one SDK call and its one
// assertion and prints one JSON line that the Go test turns into a
// subtest: {"call": name, "ok": true} or {"call": name, "ok": false,
// "error": "..."}. Nothing else is printed on stdout.
import assert from "node:assert/strict";

export { assert };

// env is what the Go test passes: the keyward server's base URL and its
// operator management key.
export const env = {
  url: must("KEYWARD_URL"),
  key: must("KEYWARD_KEY"),
};

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set: run this script through go test ./compat/sdktest/`);
    process.exit(2);
  }
  return v;
}

let failed = 0;

// call runs fn (an async function making one SDK call and asserting its
// answer) and reports it under name. It returns what fn returns, or
// undefined when fn threw, so later calls can build on earlier ones.
export async function call(name, fn) {
  try {
    const v = await fn();
    console.log(JSON.stringify({ call: name, ok: true }));
    return v;
  } catch (err) {
    failed++;
    console.log(JSON.stringify({ call: name, ok: false, error: describe(err) }));
    return undefined;
  }
}

// rejects asserts that fn throws an SDK error with the given HTTP status
// (the SDKs' errors carry it as statusCode) and returns the error.
export async function rejects(fn, status) {
  try {
    await fn();
  } catch (err) {
    const got = err?.statusCode ?? err?.status ?? err?.rawResponse?.status;
    assert.equal(got, status, `expected an error with HTTP status ${status}, got ${describe(err)}`);
    return err;
  }
  assert.fail(`expected an error with HTTP status ${status}, the call succeeded`);
}

function describe(err) {
  if (!(err instanceof Error)) return String(err);
  let s = `${err.name}: ${err.message}`;
  if (err.body) s += ` body=${String(err.body).slice(0, 500)}`;
  if (err.cause) s += ` cause=${describe(err.cause)}`;
  return s;
}

// done ends the script: exit status 1 when a call failed.
export function done() {
  process.exit(failed ? 1 : 0);
}
