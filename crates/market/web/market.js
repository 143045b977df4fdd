// The market screen: category tabs, tag filters, workerpool order book, requester bids,
// recent trades with their price chart, and the fill form.
import {
  h, api, query, table, price, entityLink, utc, duration, errorBox, compareAmounts, debounce,
  tagHex, tagCell, TAG_BITS,
} from './util.js';
import { orderHashButton, remainingCell } from './tables.js';
import { priceChart } from './chart.js';
import { fillForm } from './fill.js';
import { getCategories } from './categories.js';

// Kept across screens so that coming back to the market shows the same tab and filters.
const state = { category: null, tags: new Set() };

const BOOK_PAGE_SIZE = 100;

function minTag() {
  return state.tags.size ? tagHex([...state.tags].map((name) => TAG_BITS[name])) : '';
}

function countLine(res, noun) {
  const shown = res.orders.length;
  const total = res.count ?? shown;
  const text = `${total} open ${noun}${total === 1 ? '' : 's'}`;
  return h('p', { class: 'muted count' }, shown < total ? `${text}, showing the first ${shown}` : text);
}

async function loadOrderbook() {
  const res = await api(`/workerpoolorders${query({ category: state.category, minTag: minTag(), pageSize: BOOK_PAGE_SIZE })}`);
  const best = res.orders.reduce((min, e) => (min === null || compareAmounts(e.order.workerpoolprice, min) < 0 ? e.order.workerpoolprice : min), null);
  const isBest = (e) => best !== null && compareAmounts(e.order.workerpoolprice, best) === 0;
  return [
    countLine(res, 'order'),
    table({
      testid: 'orderbook-table',
      rowTestid: 'orderbook-row',
      rows: res.orders,
      rowAttrs: (e) => ({ 'data-hash': e.orderHash, class: isBest(e) ? 'best' : null, 'data-best': isBest(e) }),
      empty: 'No open workerpool orders in this category.',
      columns: [
        { label: 'Hash', cell: orderHashButton },
        {
          label: 'Price / task',
          class: 'num',
          cell: (e) => [isBest(e) ? h('span', { class: 'badge', title: 'lowest price' }, 'best') : null, price(e.order.workerpoolprice)],
        },
        { label: 'Workerpool', cell: (e) => entityLink('workerpool', e.order.workerpool) },
        { label: 'Trust', class: 'num', cell: (e) => e.order.trust },
        { label: 'Tag', cell: (e) => tagCell(e.order.tag) },
        { label: 'Remaining', class: 'num', cell: remainingCell },
      ],
    }),
  ];
}

async function loadBids() {
  const res = await api(`/requestorders${query({ category: state.category, minTag: minTag(), pageSize: BOOK_PAGE_SIZE })}`);
  return [
    countLine(res, 'bid'),
    table({
      testid: 'bids-table',
      rowTestid: 'bid-row',
      rows: res.orders,
      rowAttrs: (e) => ({ 'data-hash': e.orderHash }),
      empty: 'No open requester bids in this category.',
      columns: [
        { label: 'Hash', cell: orderHashButton },
        { label: 'Max price / task', class: 'num', cell: (e) => price(e.order.workerpoolmaxprice) },
        { label: 'App', cell: (e) => entityLink('app', e.order.app) },
        { label: 'Requester', cell: (e) => entityLink('address', e.order.requester) },
        { label: 'Trust', class: 'num', cell: (e) => e.order.trust },
        { label: 'Remaining', class: 'num', cell: remainingCell },
      ],
    }),
  ];
}

async function loadTrades() {
  const [ohlc, deals] = await Promise.all([
    api(`/ohlc${query({ category: state.category })}`),
    api(`/deals${query({ category: state.category, pageSize: 20 })}`),
  ]);
  return [
    priceChart(ohlc.ohlc),
    table({
      testid: 'trades-table',
      rowTestid: 'trade-row',
      rows: deals.deals,
      rowAttrs: (d) => ({ 'data-dealid': d.dealid }),
      empty: 'No trades yet in this category.',
      columns: [
        { label: 'Time', cell: (d) => utc(d.blockTimestamp) },
        { label: 'Price / task', class: 'num', cell: (d) => price(d.workerpool.price) },
        { label: 'Volume', class: 'num', cell: (d) => d.volume },
        { label: 'Workerpool', cell: (d) => entityLink('workerpool', d.workerpool.pointer) },
        { label: 'Deal', cell: (d) => entityLink('deal', d.dealid) },
      ],
    }),
  ];
}

