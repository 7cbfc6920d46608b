// The dashboard's only way to the server: the JSON API on this origin,
// with the signed-in staff member's token from sessionStorage.

const TOKEN_KEY = 'baitech.admin.token';
const USER_KEY = 'baitech.admin.user';

/** The signed-in staff member, or null. */
export function session() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const user = sessionStorage.getItem(USER_KEY);
  if (!token || !user) return null;
  try {
    return { token, user: JSON.parse(user) };
  } catch {
    return null;
  }
}

/** Keeps the token and the user for this tab only. */
export function keepSession(token, user) {
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function endSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

/** A failed call: `status`, the server's message, and field errors if any. */
export class ApiFailure extends Error {
  constructor(status, body) {
    const fields = Array.isArray(body && body.errors)
      ? body.errors.map((e) => `${e.field}: ${e.message}`).join('; ')
      : '';
    super(fields || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }

  /** True when the route itself does not exist (a module not in this build). */
  get isMissingRoute() {
    return this.status === 404 && this.body && this.body.message === 'Route not found';
  }
}

let onSignedOut = () => {};
/** What to do when the server no longer accepts the token. */
export function whenSignedOut(f) {
  onSignedOut = f;
}

/** Calls `/api/v1<path>`; resolves to the JSON body, rejects with ApiFailure. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const s = session();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
  });
  let json = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) {
    if (res.status === 401 && s) {
      endSession();
      onSignedOut();
    }
    throw new ApiFailure(res.status, json);
  }
  return json;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body ?? {});
export const put = (path, body) => api('PUT', path, body ?? {});
export const del = (path, body) => api('DELETE', path, body);

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * A file only staff may see (KYC documents are served to their owner and
 * staff, never to a bare `<img>`): fetched with the token, handed back as a
 * `blob:` URL for an image.
 */
export async function privateFileUrl(url) {
  const s = session();
  const res = await fetch(url, {
    headers: s ? { Authorization: `Bearer ${s.token}` } : {},
    credentials: 'omit',
  });
  if (!res.ok) throw new ApiFailure(res.status, null);
  return URL.createObjectURL(await res.blob());
}
