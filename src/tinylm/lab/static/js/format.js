// Small formatting helpers shared by the panels.
export const fmt = (v, digits = 3) => (v === null || v === undefined ? '–' :
  Number.isFinite(v) ? v.toFixed(digits) : String(v));
export const sci = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(4) : v.toExponential(2)) : String(v));
export const seconds = (s) => (s >= 60 ? `${Math.floor(s / 60)}m ${(s % 60).toFixed(0)}s` : `${s.toFixed(1)}s`);
// make invisible characters visible in tables and bars
export const glyph = (ch) => (ch === ' ' ? '␣' : ch === '\n' ? '↵' : ch === '\t' ? '⇥' : ch);
export const visible = (text) => [...text].map(glyph).join('');

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else if (k === 'style') node.style.cssText = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// horizontal bars: rows of [label, value, text]
export function drawBars(container, rows, max = null) {
  const top = max ?? Math.max(1e-12, ...rows.map((r) => r[1]));
  container.replaceChildren(...rows.map(([label, value, text]) => el('div', {class: 'bar', 'data-label': label},
    el('span', {class: 'lbl'}, label),
    el('span', {class: 'fill', style: `width:${Math.max(0.5, 180 * value / top)}px`}),
    el('span', {class: 'num'}, text ?? sci(value)))));
}
