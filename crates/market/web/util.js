// Small helpers shared by the screens: DOM building, API calls and formatting.
// Everything the API returns is rendered as text (never as HTML), because orders and asset
// names are written by anyone.

const NRLC_PER_RLC = 1_000_000_000n;

// h('a', {href: '#/', class: 'x'}, 'text', childNode) -> element.
// Attributes starting with "on" are event listeners; null/undefined/false attributes are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'testid') el.dataset.testid = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// Calls the market API and returns the parsed body; throws ApiError with the service's own
// error text when it answers {"ok": false, "error": …} or a non-2xx status.
export async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: { accept: 'application/json', ...(options.headers ?? {}) },
  });
  let body;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`${res.status} ${res.statusText}: the response is not JSON`, res.status);
  }
  if (!res.ok || body.ok === false) {
    throw new ApiError(body.error ?? `${res.status} ${res.statusText}`, res.status);
  }
  return body;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const isBytes32 = (s) => /^0x[0-9a-fA-F]{64}$/.test(s);
export const isAddress = (s) => /^0x[0-9a-fA-F]{40}$/.test(s);
export const isZero = (hex) => !hex || /^0x0*$/.test(hex);

export function shortHex(hex, head = 6, tail = 4) {
  if (typeof hex !== 'string' || hex.length <= 2 + head + tail + 1) return String(hex);
  return `${hex.slice(0, 2 + head)}…${hex.slice(-tail)}`;
}

// A shortened hex value with the full value in its title, linked when `href` is given.
function hexLink(hex, href) {
  const text = shortHex(hex);
  return href
    ? h('a', { href, title: hex, class: 'hex' }, text)
    : h('span', { title: hex, class: 'hex' }, text);
}

// Link to an explorer page: kind is app, dataset, workerpool, address, deal or task.
export function entityLink(kind, value) {
  if (kind !== 'deal' && kind !== 'task' && isZero(value)) return h('span', { class: 'muted' }, '—');
  return hexLink(value, `#/${kind}/${value}`);
}

function toBigInt(value) {
  try {
    return BigInt(String(value));
  } catch {
    return null;
  }
}

// nRLC amount (decimal string or number) -> "1.5 RLC".
export function rlc(nrlc) {
  const n = toBigInt(nrlc);
  if (n === null) return `${nrlc} nRLC`;
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const whole = abs / NRLC_PER_RLC;
  const frac = (abs % NRLC_PER_RLC).toString().padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''} RLC`;
}

// A price: the nRLC amount, and the RLC amount (under it in tables, in brackets elsewhere).
export function price(nrlc, { inline = false } = {}) {
  if (inline) return h('span', {}, `${nrlc} nRLC `, h('span', { class: 'muted' }, `(${rlc(nrlc)})`));
  return h('span', { class: 'price' },
    h('span', { class: 'nrlc' }, `${nrlc} nRLC`),
    h('span', { class: 'rlc muted' }, rlc(nrlc)));
}

export function compareAmounts(a, b) {
  const x = toBigInt(a);
  const y = toBigInt(b);
  if (x === null || y === null) return 0;
  return x < y ? -1 : x > y ? 1 : 0;
}

// ISO string, unix seconds (number or decimal string) or Date -> "2026-11-24 10:00:00 UTC".
export function utc(value) {
  if (value === null || value === undefined || value === '') return '—';
  let date;
  if (typeof value === 'number' || /^\d+$/.test(String(value))) date = new Date(Number(value) * 1000);
  else date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function duration(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

// Tag bits the UI knows about (bytes32 tag, bit 0 is the lowest bit of the last byte).
export const TAG_BITS = { TEE: 0, GPU: 8 };

export function tagHex(bits) {
  let n = 0n;
  for (const bit of bits) n |= 1n << BigInt(bit);
  return `0x${n.toString(16).padStart(64, '0')}`;
}

function tagNames(tag) {
  const n = toBigInt(tag);
  if (n === null) return [];
  return Object.entries(TAG_BITS).filter(([, bit]) => (n >> BigInt(bit)) & 1n).map(([name]) => name);
}

export function tagCell(tag) {
  const names = tagNames(tag);
  return h('span', { title: tag }, names.length ? names.join(', ') : (isZero(tag) ? 'none' : shortHex(tag)));
}

// A table inside a horizontally scrolling wrapper. columns: [{label, cell(row) -> node|string}].
export function table({ testid, rowTestid, columns, rows, empty, rowAttrs }) {
  const body = rows.length
    ? rows.map((row) => h('tr', { testid: rowTestid, ...(rowAttrs ? rowAttrs(row) : {}) },
      columns.map((c) => h('td', { class: c.class }, c.cell(row)))))
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, empty ?? 'Nothing here yet.'))];
  return h('div', { class: 'table-wrap', testid },
    h('table', {},
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.label)))),
      h('tbody', {}, body)));
}

// Key/value list for detail pages. rows: [[label, value node|string]].
export function details(rows, testid) {
  return h('dl', { class: 'details', testid },
    rows.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value ?? '—')]));
}

export function errorBox(err, testid) {
  return h('p', { class: 'error', role: 'alert', testid }, typeof err?.message === 'string' ? err.message : String(err));
}

export function debounce(fn, ms) {
  let timer = null;
  const debounced = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}
