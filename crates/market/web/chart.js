// Price chart of a category's last deals, drawn as inline SVG.
// points: [[isoTime, workerpoolPrice (nRLC), volume]…], oldest first (GET /ohlc).
import { h, rlc, utc } from './util.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 220;
const PAD = { left: 12, right: 16, top: 30, bottom: 40 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : String(c));
  return el;
}

// "2026-11-24 10:00 UTC": axis labels leave the seconds out.
const minutes = (time) => utc(time).replace(/:\d\d UTC$/, ' UTC');

// Maps [lo, hi] onto [a, b]; a flat range maps to the middle.
function scale(lo, hi, a, b) {
  return (v) => (hi === lo ? (a + b) / 2 : a + ((v - lo) / (hi - lo)) * (b - a));
}

export function priceChart(points) {
  if (!points.length) {
    return h('div', { class: 'chart-empty muted', testid: 'price-chart', 'data-points': 0 },
      'No trades yet in this category.');
  }
  const data = points.map(([time, p, volume]) => ({ t: Date.parse(time), p: Number(p), volume, time, price: p }));
  const times = data.map((d) => d.t);
  const prices = data.map((d) => d.p);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  // Leave room above and below the prices so that the axis labels do not sit on the line.
  const lowest = Math.min(...prices);
  const highest = Math.max(...prices);
  const room = (highest - lowest || Math.max(1, highest * 0.1)) * 0.3;
  const p0 = Math.max(0, lowest - room);
  const p1 = highest + room;
  const x = scale(t0, t1, PAD.left, W - PAD.right);
  const y = scale(p0, p1, H - PAD.bottom, PAD.top);
  const left = PAD.left;
  const right = W - PAD.right;
  const bottom = H - PAD.bottom;

  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': `Workerpool price of the last ${data.length} deals`,
    class: 'chart',
    'data-testid': 'price-chart',
    'data-points': data.length,
  });
  // axes and price labels
  svg.append(
    s('line', { x1: left, y1: bottom, x2: right, y2: bottom, class: 'axis' }),
    s('line', { x1: left, y1: PAD.top, x2: left, y2: bottom, class: 'axis' }),
    s('line', { x1: left, y1: y(p1), x2: right, y2: y(p1), class: 'grid' }),
    s('text', { x: left + 4, y: y(p1) - 6, class: 'label' }, rlc(Math.round(p1))),
    s('text', { x: left + 4, y: y(p0) - 6, class: 'label' }, rlc(Math.round(p0))),
    s('text', { x: left, y: H - 8, 'text-anchor': 'start', class: 'label' }, minutes(data[0].time)),
  );
  if (data.length > 1) {
    svg.append(s('text', { x: right, y: H - 8, 'text-anchor': 'end', class: 'label' }, minutes(data[data.length - 1].time)));
    svg.append(s('polyline', { points: data.map((d) => `${x(d.t)},${y(d.p)}`).join(' '), class: 'line' }));
  }
  for (const d of data) {
    svg.append(s('circle', { cx: x(d.t), cy: y(d.p), r: 4, class: 'point', 'data-testid': 'chart-point' },
      s('title', {}, `${utc(d.time)}: ${d.price} nRLC (${rlc(d.price)}), volume ${d.volume}`)));
  }
  return svg;
}
