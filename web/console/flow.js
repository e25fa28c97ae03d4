// One correlation id drawn as a picture: a lane per aggregate, a box per event at its place in
// the log, an arrow from each event to every event it caused; failures and compensations in
// their own colours.

import * as api from './api.js';
import { h, svg, short, time, json, kindOf, streamLink } from './ui.js';

const FLOW = `query ConsoleFlow($id: ID!) { flow(correlationId: $id) { ${api.EVENT_FIELDS} data } }`;

const LABEL = 150; // lane labels
const COLUMN = 150;
const LANE = 70;
const BOX = { width: 132, height: 42 };
const TOP = 30;

function picker(id) {
  const input = h('input', { id: 'flow-id', value: id ?? '', placeholder: 'correlation id', required: true });
  const form = h('form', { class: 'filters' }, input, h('button', { type: 'submit' }, 'Draw'));
  form.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    location.hash = `#/flow/${input.value.trim()}`;
  });
  return form;
}

function draw(events, select) {
  const lanes = [];
  for (const event of events) {
    const key = `${event.aggregate}/${event.aggregateId}`;
    if (!lanes.includes(key)) lanes.push(key);
  }
  const place = new Map(events.map((event, column) => [event.eventId, {
    x: LABEL + column * COLUMN,
    y: TOP + lanes.indexOf(`${event.aggregate}/${event.aggregateId}`) * LANE,
  }]));
  const width = LABEL + events.length * COLUMN;
  const height = TOP + lanes.length * LANE;
  const picture = svg('svg', { id: 'flow-picture', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${events.length} events in ${lanes.length} aggregates` });
  picture.append(svg('defs', {}, svg('marker', { id: 'arrowhead', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }))));
  lanes.forEach((key, index) => {
    const [aggregate, id] = key.split('/');
    const y = TOP + index * LANE;
    picture.append(
      svg('line', { class: 'lane', x1: 0, x2: width, y1: y + BOX.height / 2, y2: y + BOX.height / 2 }),
      svg('text', { class: 'lane-label', x: 6, y: y + 16 }, aggregate),
      svg('text', { class: 'lane-id', x: 6, y: y + 32 }, short(id)),
    );
  });
  for (const event of events) {
    const cause = event.causationId && place.get(event.causationId);
    if (!cause) continue;
    const to = place.get(event.eventId);
    const [x1, y1] = [cause.x + BOX.width, cause.y + BOX.height / 2];
    const [x2, y2] = [to.x, to.y + BOX.height / 2];
    const bend = Math.max(24, (x2 - x1) / 2);
    picture.append(svg('path', { class: 'arrow', 'data-from': event.causationId, 'data-to': event.eventId,
      d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`, 'marker-end': 'url(#arrowhead)' }));
  }
  for (const event of events) {
    const { x, y } = place.get(event.eventId);
    const kind = kindOf(event.type);
    const box = svg('g', { class: `event ${kind}`, 'data-event-id': event.eventId, 'data-position': event.position, 'data-kind': kind, tabindex: 0 },
      svg('title', {}, `${event.type} #${event.position}`),
      svg('rect', { x, y, width: BOX.width, height: BOX.height, rx: 6 }),
      svg('text', { x: x + 8, y: y + 17, class: 'box-type' }, event.type.length > 19 ? `${event.type.slice(0, 18)}…` : event.type),
      svg('text', { x: x + 8, y: y + 33, class: 'box-position' }, `#${event.position} · v${event.version}`));
    box.addEventListener('click', () => select(event));
    box.addEventListener('keydown', (key) => { if (key.key === 'Enter') select(event); });
    picture.append(box);
  }
  return picture;
}

export async function render(main, { params, query, life }) {
  const [id] = params;
  main.append(h('h1', {}, 'Flow'), picker(id));
  if (!id) {
    main.append(h('p', { class: 'muted' }, 'Draw one request\'s flow by its correlation id, or follow a flow link from the log or an event.'));
    return;
  }
  const data = await api.gql(FLOW, { id });
  if (!life.alive) return;
  if (!data.flow.length) {
    main.append(h('p', {}, 'No event carries this correlation id.'));
    return;
  }
  const details = h('section', { id: 'flow-details', class: 'card' });
  const select = (event) => {
    for (const box of main.querySelectorAll('g.event')) box.classList.toggle('selected', box.dataset.eventId === event.eventId);
    const caused = data.flow.filter((other) => other.causationId === event.eventId).map((other) => other.type);
    details.replaceChildren(
      h('h2', {}, `${event.type} `, h('span', { class: 'muted' }, `#${event.position}`)),
      h('p', {}, streamLink(event, `${event.aggregate} ${short(event.aggregateId)} v${event.version}`), ' · ', time(event.recordedAt), ' · ',
        h('a', { href: `#/event/${event.position}` }, 'open the event')),
      h('p', { class: 'muted' }, caused.length ? `Caused: ${caused.join(', ')}` : 'Caused nothing further.'),
      json(event.data),
    );
  };
  const first = data.flow[0];
  main.append(
    h('p', { class: 'muted' }, `${data.flow.length} events from ${time(first.recordedAt)}, started by ${first.type}.`),
    h('ul', { class: 'legend' }, ['plain', 'success', 'compensation', 'failure'].map((kind) => h('li', { class: kind }, kind))),
    h('div', { class: 'scroll flow' }, draw(data.flow, select)),
    details,
  );
  select(data.flow.find((event) => event.eventId === query.get('focus')) ?? first);
}
