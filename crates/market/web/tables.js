// Tables and dialogs for orders and deals, shared by the market and explorer screens.
import {
  h, table, details, entityLink, price, utc, tagCell, shortHex, isAddress, isZero,
} from './util.js';

// What each order type calls its asset and its price.
const KINDS = {
  app: { asset: 'app', price: 'appprice' },
  dataset: { asset: 'dataset', price: 'datasetprice' },
  workerpool: { asset: 'workerpool', price: 'workerpoolprice' },
  request: { asset: 'app', price: 'workerpoolmaxprice' },
};

function orderKind(order) {
  if ('workerpoolmaxprice' in order) return 'request';
  if ('workerpoolprice' in order) return 'workerpool';
  if ('datasetprice' in order) return 'dataset';
  return 'app';
}

const orderPrice = (order) => order[KINDS[orderKind(order)].price];

export const remainingCell = (entry) => `${entry.remaining} / ${entry.order.volume}`;

// The order hash as a button opening the order's details.
export function orderHashButton(entry) {
  return h('button', {
    type: 'button',
    class: 'linklike hex',
    title: entry.orderHash,
    onclick: () => showOrder(entry),
  }, shortHex(entry.orderHash));
}

// Which explorer page an order field links to.
const LINKED_FIELDS = {
  app: 'app', dataset: 'dataset', workerpool: 'workerpool',
  requester: 'address', beneficiary: 'address', signer: 'address',
  apprestrict: 'app', datasetrestrict: 'dataset', workerpoolrestrict: 'workerpool',
  requesterrestrict: 'address',
};

function fieldValue(name, value) {
  if (LINKED_FIELDS[name] && isAddress(value)) {
    return isZero(value) ? h('span', { class: 'muted' }, 'none') : entityLink(LINKED_FIELDS[name], value);
  }
  if (name === 'tag') return [tagCell(value), ' ', h('code', {}, value)];
  if (name.endsWith('price')) return price(value, { inline: true });
  if (name === 'publicationTimestamp') return utc(value);
  if (typeof value === 'object' && value !== null) return h('code', {}, JSON.stringify(value));
  return h('code', {}, String(value));
}

function showOrder(entry) {
  const dialog = document.getElementById('order-dialog');
  const body = dialog.querySelector('.dialog-body');
  const top = ['orderHash', 'status', 'remaining', 'signer', 'publicationTimestamp', 'workerpoolApi', 'chainId']
    .filter((k) => entry[k] !== undefined)
    .map((k) => [k, fieldValue(k, entry[k])]);
  const fields = Object.entries(entry.order).map(([k, v]) => [k, fieldValue(k, v)]);
  body.replaceChildren(
    h('h2', {}, `${orderKind(entry.order)} order`),
    details(top),
    h('h3', {}, 'Signed order'),
    details(fields),
  );
  dialog.showModal();
}

// Open orders of any type (explorer pages).
export function ordersTable(entries, testid = 'orders') {
  return table({
    testid,
    rowTestid: 'order-row',
    rowAttrs: (e) => ({ 'data-hash': e.orderHash }),
    rows: entries,
    empty: 'No open orders.',
    columns: [
      { label: 'Type', cell: (e) => orderKind(e.order) },
      { label: 'Hash', cell: orderHashButton },
      { label: 'Price', class: 'num', cell: (e) => price(orderPrice(e.order)) },
      {
        label: 'Asset',
        cell: (e) => {
          const kind = orderKind(e.order);
          return entityLink(KINDS[kind].asset, e.order[KINDS[kind].asset]);
        },
      },
      { label: 'Trust', class: 'num', cell: (e) => e.order.trust ?? '—' },
      { label: 'Tag', cell: (e) => tagCell(e.order.tag) },
      { label: 'Remaining', class: 'num', cell: remainingCell },
      { label: 'Published', cell: (e) => utc(e.publicationTimestamp) },
    ],
  });
}

// Price per task of a deal: app + dataset + workerpool prices.
export function dealTaskPrice(deal) {
  let total = 0n;
  for (const part of [deal.app, deal.dataset, deal.workerpool]) {
    try {
      total += BigInt(part?.price ?? 0);
    } catch {
      return '?';
    }
  }
  return total.toString();
}

export function dealsTable(deals, testid = 'deals') {
  return table({
    testid,
    rowTestid: 'deal-row',
    rowAttrs: (d) => ({ 'data-dealid': d.dealid }),
    rows: deals,
    empty: 'No deals.',
    columns: [
      { label: 'Deal', cell: (d) => entityLink('deal', d.dealid) },
      { label: 'Time', cell: (d) => utc(d.blockTimestamp) },
      { label: 'App', cell: (d) => entityLink('app', d.app?.pointer) },
      { label: 'Dataset', cell: (d) => entityLink('dataset', d.dataset?.pointer) },
      { label: 'Workerpool', cell: (d) => entityLink('workerpool', d.workerpool?.pointer) },
      { label: 'Price / task', class: 'num', cell: (d) => price(dealTaskPrice(d)) },
      { label: 'Volume', class: 'num', cell: (d) => d.volume },
    ],
  });
}

