// Drives ocrstack's /v2 API with the official Unkey SDK (@unkey/api), the
// way an Unkey user's code does: `new Unkey({ rootKey, serverURL })` and the
// SDK's own methods, whose responses the SDK validates against Unkey's
// schemas. One JSON line per step on stdout; the first failure prints the
// SDK error's status and body and exits 1.
//
//   OCR_URL=http://127.0.0.1:8080 OCR_ROOT_KEY=$(cat .data/root-key) node scenario.mjs
//
// OCR_API_ID (default api_ocr) names the API keys are created in. Run by
// e2e/unkeysdk_test.go against the real stack.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Unkey } from "@unkey/api";
import * as errors from "@unkey/api/models/errors";

const serverURL = process.env.OCR_URL;
const rootKey = process.env.OCR_ROOT_KEY;
const apiId = process.env.OCR_API_ID || "api_ocr";
if (!serverURL || !rootKey) {
  console.error("set OCR_URL (the ingress, e.g. http://127.0.0.1:8080) and OCR_ROOT_KEY");
  process.exit(2);
}

// No retries: a 5xx must fail the step it happened in, not be hidden.
const unkey = new Unkey({ rootKey, serverURL, retryConfig: { strategy: "none" } });
// A run's names are unique, so the scenario can run again on the same data.
const run = randomBytes(4).toString("hex");
const externalId = `acme-${run}`;

// secrets are the keys the scenario holds; no printed line carries one.
const secrets = new Set([rootKey]);
const print = (line) => {
  let s = JSON.stringify(line);
  for (const secret of secrets) s = s.replaceAll(secret, "<redacted>");
  console.log(s);
};

// step runs fn, prints {"step", "ok": true, ...what fn returns}, or on the
// first failure {"step", "ok": false, ...} with the HTTP status and body of
// an SDK error, and exits 1.
async function step(name, fn) {
  try {
    const detail = (await fn()) ?? {};
    print({ step: name, ok: true, ...detail });
  } catch (err) {
    const out = { step: name, ok: false, error: String(err?.message ?? err) };
    if (err instanceof errors.UnkeyError) {
      Object.assign(out, { class: err.name, status: err.statusCode, body: err.body });
    }
    if (err instanceof errors.ResponseValidationError) {
      Object.assign(out, { class: err.name, rawValue: err.rawValue, pretty: err.pretty() });
    }
    print(out);
    process.exit(1);
  }
}

// expectError awaits p, which must throw the SDK's typed error cls with
// status; it returns the error's parsed body (data$).
async function expectError(p, cls, status) {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof cls)) throw err;
    assert.equal(err.statusCode, status);
    assert.equal(err.data$.error.status, status);
    assert.match(err.data$.meta.requestId, /\S/);
    assert.match(err.data$.error.type, /^(https:|about:blank)/);
    return err.data$;
  }
  assert.fail(`expected ${cls.name} (${status}), the call succeeded`);
}

let key, keyId;
await step("keys.createKey", async () => {
  const res = await unkey.keys.createKey({
    apiId,
    prefix: "sdk",
    name: "Production",
    externalId,
    meta: { plan: "pro", team: "ocr" },
    credits: { remaining: 3 },
    ratelimits: [{ name: "requests", limit: 100, duration: 60000, autoApply: true }],
  });
  assert.match(res.meta.requestId, /\S/);
  ({ key, keyId } = res.data);
  secrets.add(key);
  assert.match(key, /^sdk_/);
  assert.match(keyId, /\S/);
  return { keyId };
});

const verify = async (k) => (await unkey.keys.verifyKey({ key: k })).data;

await step("keys.verifyKey credits", async () => {
  const seen = [];
  for (const want of [2, 1, 0]) {
    const d = await verify(key);
    assert.equal(d.code, "VALID");
    assert.equal(d.valid, true);
    assert.equal(d.keyId, keyId);
    assert.equal(d.credits, want);
    seen.push(d.credits);
  }
  const d = await verify(key);
  assert.equal(d.meta.plan, "pro");
  assert.equal(d.ratelimits?.[0]?.name, "requests");
  return { credits: seen, first: "VALID" };
});

await step("keys.verifyKey USAGE_EXCEEDED", async () => {
  const d = await verify(key);
  assert.equal(d.code, "USAGE_EXCEEDED");
  assert.equal(d.valid, false);
  return { code: d.code };
});

await step("keys.updateCredits", async () => {
  const res = await unkey.keys.updateCredits({ keyId, operation: "increment", value: 5 });
  assert.equal(res.data.remaining, 5);
  const d = await verify(key);
  assert.equal(d.code, "VALID");
  assert.equal(d.credits, 4);
  const set = await unkey.keys.updateCredits({ keyId, operation: "set", value: 10 });
  assert.equal(set.data.remaining, 10);
  return { remaining: set.data.remaining };
});

await step("keys.updateKey", async () => {
  await unkey.keys.updateKey({ keyId, name: "Production (rotated)", meta: { plan: "max" }, enabled: false });
  assert.equal((await verify(key)).code, "DISABLED");
  await unkey.keys.updateKey({ keyId, enabled: true });
  const d = await verify(key);
  assert.equal(d.code, "VALID");
  assert.deepEqual(d.meta, { plan: "max" });
  return { code: d.code };
});

