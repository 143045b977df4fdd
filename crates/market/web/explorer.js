// Explorer pages: deal, task, app, dataset, workerpool and address.
import {
  h, api, details, entityLink, price, rlc, utc, tagCell, errorBox, isZero, debounce, table,
} from './util.js';
import { ordersTable, dealsTable, dealTaskPrice } from './tables.js';
import { categoryName } from './categories.js';

const code = (v) => h('code', { class: 'wrap' }, String(v));

// Renders `load()` into root, again on live events accepted by `wants(event, data)`.
function page(root, title, load, wants = () => false) {
  document.title = `${title} · poco`;
  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    root.dataset.state = 'loading';
    try {
      const content = await load();
      if (mine !== seq) return;
      root.replaceChildren(...content);
      root.dataset.state = 'ready';
    } catch (err) {
      if (mine !== seq) return;
      root.replaceChildren(h('h1', {}, title), errorBox(err, 'page-error'));
      root.dataset.state = 'error';
    }
  }
  root.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  refresh();
  const later = debounce(refresh, 400);
  return {
    onLive(event, data) {
      if (wants(event, data)) later();
    },
    dispose() {
      later.cancel();
    },
  };
}

function heading(label, id, testid) {
  return h('h1', {}, `${label} `, h('code', { class: 'wrap', testid }, id));
}

function assetRow(label, part, kind) {
  if (!part || isZero(part.pointer)) return [label, h('span', { class: 'muted' }, 'none')];
  return [label, h('span', {},
    entityLink(kind, part.pointer), ' · owner ', entityLink('address', part.owner), ' · ', price(part.price, { inline: true }))];
}

// Fields of a deal shown with their own formatting; any other field is listed raw after them.
const DEAL_FIELDS = [
  'dealid', 'chainId', 'app', 'dataset', 'workerpool', 'appHash', 'datasetHash', 'workerpoolHash',
  'requestHash', 'requester', 'beneficiary', 'callback', 'category', 'tag', 'trust', 'volume',
  'botFirst', 'botSize', 'params', 'fast', 'startTime', 'blockNumber', 'blockTimestamp',
  'transactionHash', 'tasks',
];

export function dealScreen(root, dealid) {
  return page(root, 'Deal', async () => {
    const deal = await api(`/deals/${dealid}`);
    const extra = Object.keys(deal).filter((k) => k !== 'ok' && !DEAL_FIELDS.includes(k));
    const first = Number(deal.botFirst ?? 0);
    return [
      heading('Deal', deal.dealid, 'deal-id'),
      details([
        ['Time', utc(deal.blockTimestamp)],
        ['Block', `${deal.blockNumber}`],
        ['Transaction', code(deal.transactionHash)],
        ['Chain id', `${deal.chainId}`],
        assetRow('App', deal.app, 'app'),
        assetRow('Dataset', deal.dataset, 'dataset'),
        assetRow('Workerpool', deal.workerpool, 'workerpool'),
        ['Price / task', price(dealTaskPrice(deal), { inline: true })],
        ['Requester', entityLink('address', deal.requester)],
        ['Beneficiary', entityLink('address', deal.beneficiary)],
        ['Callback', isZero(deal.callback) ? h('span', { class: 'muted' }, 'none') : code(deal.callback)],
        ['Category', await categoryName(deal.category)],
        ['Tag', [tagCell(deal.tag), ' ', code(deal.tag)]],
        ['Trust', `${deal.trust}`],
        ['Volume', `${deal.volume}`],
        ['Tasks', `${deal.botSize} from index ${deal.botFirst}`],
        ['Params', code(deal.params)],
        ['Fast match', deal.fast ? 'yes (matchOrdersFast)' : 'no (matchOrders)'],
        ['Start time', utc(deal.startTime)],
        ['App order', code(deal.appHash)],
        ['Dataset order', isZero(deal.datasetHash) ? h('span', { class: 'muted' }, 'none') : code(deal.datasetHash)],
        ['Workerpool order', code(deal.workerpoolHash)],
        ['Request order', code(deal.requestHash)],
        ...extra.map((k) => [k, code(typeof deal[k] === 'object' ? JSON.stringify(deal[k]) : deal[k])]),
      ], 'deal-details'),
      h('h2', {}, 'Tasks'),
      table({
        testid: 'deal-tasks',
        rowTestid: 'task-row',
        rowAttrs: (t) => ({ 'data-taskid': t.taskid }),
        rows: (deal.tasks ?? []).map((taskid, i) => ({ taskid, idx: first + i })),
        empty: 'No tasks.',
        columns: [
          { label: 'Index', class: 'num', cell: (t) => t.idx },
          { label: 'Task', class: 'wrap', cell: (t) => h('a', { href: `#/task/${t.taskid}`, class: 'hex' }, t.taskid) },
        ],
      }),
    ];
  });
}

