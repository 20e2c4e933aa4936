/** The live page: a form, the gallery, the event feed, render jobs and the instances that served them. */
import { type ApiIssue, api, onServed, type Served } from './api.ts';
import { byId, fmt, h } from './dom.ts';
import { openEventStream, type StreamEvent, type StreamState } from './sse.ts';

type Kind = 'circle' | 'rectangle' | 'triangle';

interface Shape {
  readonly id: string;
  readonly kind: Kind;
  readonly dimensions: Record<string, number>;
  readonly area: number;
  readonly perimeter: number;
  readonly createdAt: string;
}

interface ShapePage {
  readonly items: Shape[];
  readonly nextCursor: string | null;
}

/** The fields of each kind, with the labels the form shows. */
const fields: Record<Kind, ReadonlyArray<readonly [name: string, label: string]>> = {
  circle: [['radius', 'Radius']],
  rectangle: [
    ['width', 'Width'],
    ['height', 'Height'],
  ],
  triangle: [
    ['a', 'Side a'],
    ['b', 'Side b'],
    ['c', 'Side c'],
  ],
};

const pageSize = 12;
const maxEvents = 50;
const maxServed = 12;

// ---- New shape -------------------------------------------------------------------------------------

const form = byId<HTMLFormElement>('new-shape');
const kindSelect = byId<HTMLSelectElement>('kind');
const fieldBox = byId('dimension-fields');
const formError = byId('form-error');

function renderFields(kind: Kind): void {
  fieldBox.replaceChildren(
    ...fields[kind].map(([name, label]) =>
      h(
        'div',
        { class: 'field' },
        h('label', { for: `field-${name}` }, label),
        h('input', {
          id: `field-${name}`,
          name,
          type: 'number',
          step: 'any',
          inputmode: 'decimal',
          required: true,
          'aria-describedby': `error-${name}`,
        }),
        h('p', { class: 'error', id: `error-${name}` }),
      ),
    ),
  );
}

function clearFieldErrors(): void {
  formError.textContent = '';
  for (const input of fieldBox.querySelectorAll('input')) input.removeAttribute('aria-invalid');
  for (const p of fieldBox.querySelectorAll('p.error')) p.textContent = '';
}

