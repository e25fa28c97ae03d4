// The global log, newest first, filtered and paged, with a live tail; and one event opened.

import * as api from './api.js';
import { h, short, time, json, error, streamLink, flowLink, AGGREGATES } from './ui.js';

const PAGE_SIZE = 50;
const KEPT_LIVE = 500;

const LOG = `query ConsoleLog($before: String, $first: Int, $types: [String!], $aggregate: AggregateType, $id: ID) {
  head
  events(newestFirst: true, beforePosition: $before, first: $first, types: $types, aggregate: $aggregate, aggregateId: $id) { ${api.EVENT_FIELDS} }
}`;
const TAIL = `subscription ConsoleTail($from: String, $types: [String!]) { events(fromPosition: $from, types: $types) { ${api.EVENT_FIELDS} } }`;
const EVENT = `query ConsoleEvent($position: String) {
  events(fromPosition: $position, first: 1) { ${api.EVENT_FIELDS} schemaVersion data metadata }
}`;

export function render(main, context) {
  return context.name === 'event' ? renderEvent(main, context) : renderLog(main, context);
}

function row(event) {
  return h(
    'tr',
    { 'data-position': event.position, class: 'clickable', onclick: () => { location.hash = `#/event/${event.position}`; } },
    h('td', { class: 'num' }, event.position),
    h('td', { class: 'when' }, time(event.recordedAt)),
    h('td', {}, h('a', { href: `#/event/${event.position}` }, event.type)),
    h('td', {}, event.aggregate),
    h('td', { class: 'id' }, streamLink(event, short(event.aggregateId)), h('span', { class: 'muted' }, ` v${event.version}`)),
    h('td', { class: 'id' }, flowLink(event.correlationId)),
  );
}

async function renderLog(main, { query, life }) {
  const filters = {
    aggregate: query.get('aggregate') || '',
    types: query.get('types') || '',
    id: query.get('id') || '',
    before: query.get('before') || '',
  };
  const variables = {
    first: PAGE_SIZE,
    before: filters.before || null,
    aggregate: filters.aggregate || null,
    types: filters.types ? filters.types.split(',').map((t) => t.trim()).filter(Boolean) : null,
    id: filters.id || null,
  };
  const aggregate = h('select', { id: 'filter-aggregate', name: 'aggregate' }, h('option', { value: '' }, 'any aggregate'),
    AGGREGATES.map((name) => h('option', { value: name, selected: name === filters.aggregate }, name)));
  const types = h('input', { id: 'filter-types', name: 'types', value: filters.types, placeholder: 'event types, comma-separated' });
  const id = h('input', { id: 'filter-id', name: 'id', value: filters.id, placeholder: 'aggregate id (stream)' });
  const live = h('input', { id: 'live', type: 'checkbox', disabled: Boolean(filters.before) });
  const form = h('form', { class: 'filters', id: 'log-filters' }, aggregate, types, id, h('button', { type: 'submit' }, 'Filter'),
    h('label', { class: 'live' }, live, ' live tail'));
  form.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of [['aggregate', aggregate.value], ['types', types.value.trim()], ['id', id.value.trim()]]) {
      if (value) next.set(name, value);
    }
    location.hash = `#/log?${next}`;
  });
  const body = h('tbody', { id: 'log-rows' });
  const status = h('p', { class: 'muted', id: 'log-status' }, 'Loading…');
  const pager = h('div', { class: 'pager' });
  main.append(
    h('h1', {}, 'Log'),
    form,
    h('div', { class: 'scroll' }, h('table', { class: 'events' },
      h('thead', {}, h('tr', {}, ['Position', 'Recorded', 'Type', 'Aggregate', 'Stream', 'Flow'].map((title) => h('th', { class: title === 'Recorded' ? 'when' : null }, title)))),
      body)),
    status,
    pager,
  );
  const data = await api.gql(LOG, variables);
  if (!life.alive) return;
  body.replaceChildren(...data.events.map(row));
  status.textContent = data.events.length
    ? `Positions ${data.events.at(-1).position}–${data.events[0].position} of ${data.head}, newest first.`
    : 'No events here.';
  const here = new URLSearchParams(query);
  if (filters.before) {
    here.delete('before');
    pager.append(h('a', { href: `#/log?${here}`, class: 'button' }, 'Newest'));
  }
  if (data.events.length === PAGE_SIZE) {
    here.set('before', data.events.at(-1).position);
    pager.append(h('a', { href: `#/log?${here}`, class: 'button', id: 'older' }, 'Older'));
  }

  live.addEventListener('change', () => {
    if (!live.checked) {
      life.stopTail?.();
      return;
    }
    const from = String(Number(data.head) + 1);
    status.textContent = `Following the log from position ${from}…`;
    life.stopTail = api.subscribe(TAIL, { from, types: variables.types }, {
      next: ({ events: event }) => {
        if (variables.aggregate && event.aggregate !== variables.aggregate) return;
        if (variables.id && event.aggregateId !== variables.id) return;
        body.prepend(row(event));
        while (body.children.length > KEPT_LIVE) body.lastElementChild.remove();
        status.textContent = `Live: newest position ${event.position}.`;
      },
      failed: (problem) => {
        live.checked = false;
        status.replaceChildren(error(problem));
      },
    });
  });
  life.onEnd(() => life.stopTail?.());
}

async function renderEvent(main, { params, life }) {
  const [position] = params;
  const data = await api.gql(EVENT, { position });
  if (!life.alive) return;
  const event = data.events.find((candidate) => candidate.position === position);
  if (!event) {
    main.append(h('h1', {}, `Event ${position}`), h('p', {}, 'There is no event at this position.'));
    return;
  }
  const causation = event.causationId
    ? flowLink(event.correlationId, event.causationId, event.causationId)
    : h('span', { class: 'muted' }, 'none: a request produced it directly');
  main.append(
    h('h1', {}, `${event.type} `, h('span', { class: 'muted' }, `#${event.position}`)),
    h('dl', { class: 'facts', id: 'event-facts' },
      h('dt', {}, 'Event id'), h('dd', { class: 'id' }, event.eventId),
      h('dt', {}, 'Stream'), h('dd', {}, streamLink(event, `${event.aggregate} ${event.aggregateId} at version ${event.version}`)),
      h('dt', {}, 'Recorded'), h('dd', {}, time(event.recordedAt)),
      h('dt', {}, 'Schema version'), h('dd', {}, event.schemaVersion),
      h('dt', {}, 'Correlation'), h('dd', { class: 'id' }, flowLink(event.correlationId, `${event.correlationId} (open the flow)`, event.eventId)),
      h('dt', {}, 'Causation'), h('dd', { class: 'id' }, causation)),
    h('div', { class: 'columns' },
      h('section', {}, h('h2', {}, 'Data'), json(event.data)),
      h('section', {}, h('h2', {}, 'Metadata'), json(event.metadata))),
  );
}
