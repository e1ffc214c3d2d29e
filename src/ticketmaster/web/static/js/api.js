// The JSON API (API.md) as the web app uses it: one request helper, typed errors, and the
// guest identity kept in localStorage so a reload keeps the same buyer.

const GUEST_KEY = "tm.guest";

/** An API refusal or a failure to reach the API; `describe()` (messages.js) words it. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body && typeof body.message === "string" ? body.message : `HTTP ${status}`);
    this.status = status; // 0: the request never got an answer
    this.code = body && typeof body.error === "string" ? body.error : "";
    this.body = body || {};
    this.retryAfter = retryAfter;
  }
}

/** A fresh idempotency key (one per buyer action; its retries reuse it). */
export function newKey() {
  return crypto.randomUUID();
}

function readGuest() {
  try {
    const guest = JSON.parse(localStorage.getItem(GUEST_KEY) || "null");
    return guest && typeof guest.token === "string" ? guest : null;
  } catch {
    return null;
  }
}

let guestPromise = null;

/** The buyer: the stored guest, or a new one from POST /auth/guest (made once per page). */
export function ensureGuest({ renew = false } = {}) {
  if (renew) {
    localStorage.removeItem(GUEST_KEY);
    guestPromise = null;
  }
  const stored = readGuest();
  if (stored) return Promise.resolve(stored);
  if (!guestPromise) {
    guestPromise = request("POST", "/auth/guest").then((body) => {
      const guest = { token: body.token, userId: body.userId };
      localStorage.setItem(GUEST_KEY, JSON.stringify(guest));
      return guest;
    });
    guestPromise.catch(() => {
      guestPromise = null;
    });
  }
  return guestPromise;
}

/**
 * One API call. `auth` adds the guest's bearer token; `headers` adds more (Idempotency-Key,
 * X-Admission-Token, …). Resolves to the parsed body (null for 204); rejects with ApiError.
 */
export async function request(method, path, { body, auth = false, headers = {}, signal } = {}) {
  const sent = { Accept: "application/json", ...headers };
  if (auth) sent.Authorization = `Bearer ${(await ensureGuest()).token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { error: "network", message: String(error) }, null);
  }
  if (response.status === 204) return null;
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(response.status, parsed, Number.isFinite(retry) ? retry : null);
  }
  return parsed;
}

/** `request` with auth; a 401 (the guest token lapsed) renews the guest once and retries. */
export async function authed(method, path, options = {}) {
  try {
    return await request(method, path, { ...options, auth: true });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    await ensureGuest({ renew: true });
    return request(method, path, { ...options, auth: true });
  }
}

/** Wait `ms`, or less if `signal` aborts. */
export function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