await step("keys.getKey", async () => {
  const { data } = await unkey.keys.getKey({ keyId });
  assert.equal(data.keyId, keyId);
  assert.equal(data.name, "Production (rotated)");
  assert.equal(data.enabled, true);
  assert.deepEqual(data.meta, { plan: "max" });
  assert.equal(data.credits?.remaining, 9);
  assert.equal(data.identity?.externalId, externalId);
  assert.equal(data.ratelimits?.[0]?.name, "requests");
  assert.ok(key.startsWith(data.start), `start ${data.start} is not the key's beginning`);
  assert.ok(!JSON.stringify(data).includes(key), "getKey returned the plaintext key");
  return { start: data.start };
});

await step("keys.getKey NOT_FOUND", async () => {
  const body = await expectError(unkey.keys.getKey({ keyId: "key_doesnotexist" }), errors.NotFoundErrorResponse, 404);
  return { type: body.error.type };
});

await step("keys.createKey BAD_REQUEST", async () => {
  const body = await expectError(unkey.keys.createKey({ apiId, expires: 1000 }), errors.BadRequestErrorResponse, 400);
  assert.deepEqual(body.error.errors.map((e) => e.location), ["body.expires"]);
  return { location: body.error.errors[0].location };
});

await step("keys.whoami", async () => {
  const { data } = await unkey.keys.whoami({ key });
  assert.equal(data.keyId, keyId);
  assert.equal(data.name, "Production (rotated)");
  return { keyId: data.keyId };
});

await step("apis.listKeys", async () => {
  const ids = [];
  for await (const page of await unkey.apis.listKeys({ apiId, externalId })) {
    for (const k of page.result.data) {
      assert.equal(k.identity?.externalId, externalId);
      ids.push(k.keyId);
    }
    assert.ok(!JSON.stringify(page.result).includes(key), "listKeys returned a plaintext key");
  }
  assert.deepEqual(ids, [keyId]);
  return { keys: ids.length };
});

let newKey, newKeyId;
await step("keys.rerollKey", async () => {
  const { data } = await unkey.keys.rerollKey({ keyId, expiration: 60000 });
  ({ key: newKey, keyId: newKeyId } = data);
  secrets.add(newKey);
  assert.notEqual(newKey, key);
  assert.notEqual(newKeyId, keyId);
  assert.match(newKey, /^sdk_/);
  const fresh = await verify(newKey);
  assert.equal(fresh.code, "VALID", "the new key is not valid");
  const old = await verify(key);
  assert.equal(old.code, "VALID", "the old key stopped working inside its grace period");
  // Unlike Unkey, where the old key stays a key of its own with an expiry,
  // here it is an alias of the new key until the grace period ends: it
  // verifies as the new key and draws on the same credits.
  assert.equal(old.keyId, newKeyId);
  return { newKeyId, oldVerifiesAs: old.keyId };
});

await step("keys.deleteKey", async () => {
  await unkey.keys.deleteKey({ keyId: newKeyId });
  const d = await verify(newKey);
  assert.equal(d.code, "NOT_FOUND");
  assert.equal(d.valid, false);
  return { code: d.code };
});

await step("ratelimit.limit", async () => {
  // Windows are fixed, starting at multiples of the duration: three calls
  // that straddle a window's end are counted in two windows (their reset
  // differs), so such a run is tried again with another identifier.
  for (let attempt = 1; ; attempt++) {
    const got = [];
    const resets = new Set();
    for (let i = 0; i < 3; i++) {
      const { data } = await unkey.ratelimit.limit({ namespace: `sdk.${run}`, identifier: `203.0.113.${attempt}`, limit: 2, duration: 60000 });
      assert.equal(data.limit, 2);
      assert.ok(data.reset > 0, "reset is given");
      got.push(data.success);
      resets.add(data.reset);
    }
    if (resets.size > 1 && attempt < 3) {
      continue;
    }
    assert.equal(resets.size, 1, "three calls in one window");
    assert.deepEqual(got, [true, true, false]);
    return { success: got, attempt };
  }
});

await step("identities", async () => {
  const team = `team-${run}`;
  const created = await unkey.identities.createIdentity({
    externalId: team,
    meta: { tier: "gold" },
    ratelimits: [{ name: "tokens", limit: 10, duration: 1000 }],
  });
  assert.match(created.data.identityId, /\S/);
  const { data } = await unkey.identities.getIdentity({ identity: team });
  assert.equal(data.id, created.data.identityId);
  assert.equal(data.externalId, team);
  assert.deepEqual(data.meta, { tier: "gold" });
  assert.equal(data.ratelimits?.[0]?.name, "tokens");
  await expectError(unkey.identities.createIdentity({ externalId: team }), errors.ConflictErrorResponse, 409);
  const found = [];
  for await (const page of await unkey.identities.listIdentities({ search: team.toUpperCase(), limit: 10 })) {
    found.push(...page.result.data.map((i) => i.externalId));
  }
  assert.deepEqual(found, [team]);
  await unkey.identities.deleteIdentity({ identity: team });
  await expectError(unkey.identities.getIdentity({ identity: team }), errors.NotFoundErrorResponse, 404);
  return { identityId: data.id, searched: found.length };
});

await step("non-root key refused", async () => {
  // The key the scenario created, still valid, is no root key.
  const user = new Unkey({ rootKey: key, serverURL, retryConfig: { strategy: "none" } });
  const body = await expectError(user.keys.createKey({ apiId }), errors.UnauthorizedErrorResponse, 401);
  return { status: body.error.status, title: body.error.title };
});

print({ step: "done", ok: true });
