// "Fill market order": find the cheapest orders for a run (GET /fill), show the `poco run`
// command, and with a browser wallet sign the request order and send matchOrders.
import {
  h, api, query, table, price, rlc, entityLink, errorBox, isAddress, tagHex, TAG_BITS,
} from './util.js';
import { orderHashButton } from './tables.js';

function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

// Reads the form into /fill parameters; throws with a readable message on a bad value.
function readForm(form) {
  const v = (name) => form.elements[name].value.trim();
  const app = v('app');
  if (!isAddress(app)) throw new Error('App address: enter a 20-byte hex address (0x followed by 40 hex digits).');
  const dataset = v('dataset');
  if (dataset && !isAddress(dataset)) throw new Error('Dataset address: enter a 20-byte hex address or leave it empty.');
  const workerpool = v('workerpool');
  if (workerpool && !isAddress(workerpool)) throw new Error('Workerpool address: enter a 20-byte hex address or leave it empty.');
  const inputFiles = v('inputFiles').split(/[\s,]+/).filter(Boolean).join(',');
  const bits = Object.keys(TAG_BITS).filter((name) => form.elements[`tag${name}`].checked).map((name) => TAG_BITS[name]);
  return {
    app,
    dataset,
    workerpool,
    category: v('category'),
    trust: v('trust'),
    volume: v('volume'),
    tag: bits.length ? tagHex(bits) : '',
    args: form.elements.args.value,
    inputFiles,
  };
}

function offerView(fill) {
  const rows = [
    { label: 'App order', entry: fill.apporder, kind: 'app', price: fill.price.app },
    { label: 'Dataset order', entry: fill.datasetorder, kind: 'dataset', price: fill.price.dataset },
    { label: 'Workerpool order', entry: fill.workerpoolorder, kind: 'workerpool', price: fill.price.workerpool },
  ].filter((r) => r.entry);
  const volume = String(fill.requestorder?.volume ?? 1);
  return h('div', { testid: 'fill-offer' },
    h('h3', {}, 'Best offer'),
    table({
      testid: 'fill-orders',
      rowTestid: 'fill-order-row',
      rowAttrs: (r) => ({ 'data-kind': r.kind }),
      rows,
      columns: [
        { label: 'Order', cell: (r) => r.label },
        { label: 'Hash', cell: (r) => orderHashButton(r.entry) },
        { label: 'Asset', cell: (r) => entityLink(r.kind, r.entry.order[r.kind]) },
        { label: 'Price / task', class: 'num', cell: (r) => price(r.price ?? r.entry.order[`${r.kind}price`]) },
      ],
    }),
    h('p', { class: 'total' },
      'Per task: ', h('strong', {}, rlc(fill.price.perTask)),
      ` · Total for ${volume} task${volume === '1' ? '' : 's'}: `,
      h('strong', { testid: 'fill-total' }, rlc(fill.price.total))));
}

async function copy(text, status) {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = 'Copied.';
  } catch {
    status.textContent = 'Copy is not allowed here: select the command and copy it by hand.';
  }
}

