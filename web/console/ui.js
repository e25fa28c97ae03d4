// Small DOM helpers: elements are built with text nodes, never from HTML strings, so nothing an
// event holds can become markup.

function fill(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export const h = (tag, attributes, ...children) => fill(document.createElement(tag), attributes, children);
export const svg = (tag, attributes, ...children) => fill(document.createElementNS('http://www.w3.org/2000/svg', tag), attributes, children);

export const short = (id) => (id ? String(id).slice(0, 8) : '');

export function time(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso ?? '';
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export const json = (value) => h('pre', { class: 'json' }, JSON.stringify(value, null, 2));

export const error = (problem) => h('p', { class: 'error', role: 'alert' }, problem?.code ? `${problem.code}: ` : '', problem?.message ?? String(problem));

// How an event reads in a flow: a failure, a compensation (undoing something), a success, or plain.
export function kindOf(type) {
  if (/Failed|Rejected|Declined|Refused|Expired/.test(type)) return 'failure';
  if (/Cancelled|Released|Refunded|Compensat/.test(type)) return 'compensation';
  if (/Confirmed|Captured/.test(type)) return 'success';
  return 'plain';
}

export const AGGREGATES = ['MEMBER', 'COURSE', 'BOOKING', 'PAYMENT', 'EMAIL_CLAIM'];

export const streamLink = (event, text) => h('a', { href: `#/stream/${event.aggregate}/${event.aggregateId}/${event.version}` }, text);
export const flowLink = (correlationId, text, focus) =>
  h('a', { href: `#/flow/${correlationId}${focus ? `?focus=${focus}` : ''}` }, text ?? short(correlationId));

// A page's life: `alive` turns false when the person navigates away, so late answers are dropped.
export function lifetime() {
  const life = { alive: true, stops: [] };
  life.onEnd = (stop) => life.stops.push(stop);
  life.end = () => {
    life.alive = false;
    life.stops.forEach((stop) => stop());
  };
  return life;
}

// Calls `task` now and every `ms` until the page ends.
export function every(life, ms, task) {
  let timer = null;
  const tick = async () => {
    try {
      await task();
    } finally {
      if (life.alive) timer = setTimeout(tick, ms);
    }
  };
  life.onEnd(() => clearTimeout(timer));
  tick();
}
