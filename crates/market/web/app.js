// Entry point: header search, live indicator, hash routing between the screens.
import { h, api, isAddress, isBytes32 } from './util.js';
import { marketScreen } from './market.js';
import { dealScreen, taskScreen, assetScreen, addressScreen } from './explorer.js';
import { connectLive } from './live.js';

const HEX32 = '(0x[0-9a-fA-F]{64})';
const HEX20 = '(0x[0-9a-fA-F]{40})';
const ROUTES = [
  [/^\/?$/, (root) => marketScreen(root)],
  [new RegExp(`^/deal/${HEX32}$`), (root, id) => dealScreen(root, id)],
  [new RegExp(`^/task/${HEX32}$`), (root, id) => taskScreen(root, id)],
  [new RegExp(`^/app/${HEX20}$`), (root, a) => assetScreen(root, 'app', a)],
  [new RegExp(`^/dataset/${HEX20}$`), (root, a) => assetScreen(root, 'dataset', a)],
  [new RegExp(`^/workerpool/${HEX20}$`), (root, a) => assetScreen(root, 'workerpool', a)],
  [new RegExp(`^/address/${HEX20}$`), (root, a) => addressScreen(root, a)],
];

const main = document.getElementById('view');
let screen = null;

function route() {
  screen?.dispose();
  screen = null;
  const path = location.hash.replace(/^#/, '') || '/';
  const root = h('div', { class: 'screen' });
  main.replaceChildren(root);
  for (const [pattern, render] of ROUTES) {
    const m = path.match(pattern);
    if (m) {
      screen = render(root, ...m.slice(1));
      return;
    }
  }
  document.title = 'Not found · poco';
  root.append(h('h1', {}, 'Page not found'),
    h('p', {}, 'No page at ', h('code', {}, path), '. ', h('a', { href: '#/' }, 'Back to the market'), '.'));
}

// Search: a 32-byte hex is a deal id, or a task id when no deal has it; a 20-byte hex is an
// address.
async function search(event) {
  event.preventDefault();
  const input = document.getElementById('search-input');
  const error = document.getElementById('search-error');
  const q = input.value.trim();
  error.textContent = '';
  if (isAddress(q)) {
    location.hash = `#/address/${q}`;
  } else if (isBytes32(q)) {
    try {
      await api(`/deals/${q}`);
      location.hash = `#/deal/${q}`;
    } catch (err) {
      if (err.status === 404) location.hash = `#/task/${q}`;
      else error.textContent = err.message;
    }
  } else {
    error.textContent = 'Enter a deal or task id (0x + 64 hex digits) or an address (0x + 40 hex digits).';
    return;
  }
  input.value = '';
}

function showLiveState(state, retryMs) {
  const el = document.getElementById('live-indicator');
  el.dataset.state = state;
  const label = el.querySelector('.label');
  if (state === 'live') label.textContent = 'Live';
  else if (state === 'connecting') label.textContent = 'Connecting…';
  else label.textContent = `Offline, retrying in ${Math.round(retryMs / 1000)} s`;
}

document.getElementById('search-form').addEventListener('submit', search);
window.addEventListener('hashchange', route);
route();
connectLive((event, data) => screen?.onLive(event, data), showLiveState);
api('/version').then((v) => {
  document.getElementById('version').textContent = `poco market ${v.version}`;
}).catch(() => {});