export function fillForm(categories) {
  const error = h('div', { testid: 'fill-error', 'aria-live': 'polite' });
  const result = h('div', { testid: 'fill-result', hidden: true });
  const submit = h('button', { type: 'submit', testid: 'fill-submit' }, 'Find best offer');
  const form = h('form', { class: 'card fill', testid: 'fill-form', novalidate: true },
    h('h2', {}, 'Fill market order'),
    h('div', { class: 'fields' },
      field('App address', h('input', { name: 'app', required: true, placeholder: '0x…', spellcheck: 'false', autocomplete: 'off', testid: 'fill-app' })),
      field('Dataset address (optional)', h('input', { name: 'dataset', placeholder: '0x…', spellcheck: 'false', autocomplete: 'off', testid: 'fill-dataset' })),
      field('Params (args)', h('input', { name: 'args', placeholder: 'arguments passed to the app', spellcheck: 'false', testid: 'fill-args' })),
      field('Input files', h('textarea', { name: 'inputFiles', rows: 2, placeholder: 'https://…', spellcheck: 'false', testid: 'fill-input-files' }), 'URLs, one per line or comma-separated'),
      h('div', { class: 'row' },
        field('Trust', h('input', { name: 'trust', type: 'number', min: 0, value: 1, testid: 'fill-trust' })),
        field('Volume', h('input', { name: 'volume', type: 'number', min: 1, value: 1, testid: 'fill-volume' })))),
    h('details', {},
      h('summary', {}, 'More options'),
      h('div', { class: 'fields' },
        field('Category', h('select', { name: 'category', testid: 'fill-category' },
          h('option', { value: '' }, 'Any'),
          categories.map((c) => h('option', { value: c.catid }, c.name)))),
        field('Workerpool address (optional)', h('input', { name: 'workerpool', placeholder: '0x…', spellcheck: 'false', autocomplete: 'off', testid: 'fill-workerpool' })),
        h('div', { class: 'row checks' }, Object.keys(TAG_BITS).map((name) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', name: `tag${name}`, testid: `fill-tag-${name.toLowerCase()}` }), ` Requires ${name}`))))),
    h('div', { class: 'actions' }, submit),
    error,
    result);

  let params = null;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.replaceChildren();
    result.hidden = true;
    try {
      params = readForm(form);
    } catch (err) {
      error.replaceChildren(errorBox(err));
      return;
    }
    submit.disabled = true;
    try {
      const fill = await api(`/fill${query(params)}`);
      showResult(fill);
    } catch (err) {
      error.replaceChildren(errorBox(err));
    } finally {
      submit.disabled = false;
    }
  });

  function showResult(fill) {
    let offer = offerView(fill);
    const command = h('pre', { class: 'command', testid: 'fill-command' }, fill.command);
    const copyStatus = h('span', { class: 'muted', 'aria-live': 'polite' });
    const copyButton = h('button', { type: 'button', testid: 'fill-copy', onclick: () => copy(command.textContent, copyStatus) }, 'Copy');
    // The wallet path asks /fill again for its account: show what it got.
    const update = (next) => {
      const updated = offerView(next);
      offer.replaceWith(updated);
      offer = updated;
      command.textContent = next.command;
    };
    const wallet = window.ethereum
      ? signAndSend(update)
      : h('p', { class: 'muted', testid: 'fill-no-wallet' },
        'No browser wallet found: run the command above with poco to sign and send the request.');
    result.replaceChildren(
      offer,
      h('h3', {}, 'Command'),
      command,
      h('div', { class: 'actions' }, copyButton, copyStatus),
      wallet);
    result.hidden = false;
  }

  // Sign the request order with the wallet and send the match transaction.
  function signAndSend(update) {
    const status = h('p', { testid: 'fill-tx-status', 'aria-live': 'polite' });
    const button = h('button', { type: 'button', testid: 'fill-sign' }, 'Sign and send');
    button.addEventListener('click', async () => {
      button.disabled = true;
      error.replaceChildren();
      try {
        const eth = window.ethereum;
        const [account] = await eth.request({ method: 'eth_requestAccounts' });
        if (!account) throw new Error('The wallet gave no account.');
        status.textContent = 'Preparing the request order…';
        const fill = await api(`/fill${query({ ...params, requester: account })}`);
        update(fill);
        const walletChain = Number(await eth.request({ method: 'eth_chainId' }));
        const marketChain = Number(fill.workerpoolorder.chainId);
        if (marketChain && walletChain !== marketChain) {
          throw new Error(`The wallet is on chain ${walletChain} but this market serves chain ${marketChain}: switch the wallet's network.`);
        }
        status.textContent = 'Sign the request order in your wallet…';
        const sign = await eth.request({
          method: 'eth_signTypedData_v4',
          params: [account, JSON.stringify(fill.typedData)],
        });
        const body = {
          apporder: fill.apporder.order,
          workerpoolorder: fill.workerpoolorder.order,
          requestorder: { ...fill.requestorder, sign },
        };
        if (fill.datasetorder) body.datasetorder = fill.datasetorder.order;
        const tx = await api('/fill/transaction', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        status.textContent = 'Confirm the transaction in your wallet…';
        const hash = await eth.request({
          method: 'eth_sendTransaction',
          params: [{ from: account, to: tx.to, data: tx.data }],
        });
        status.replaceChildren('Transaction sent: ', h('code', { class: 'wrap', testid: 'fill-tx' }, hash),
          tx.fast ? ' (matchOrdersFast)' : ' (matchOrders)');
      } catch (err) {
        status.textContent = '';
        error.replaceChildren(errorBox(err));
      } finally {
        button.disabled = false;
      }
    });
    return h('div', { class: 'wallet' }, h('div', { class: 'actions' }, button), status);
  }

  return form;
}