// A card whose body is (re)loaded by `load`; data-state is loading, ready or error and
// data-category the category the shown data belongs to.
function panel(title, testid, load) {
  const body = h('div', {});
  const el = h('section', { class: 'card', testid, 'data-state': 'loading' }, h('h2', {}, title), body);
  let seq = 0;
  async function refresh({ clear }) {
    const mine = ++seq;
    const category = state.category;
    el.dataset.state = 'loading';
    if (clear) body.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const content = await load();
      if (mine !== seq) return;
      body.replaceChildren(...content);
      el.dataset.state = 'ready';
    } catch (err) {
      if (mine !== seq) return;
      body.replaceChildren(errorBox(err));
      el.dataset.state = 'error';
    }
    el.dataset.category = category;
  }
  return { el, refresh };
}

export function marketScreen(root) {
  document.title = 'Market · poco';
  const panels = {
    orderbook: panel('Workerpool order book', 'orderbook', loadOrderbook),
    bids: panel('Requester bids', 'bids', loadBids),
    trades: panel('Recent trades', 'trades', loadTrades),
  };
  const refreshAll = (clear) => Object.values(panels).forEach((p) => p.refresh({ clear }));

  const pending = new Set();
  const flush = debounce(() => {
    for (const name of pending) panels[name].refresh({ clear: false });
    pending.clear();
  }, 400);

  const tabs = h('div', { class: 'tabs', role: 'tablist', testid: 'category-tabs' });
  const filters = h('div', { class: 'filters', testid: 'tag-filters' },
    h('span', { class: 'muted' }, 'Workerpools with:'),
    Object.keys(TAG_BITS).map((name) => h('label', { class: 'check' },
      h('input', {
        type: 'checkbox',
        testid: `filter-${name.toLowerCase()}`,
        checked: state.tags.has(name),
        onchange: (e) => {
          if (e.target.checked) state.tags.add(name);
          else state.tags.delete(name);
          panels.orderbook.refresh({ clear: true });
          panels.bids.refresh({ clear: true });
        },
      }),
      ` ${name}`)));
  const fillSlot = h('div', {});
  root.append(
    h('section', { class: 'toolbar' }, tabs, filters),
    h('div', { class: 'market-grid' },
      panels.orderbook.el,
      panels.bids.el,
      panels.trades.el,
      fillSlot));

  function renderTabs(categories) {
    tabs.replaceChildren(...categories.map((c) => h('button', {
      type: 'button',
      role: 'tab',
      class: 'tab',
      testid: `category-tab-${c.catid}`,
      'aria-selected': String(c.catid === state.category),
      title: c.description,
      onclick: () => {
        if (c.catid === state.category) return;
        state.category = c.catid;
        renderTabs(categories);
        refreshAll(true);
      },
    }, h('strong', {}, c.name), h('small', {}, `max ${duration(c.workClockTimeRef)}`))));
  }

  getCategories().then((categories) => {
    if (!categories.length) throw new Error('The market has no categories.');
    if (!categories.some((c) => c.catid === state.category)) state.category = categories[0].catid;
    renderTabs(categories);
    fillSlot.replaceChildren(fillForm(categories));
    refreshAll(true);
  }).catch((err) => {
    tabs.replaceChildren(errorBox(err, 'categories-error'));
  });

  return {
    onLive(event, data) {
      // Events that carry a category for another tab change nothing here.
      const category = data?.order?.category ?? data?.category;
      if (category !== undefined && category !== null && String(category) !== String(state.category)) return;
      if (event.startsWith('workerpoolorder_')) pending.add('orderbook');
      else if (event.startsWith('requestorder_')) pending.add('bids');
      else if (event === 'deal_created') ['trades', 'orderbook', 'bids'].forEach((n) => pending.add(n));
      else return;
      flush();
    },
    dispose() {
      flush.cancel();
    },
  };
}
