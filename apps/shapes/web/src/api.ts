/** Calls the gateway's JSON API and tells listeners which gateway and service answered each request. */

export interface ApiIssue {
  readonly path?: string;
  readonly message: string;
}

export interface ApiError {
  readonly code: string;
  readonly message: string;
  readonly issues?: readonly ApiIssue[];
}

export interface ApiResult<T> {
  readonly ok: boolean;
  readonly status: number;
  readonly body: T | undefined;
  readonly error: ApiError | undefined;
}

export interface Served {
  readonly label: string;
  readonly status: number;
  readonly gateway: string;
  readonly service: string;
}

type ServedListener = (served: Served) => void;
const listeners: ServedListener[] = [];

export function onServed(listener: ServedListener): void {
  listeners.push(listener);
}

/** `X-Served-By: <gateway>, <service>` (either part may be missing). */
export function parseServedBy(header: string | null): { gateway: string; service: string } {
  const [gateway = '', service = ''] = (header ?? '').split(',').map((part) => part.trim());
  return { gateway, service };
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  // A backend that stops answering fails the request after 10 s rather than leaving it pending.
  const init: RequestInit = {
    method,
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    return {
      ok: false,
      status: 0,
      body: undefined,
      error: { code: 'NETWORK', message: 'The backend cannot be reached; try again in a moment.' },
    };
  }
  const served = parseServedBy(response.headers.get('x-served-by'));
  for (const listener of listeners)
    listener({ label: `${method} ${path}`, status: response.status, ...served });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok) return { ok: true, status: response.status, body: parsed as T, error: undefined };
  const error = (parsed as { error?: ApiError } | undefined)?.error ?? {
    code: `HTTP_${response.status}`,
    message: `The backend answered ${response.status}.`,
  };
  return { ok: false, status: response.status, body: undefined, error };
}
