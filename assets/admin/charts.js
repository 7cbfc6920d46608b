// Small inline-SVG charts: bars, a line and a donut. No library, no
// inline styles (colours are SVG attributes or CSS classes), so the
// dashboard's strict Content-Security-Policy holds.

const NS = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777'];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(width, height, label) {
  return el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    class: 'chart',
    role: 'img',
    'aria-label': label,
    preserveAspectRatio: 'xMidYMid meet',
  });
}

/** A round upper bound for an axis that reaches `max`. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const fmt = (n) => (Math.abs(n) >= 1000 ? `${+(n / 1000).toFixed(1)}k` : `${+n.toFixed(2)}`);

function axes(g, { left, top, w, h, max, whole = false }) {
  const ticks = whole && max < 4 ? max : 4;
  for (let i = 0; i <= ticks; i++) {
    const y = top + h - (h * i) / ticks;
    g.append(el('line', { x1: left, x2: left + w, y1: y, y2: y, class: 'gridline' }));
    g.append(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', class: 'tick' }, fmt((max * i) / ticks)));
  }
}

function xLabels(g, labels, { left, top, w, h }) {
  const step = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    const last = i === labels.length - 1 && (labels.length - 1) % step >= step / 2;
    if (i % step !== 0 && !last) return;
    const x = left + (w * (i + 0.5)) / labels.length;
    g.append(el('text', { x, y: top + h + 16, 'text-anchor': 'middle', class: 'tick' }, label));
  });
}

/** Vertical bars: `points` is `[{label, value}]`. */
export function barChart(points, { title = '', color = PALETTE[0] } = {}) {
  const W = 560, H = 220, left = 44, top = 12, w = W - left - 10, h = H - top - 30;
  const root = svg(W, H, title);
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  axes(root, { left, top, w, h, max, whole: true });
  const bw = w / Math.max(1, points.length);
  points.forEach((p, i) => {
    const bh = (h * p.value) / max;
    const rect = el('rect', {
      x: left + i * bw + bw * 0.15, y: top + h - bh, width: Math.max(1, bw * 0.7), height: bh, fill: color, class: 'bar',
    });
    rect.append(el('title', {}, `${p.label}: ${p.value}`));
    root.append(rect);
  });
  xLabels(root, points.map((p) => p.label), { left, top, w, h });
  return root;
}

/** A line with dots: `points` is `[{label, value}]`. */
export function lineChart(points, { title = '', color = PALETTE[1] } = {}) {
  const W = 560, H = 220, left = 56, top = 12, w = W - left - 10, h = H - top - 30;
  const root = svg(W, H, title);
  const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
  axes(root, { left, top, w, h, max });
  const xy = points.map((p, i) => [left + (w * (i + 0.5)) / points.length, top + h - (h * p.value) / max]);
  if (xy.length) {
    root.append(el('polyline', { points: xy.map(([x, y]) => `${x},${y}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }));
  }
  xy.forEach(([x, y], i) => {
    const dot = el('circle', { cx: x, cy: y, r: 3, fill: color });
    dot.append(el('title', {}, `${points[i].label}: ${points[i].value}`));
    root.append(dot);
  });
  xLabels(root, points.map((p) => p.label), { left, top, w, h });
  return root;
}

/** A donut with a legend: `parts` is `[{label, value}]`. */
export function donutChart(parts, { title = '', centre = '' } = {}) {
  const W = 360, H = 200, cx = 100, cy = 100, r = 80, inner = 50;
  const root = svg(W, H, title);
  const total = parts.reduce((s, p) => s + p.value, 0);
  let angle = -Math.PI / 2;
  parts.forEach((p, i) => {
    const color = PALETTE[i % PALETTE.length];
    if (total > 0 && p.value > 0) {
      const sweep = (2 * Math.PI * p.value) / total;
      let shape;
      if (sweep >= 2 * Math.PI - 1e-9) {
        shape = el('circle', { cx, cy, r: (r + inner) / 2, fill: 'none', stroke: color, 'stroke-width': r - inner });
      } else {
        const a0 = angle, a1 = angle + sweep, large = sweep > Math.PI ? 1 : 0;
        const pt = (rad, a) => `${cx + rad * Math.cos(a)} ${cy + rad * Math.sin(a)}`;
        shape = el('path', {
          d: `M ${pt(r, a0)} A ${r} ${r} 0 ${large} 1 ${pt(r, a1)} L ${pt(inner, a1)} A ${inner} ${inner} 0 ${large} 0 ${pt(inner, a0)} Z`,
          fill: color,
        });
      }
      shape.append(el('title', {}, `${p.label}: ${p.value}`));
      root.append(shape);
      angle += sweep;
    }
    const ly = 30 + i * 24;
    root.append(el('rect', { x: 210, y: ly - 10, width: 12, height: 12, fill: color }));
    root.append(el('text', { x: 228, y: ly, class: 'legend' }, `${p.label} (${p.value})`));
  });
  if (total === 0) root.append(el('circle', { cx, cy, r: (r + inner) / 2, fill: 'none', class: 'empty-ring', 'stroke-width': r - inner }));
  root.append(el('text', { x: cx, y: cy + 6, 'text-anchor': 'middle', class: 'centre' }, centre || String(total)));
  return root;
}

/** A horizontal gauge for a percentage (SLA attainment). */
export function gauge(percent, { title = '' } = {}) {
  const W = 360, H = 60;
  const root = svg(W, H, title);
  const p = Math.max(0, Math.min(100, percent || 0));
  root.append(el('rect', { x: 0, y: 10, width: W, height: 24, rx: 4, class: 'gauge-track' }));
  root.append(el('rect', { x: 0, y: 10, width: (W * p) / 100, height: 24, rx: 4, fill: p >= 90 ? PALETTE[1] : p >= 70 ? PALETTE[2] : PALETTE[3] }));
  root.append(el('text', { x: W / 2, y: 52, 'text-anchor': 'middle', class: 'tick' }, `${p.toFixed(1)}%`));
  return root;
}