/** Puts each issue beside the field it names; issues naming no field go under the form. */
function showIssues(issues: readonly ApiIssue[], fallback: string): void {
  const general: string[] = [];
  for (const issue of issues) {
    const name = String(issue.path ?? '').split(/[.[]/)[0] ?? '';
    const input =
      name === '' ? null : fieldBox.querySelector<HTMLInputElement>(`input[name="${CSS.escape(name)}"]`);
    const slot = name === '' ? null : document.getElementById(`error-${name}`);
    if (input && slot) {
      input.setAttribute('aria-invalid', 'true');
      slot.textContent = slot.textContent ? `${slot.textContent} ${issue.message}` : issue.message;
    } else {
      general.push(issue.message);
    }
  }
  if (general.length > 0 || issues.length === 0) formError.textContent = general.join(' ') || fallback;
  const firstInvalid = fieldBox.querySelector<HTMLInputElement>('input[aria-invalid="true"]');
  firstInvalid?.focus();
}

kindSelect.addEventListener('change', () => {
  clearFieldErrors();
  renderFields(kindSelect.value as Kind);
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearFieldErrors();
  const kind = kindSelect.value as Kind;
  const params: Record<string, unknown> = { kind };
  for (const [name] of fields[kind]) {
    const input = fieldBox.querySelector<HTMLInputElement>(`input[name="${name}"]`);
    const raw = input?.value.trim() ?? '';
    // An empty or non-numeric field is sent as it is, so the server's validation names it.
    params[name] = raw === '' ? null : Number.isNaN(Number(raw)) ? raw : Number(raw);
  }
  const button = form.querySelector('button');
  if (button) button.disabled = true;
  const result = await api<Shape>('POST', '/api/shapes', params);
  if (button) button.disabled = false;
  if (result.ok) {
    form.reset();
    kindSelect.value = kind;
    renderFields(kind);
    if (result.body) addToGallery(result.body);
    return;
  }
  showIssues(result.error?.issues ?? [], result.error?.message ?? 'The shape was not created.');
});

// ---- Gallery ---------------------------------------------------------------------------------------

const gallery = byId<HTMLUListElement>('gallery');
const galleryEmpty = byId('gallery-empty');
const firstButton = byId<HTMLButtonElement>('page-first');
const nextButton = byId<HTMLButtonElement>('page-next');
let nextCursor: string | null = null;
let onFirstPage = true;

function shapeItem(shape: Shape): HTMLLIElement {
  const dims = Object.entries(shape.dimensions)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
  const select = h('input', { type: 'checkbox', id: `pick-${shape.id}`, value: shape.id, class: 'pick' });
  const del = h(
    'button',
    { type: 'button', class: 'secondary', 'aria-label': `Delete ${shape.kind} ${shape.id}` },
    'Delete',
  );
  del.addEventListener('click', async () => {
    del.disabled = true;
    const result = await api('DELETE', `/api/shapes/${encodeURIComponent(shape.id)}`);
    if (result.ok || result.status === 404) removeFromGallery(shape.id);
    else del.disabled = false;
  });
  return h(
    'li',
    { 'data-id': shape.id },
    h(
      'div',
      { class: 'art' },
      h('img', {
        src: `/api/shapes/${encodeURIComponent(shape.id)}/svg`,
        alt: `${shape.kind}, ${dims}`,
        loading: 'lazy',
      }),
    ),
    h(
      'dl',
      {},
      h('dt', {}, 'Kind'),
      h('dd', { class: 'kind' }, shape.kind),
      h('dt', {}, 'Area'),
      h('dd', {}, fmt(shape.area)),
      h('dt', {}, 'Perimeter'),
      h('dd', {}, fmt(shape.perimeter)),
    ),
    h('div', { class: 'row' }, h('label', { for: select.id }, select, ' Select'), del),
  );
}

function updateEmpty(): void {
  galleryEmpty.hidden = gallery.children.length > 0;
}

function addToGallery(shape: Shape): void {
  if (!onFirstPage || gallery.querySelector(`[data-id="${CSS.escape(shape.id)}"]`)) return;
  gallery.prepend(shapeItem(shape));
  while (gallery.children.length > pageSize) gallery.lastElementChild?.remove();
  updateEmpty();
}

function removeFromGallery(id: string): void {
  gallery.querySelector(`[data-id="${CSS.escape(id)}"]`)?.remove();
  updateEmpty();
}

async function loadPage(cursor: string | null): Promise<void> {
  const query = `limit=${pageSize}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
  const result = await api<ShapePage>('GET', `/api/shapes?${query}`);
  if (!result.ok || !result.body) return;
  onFirstPage = cursor === null;
  nextCursor = result.body.nextCursor;
  gallery.replaceChildren(...result.body.items.map(shapeItem));
  nextButton.disabled = nextCursor === null;
  firstButton.disabled = onFirstPage;
  updateEmpty();
}

firstButton.addEventListener('click', () => void loadPage(null));
nextButton.addEventListener('click', () => void loadPage(nextCursor));

// ---- Renders ---------------------------------------------------------------------------------------

const renders = byId<HTMLUListElement>('renders');
const renderError = byId('render-error');
const renderBars = new Map<
  string,
  { bar: HTMLElement; fill: HTMLElement; status: HTMLElement; item: HTMLElement }
>();

/** Progress heard before the page showed its job (a fast job reports before POST /api/renders returns). */
const early = new Map<string, { progress?: [number, string]; sheetUrl?: string }>();

function remember(jobId: string, update: { progress?: [number, string]; sheetUrl?: string }): void {
  early.set(jobId, { ...early.get(jobId), ...update });
  while (early.size > 50) early.delete(early.keys().next().value as string);
}

function renderItem(jobId: string, total: number): void {
  const fill = h('span');
  const bar = h(
    'div',
    {
      class: 'bar',
      role: 'progressbar',
      'aria-label': `Render ${jobId}`,
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': 0,
    },
    fill,
  );
  const status = h('span', {}, `${total} shape${total === 1 ? '' : 's'}: waiting`);
  const item = h('li', { 'data-job': jobId }, h('span', {}, `Render ${jobId}`), bar, status);
  renders.prepend(item);
  renderBars.set(jobId, { bar, fill, status, item });
  const heard = early.get(jobId);
  early.delete(jobId);
  if (heard?.progress) setProgress(jobId, ...heard.progress);
  if (heard?.sheetUrl) completeRender(jobId, heard.sheetUrl);
}

function setProgress(jobId: string, progress: number, text: string): void {
  const entry = renderBars.get(jobId);
  if (!entry) {
    remember(jobId, { progress: [progress, text] });
    return;
  }
  const value = Math.max(0, Math.min(100, Math.round(progress)));
  entry.bar.setAttribute('aria-valuenow', String(value));
  entry.fill.style.width = `${value}%`;
  entry.status.textContent = text;
}

function completeRender(jobId: string, sheetUrl: string): void {
  const entry = renderBars.get(jobId);
  if (!entry) {
    remember(jobId, { sheetUrl });
    return;
  }
  if (entry.item.querySelector('a')) return;
  setProgress(jobId, 100, 'done');
  entry.item.append(
    h('a', { href: sheetUrl, target: '_blank', rel: 'noopener' }, `Open the sheet of ${jobId}`),
  );
}

async function startRender(ids: string[]): Promise<void> {
  renderError.textContent = '';
  if (ids.length === 0) {
    renderError.textContent = 'Pick at least one shape, or use Render all.';
    return;
  }
  const result = await api<{ jobId: string }>('POST', '/api/renders', { ids });
  if (!result.ok || !result.body) {
    renderError.textContent = result.error?.message ?? 'The render did not start.';
    return;
  }
  renderItem(result.body.jobId, ids.length);
}

byId('render-selected').addEventListener('click', () => {
  const ids = [...gallery.querySelectorAll<HTMLInputElement>('input.pick:checked')].map((i) => i.value);
  void startRender(ids);
});
byId('render-all').addEventListener('click', () => {
  const ids = [...gallery.querySelectorAll<HTMLInputElement>('input.pick')].map((i) => i.value);
  void startRender(ids);
});

// ---- Events ----------------------------------------------------------------------------------------

const feed = byId<HTMLOListElement>('events');
const conn = byId('conn');

function summary(name: string, payload: Record<string, unknown>): string {
  if (name === 'shape.created')
    return `${String(payload.kind)} ${String(payload.id)} (area ${fmt(Number(payload.area))})`;
  if (name === 'shape.deleted') return `${String(payload.kind)} ${String(payload.id)}`;
  if (name === 'render.progress')
    return `${String(payload.jobId)}: ${String(payload.done)}/${String(payload.total)}`;
  if (name === 'render.completed') return `${String(payload.jobId)}: ${String(payload.total)} shapes`;
  return JSON.stringify(payload);
}

/** Events already shown: a resume through another gateway may replay one the page has seen. */
const seen = new Set<string>();
const seenOrder: string[] = [];

function firstTime(event: StreamEvent): boolean {
  const key = `${event.event}\n${event.data}`;
  if (seen.has(key)) return false;
  seen.add(key);
  seenOrder.push(key);
  if (seenOrder.length > 500) seen.delete(seenOrder.shift() as string);
  return true;
}

function onEvent(event: StreamEvent): void {
  if (event.event === 'reset') {
    // The backend no longer holds what was missed: reload what the page shows from the source.
    void loadPage(null);
    return;
  }
  if (!firstTime(event)) return;
  let payload: Record<string, unknown> = {};
  try {
    payload = JSON.parse(event.data) as Record<string, unknown>;
  } catch {
    return;
  }
  if (event.event === 'shape.created') addToGallery(payload as unknown as Shape);
  if (event.event === 'shape.deleted') removeFromGallery(String(payload.id));
  if (event.event === 'render.progress') {
    const jobId = String(payload.jobId);
    setProgress(
      jobId,
      Number(payload.progress),
      `${String(payload.done)} of ${String(payload.total)} rendered`,
    );
  }
  if (event.event === 'render.completed') completeRender(String(payload.jobId), String(payload.sheetUrl));
  if (!event.event.includes('.')) return;
  feed.prepend(
    h(
      'li',
      { 'data-event': event.event },
      h('span', { class: 'name' }, event.event),
      summary(event.event, payload),
    ),
  );
  while (feed.children.length > maxEvents) feed.lastElementChild?.remove();
}

function onState(state: StreamState): void {
  conn.dataset.state = state;
  conn.textContent = state === 'live' ? 'Live' : state === 'reconnecting' ? 'Reconnecting…' : 'Connecting…';
  if (state === 'live') void refreshServices();
}

// ---- Instances -------------------------------------------------------------------------------------

const servedBody = byId('served');
const gatewaysList = byId('gateways');
const servicesBody = byId('services');
/** The gateways behind the last few answers: one that stops answering drops out as requests go on. */
const recentGateways: string[] = [];
const gatewayWindow = 6;

onServed((served: Served) => {
  servedBody.prepend(
    h(
      'tr',
      {},
      h('td', {}, served.label),
      h('td', {}, served.status),
      h('td', {}, served.gateway || '—'),
      h('td', {}, served.service || '—'),
    ),
  );
  while (servedBody.children.length > maxServed) servedBody.lastElementChild?.remove();
  if (served.gateway) {
    recentGateways.push(served.gateway);
    if (recentGateways.length > gatewayWindow) recentGateways.shift();
  }
  gatewaysList.replaceChildren(...[...new Set(recentGateways)].sort().map((gw) => h('li', {}, gw)));
});

interface ServiceInstance {
  readonly name: string;
  readonly id: string;
  readonly actions: ReadonlyArray<{ readonly name: string; readonly calls: number; readonly errors: number }>;
}

let polling = false;

async function refreshServices(): Promise<void> {
  // Only while the backend is reachable (a poll that is sure to fail would only add noise), and one at a time.
  if (conn.dataset.state !== 'live' || polling) return;
  polling = true;
  try {
    await pollServices();
  } finally {
    polling = false;
  }
}

async function pollServices(): Promise<void> {
  // Through api(), so these polls show in the last requests too: which gateway and instance answered.
  const result = await api<{ instances?: ServiceInstance[] }>('GET', '/api/services');
  if (!result.ok) return;
  const body = result.body;
  const rows: HTMLTableRowElement[] = [];
  for (const instance of body?.instances ?? []) {
    for (const action of instance.actions) {
      rows.push(
        h(
          'tr',
          {},
          h('td', {}, instance.name),
          h('td', {}, instance.id),
          h('td', {}, action.name),
          h('td', {}, action.calls),
          h('td', {}, action.errors),
        ),
      );
    }
  }
  servicesBody.replaceChildren(...rows);
}

// ---- Start -----------------------------------------------------------------------------------------

renderFields('circle');
void loadPage(null);
setInterval(() => void refreshServices(), 2000);
openEventStream({ url: '/api/events', onEvent, onState });
