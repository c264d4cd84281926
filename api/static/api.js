// The JSON API, as the page uses it. The access token lives in this module's memory only; the
// refresh token is an HttpOnly cookie scoped to /api/session/ that this script never sees.

let access = null;
let refreshing = null;
const loggedOutListeners = [];

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function onLoggedOut(listener) {
  loggedOutListeners.push(listener);
}

export function loggedIn() {
  return access !== null;
}

// How far the server's clock is ahead of this browser's (its Date header, to the second), so
// the age of a price does not depend on a wrong clock here.
let serverAhead = 0;

export function serverNow() {
  return Date.now() + serverAhead;
}

async function send(method, path, body, token) {
  return (await exchange(method, path, body, token)).data;
}

// The answer's data and headers.
async function exchange(method, path, body, token) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const date = Date.parse(response.headers.get("date") || "");
  if (Number.isFinite(date)) serverAhead = date - Date.now();
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : response.statusText;
    throw new ApiError(response.status, message);
  }
  return { data, headers: response.headers };
}

// Trade the session cookie for a new access token (and a new cookie). One at a time: polls
// that meet an expired token together wait for the same refresh. With no cookie the answer is
// 204 and no token (a logged-out visit makes no failing request); a dead cookie's 401 is
// followed by a log-out, which clears the cookie, so the next visit asks without it.
export function refresh() {
  if (!refreshing) {
    refreshing = send("POST", "/api/session/refresh/", {})
      .then((data) => {
        access = data ? data.access : null;
        return access !== null;
      })
      .catch(async (error) => {
        access = null;
        if (error instanceof ApiError && error.status === 401) await logOut();
        return false;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

// A call with the access token; on a 401 the session is refreshed once and the call repeated.
export async function call(method, path, body) {
  return (await authorized(method, path, body)).data;
}

// A GET with the access token: the data and the answer's headers.
export function read(path) {
  return authorized("GET", path);
}

async function authorized(method, path, body) {
  if (access === null && !(await refresh())) throw loggedOut();
  try {
    return await exchange(method, path, body, access);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    if (!(await refresh())) throw loggedOut();
    return exchange(method, path, body, access);
  }
}

function loggedOut() {
  access = null;
  for (const listener of loggedOutListeners) listener();
  return new ApiError(401, "you are logged out");
}

// No token needed (prices, the OpenAPI document).
export function publicGet(path) {
  return send("GET", path);
}

export async function signUp(username, password) {
  return send("POST", "/api/signup/", { username, password });
}

export async function logIn(username, password) {
  const data = await send("POST", "/api/session/login/", { username, password });
  access = data.access;
}

export async function logOut() {
  access = null;
  try {
    await send("POST", "/api/session/logout/", {});
  } catch {
    // the cookie is cleared by the answer; a network error leaves it to expire
  }
}