function deadline(value) {
  return Number(value) ? `${utc(value)}` : h('span', { class: 'muted' }, 'not set');
}

function resultsLink(results) {
  if (!results) return h('span', { class: 'muted' }, 'none');
  const { storage, location } = results;
  const label = storage ? ` (${storage})` : '';
  if (typeof location === 'string' && /^https?:\/\//i.test(location)) {
    return h('span', {}, h('a', { href: location, rel: 'noopener noreferrer', target: '_blank', testid: 'task-results-link', class: 'wrap' }, location), label);
  }
  return h('span', {}, code(location ?? ''), label);
}

export function taskScreen(root, taskid) {
  return page(root, 'Task', async () => {
    const { task } = await api(`/tasks/${taskid}`);
    return [
      heading('Task', task.taskid, 'task-id'),
      details([
        ['Status', h('span', { class: `status status-${String(task.status).toLowerCase()}`, testid: 'task-status' }, task.status)],
        ['Deal', entityLink('deal', task.dealid)],
        ['Index', `${task.idx}`],
        ['Contribution deadline', deadline(task.contributionDeadline)],
        ['Final deadline', deadline(task.finalDeadline)],
        ['Result digest', isZero(task.resultDigest) ? h('span', { class: 'muted' }, 'none') : code(task.resultDigest)],
        ['Results', resultsLink(task.results)],
        ['Raw results', isZero(task.resultsRaw) ? h('span', { class: 'muted' }, 'none') : code(task.resultsRaw)],
      ], 'task-details'),
    ];
  });
}

const ASSETS = {
  app: { path: 'apps', title: 'App', fields: ['owner', 'name', 'type', 'multiaddr', 'checksum', 'mrenclave'] },
  dataset: { path: 'datasets', title: 'Dataset', fields: ['owner', 'name', 'multiaddr', 'checksum'] },
  workerpool: { path: 'workerpools', title: 'Workerpool', fields: ['owner', 'description', 'workerStakeRatio', 'schedulerRewardRatio'] },
};
const FIELD_LABELS = {
  owner: 'Owner', name: 'Name', type: 'Type', multiaddr: 'Multiaddr', checksum: 'Checksum',
  mrenclave: 'MREnclave', description: 'Description', workerStakeRatio: 'Worker stake ratio',
  schedulerRewardRatio: 'Scheduler reward ratio',
};

function assetField(name, value) {
  if (name === 'owner') return entityLink('address', value);
  if (value === null || value === undefined || value === '') return h('span', { class: 'muted' }, 'none');
  if (name === 'workerStakeRatio' || name === 'schedulerRewardRatio') return `${value} %`;
  return code(value);
}

// App, dataset and workerpool pages: details, open orders, last deals.
export function assetScreen(root, kind, address) {
  const { path, title, fields } = ASSETS[kind];
  return page(root, title, async () => {
    const res = await api(`/${path}/${address}`);
    const asset = res[kind];
    return [
      heading(title, asset.address, 'asset-address'),
      details(fields.map((f) => [FIELD_LABELS[f], assetField(f, asset[f])]), 'asset-details'),
      h('h2', {}, 'Open orders'),
      ordersTable(res.orders ?? []),
      h('h2', {}, 'Deals'),
      dealsTable(res.deals ?? []),
    ];
  }, (event) => event.startsWith(`${kind}order_`) || event === 'deal_created');
}

function assetList(kind, addresses, testid) {
  if (!addresses?.length) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'plain', testid }, addresses.map((a) => h('li', {}, entityLink(kind, a))));
}

export function addressScreen(root, address) {
  return page(root, 'Address', async () => {
    const res = await api(`/addresses/${address}`);
    return [
      heading('Address', res.address ?? address, 'address'),
      details([
        ['Stake', h('span', { testid: 'account-stake' }, rlc(res.account?.stake ?? 0))],
        ['Locked', h('span', { testid: 'account-locked' }, rlc(res.account?.locked ?? 0))],
        ['Apps', assetList('app', res.apps, 'owned-apps')],
        ['Datasets', assetList('dataset', res.datasets, 'owned-datasets')],
        ['Workerpools', assetList('workerpool', res.workerpools, 'owned-workerpools')],
      ], 'address-details'),
      h('h2', {}, 'Open orders'),
      ordersTable(res.orders ?? []),
      h('h2', {}, 'Deals as requester or beneficiary'),
      dealsTable(res.deals ?? []),
    ];
  }, (event) => event.endsWith('order_published') || event.endsWith('order_unpublished')
    || event.endsWith('order_filled') || event === 'deal_created');
}
