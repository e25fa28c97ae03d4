// One aggregate's stream with a version slider: the event at that version beside the state it
// left the aggregate in (`state(atVersion:)`), time travel one can see.

import * as api from './api.js';
import { h, short, time, json, error, flowLink, AGGREGATES } from './ui.js';

const STREAM = `query ConsoleStream($aggregate: AggregateType!, $id: ID!, $from: String) {
  stream(aggregate: $aggregate, id: $id) { version events(fromVersion: $from, first: 100) { ${api.EVENT_FIELDS} data } }
}`;
const STATE = `query ConsoleState($aggregate: AggregateType!, $id: ID!, $version: String) {
  stream(aggregate: $aggregate, id: $id) { state(atVersion: $version) }
}`;

function picker(aggregate, id) {
  const type = h('select', { id: 'stream-aggregate' }, AGGREGATES.map((name) => h('option', { value: name, selected: name === aggregate }, name)));
  const input = h('input', { id: 'stream-id', value: id ?? '', placeholder: 'aggregate id', required: true });
  const form = h('form', { class: 'filters' }, type, input, h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    location.hash = `#/stream/${type.value}/${input.value.trim()}`;
  });
  return form;
}

export async function render(main, { params, life }) {
  const [aggregate = 'BOOKING', id, wanted] = params;
  main.append(h('h1', {}, 'Stream'), picker(aggregate, id));
  if (!id) {
    main.append(h('p', { class: 'muted' }, 'Open a stream by its aggregate type and id, or follow a stream link from the log or a flow.'));
    return;
  }
  const events = [];
  let version = 0;
  do {
    const data = await api.gql(STREAM, { aggregate, id, from: String(events.length + 1) });
    if (!life.alive) return;
    if (!data.stream) {
      main.append(h('p', {}, 'This stream has no events.'));
      return;
    }
    version = Number(data.stream.version);
    events.push(...data.stream.events);
    if (!data.stream.events.length) break;
  } while (events.length < version && events.length < 2000);

  const slider = h('input', { id: 'version', type: 'range', min: 1, max: events.length, step: 1, value: Math.min(Number(wanted) || events.length, events.length) });
  const label = h('output', { id: 'version-label', for: 'version' });
  const eventPane = h('section', { id: 'at-event' });
  const statePane = h('section', { id: 'at-state' });
  const list = h('ol', { class: 'versions' }, events.map((event) =>
    h('li', { 'data-version': event.version },
      h('button', { type: 'button', class: 'link', onclick: () => { slider.value = event.version; show(); } }, `v${event.version} ${event.type}`))));
  main.append(
    h('p', { class: 'muted' }, `${aggregate} ${id}: ${version} events.`),
    h('div', { class: 'slider' }, h('label', { for: 'version' }, 'Version'), slider, label),
    h('div', { class: 'columns' }, eventPane, statePane),
    h('h2', {}, 'Events'),
    list,
  );

  let asked = 0;
  async function show() {
    const at = Number(slider.value);
    const event = events[at - 1];
    label.textContent = `${at} of ${events.length}`;
    history.replaceState(null, '', `#/stream/${aggregate}/${id}/${at}`);
    for (const item of list.children) item.classList.toggle('current', Number(item.dataset.version) === at);
    eventPane.replaceChildren(
      h('h2', {}, `Event v${at}: `, h('span', { class: 'type' }, event.type)),
      h('p', { class: 'muted' }, `#${event.position} · ${time(event.recordedAt)} · `, h('a', { href: `#/event/${event.position}` }, 'open'),
        ' · flow ', flowLink(event.correlationId, short(event.correlationId), event.eventId)),
      json(event.data),
    );
    const ask = ++asked;
    try {
      const data = await api.gql(STATE, { aggregate, id, version: String(at) });
      if (!life.alive || ask !== asked) return;
      statePane.replaceChildren(h('h2', {}, `State after v${at}`), json(data.stream.state));
      statePane.dataset.version = String(at);
    } catch (problem) {
      if (life.alive && ask === asked) statePane.replaceChildren(error(problem));
    }
  }
  slider.addEventListener('input', show);
  await show();
}
