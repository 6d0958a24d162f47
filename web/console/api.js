// The console's only way to the server: the public HTTP API of `evs serve`, same origin.
const TOKEN_KEY = 'evs-token';

/** The bearer token kept for this tab (sessionStorage), or ''. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An error of the API: the problem document's detail, with its status and code. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.code = problem && problem.code;
  }
}

async function fail(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    // not a problem document
  }
  throw new ApiError(response.status, problem);
}

/** GET a JSON resource; `signal` aborts it. */
export async function getJson(path, signal) {
  const response = await fetch(path, {headers: {Accept: 'application/json'}, signal});
  if (!response.ok) await fail(response);
  return response.json();
}

/** GET a text resource (the Prometheus metrics). */
export async function getText(path, signal) {
  const response = await fetch(path, {signal});
  if (!response.ok) await fail(response);
  return response.text();
}

let askToken = async () => false;

/** Installs what a write calls on a 401: it asks for the token and resolves true when given. */
export function onUnauthorized(ask) {
  askToken = ask;
}

/** A write (POST, PUT, DELETE) with the bearer token when one is kept; on 401 it asks for the
 * token once and tries again. Resolves to the JSON answer (or null for 204). */
export async function write(method, path, body) {
  for (let attempt = 0; ; ++attempt) {
    const headers = {'Content-Type': 'application/json', Accept: 'application/json'};
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && attempt === 0 && (await askToken())) continue;
    if (!response.ok) await fail(response);
    return response.status === 204 ? null : response.json();
  }
}

/** Follows a Server-Sent Events stream (GET /log/live) with fetch, since its event names are
 * event types, which an EventSource cannot listen for in general. Calls onEvent(event, position)
 * for each event and onPosition(position) for each id; returns a function that stops it. */
export function followLive(path, {onEvent, onPosition, onError, onOpen}) {
  const controller = new AbortController();
  (async () => {
    try {
      const response = await fetch(path, {headers: {Accept: 'text/event-stream'},
                                          signal: controller.signal});
      if (!response.ok) await fail(response);
      if (onOpen) onOpen();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id = null;
          let name = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? '' : line.slice(colon + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'id') id = value;
            else if (field === 'event') name = value;
            else if (field === 'data') data.push(value);
          }
          if (id !== null && onPosition) onPosition(Number(id));
          if (data.length && name !== 'error') onEvent(JSON.parse(data.join('\n')), Number(id));
          else if (data.length && onError) onError(new Error(data.join('\n')));
        }
      }
      if (!controller.signal.aborted && onError) onError(new Error('the live stream ended'));
    } catch (error) {
      if (!controller.signal.aborted && onError) onError(error);
    }
  })();
  return () => controller.abort();
}
