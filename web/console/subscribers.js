// Every subscriber of the log with its kind, state, position and lag, refreshing; its parked
// events with Retry and Skip; Rebuild for read models.

import * as api from './api.js';
import { h, short, error, every, flowLink } from './ui.js';

const REFRESH_MS = 2000;
const STATUS = `query ConsoleSubscribers {
  head
  projections { name kind state position lag parked }
  parkedEvents { subscriber position eventId error event { type aggregate aggregateId version correlationId } }
}`;
const RETRY = 'mutation ConsoleRetry($subscriber: String!, $position: String!) { retryParkedEvent(subscriber: $subscriber, position: $position) { name parked } }';
const SKIP = 'mutation ConsoleSkip($subscriber: String!, $position: String!) { skipParkedEvent(subscriber: $subscriber, position: $position) { name parked } }';
const REBUILD = 'mutation ConsoleRebuild($name: String!) { rebuildProjection(name: $name) { name state } }';

const KINDS = { READ_MODEL: 'read model', PROCESS_MANAGER: 'process manager', HANDLER: 'handler' };

export async function render(main, { life }) {
  const notice = h('div', { id: 'notice', 'aria-live': 'polite' });
  const rows = h('tbody', { id: 'subscriber-rows' });
  const parked = h('tbody', { id: 'parked-rows' });
  const head = h('span', { id: 'head' });
  main.append(
    h('h1', {}, 'Subscribers'),
    h('p', { class: 'muted' }, 'Head of the log: ', head, `. Refreshes every ${REFRESH_MS / 1000} s.`),
    notice,
    h('div', { class: 'scroll' }, h('table', { class: 'subscribers' },
      h('thead', {}, h('tr', {}, ['Name', 'Kind', 'State', 'Position', 'Lag', 'Parked', ''].map((title) => h('th', {}, title)))), rows)),
    h('h2', {}, 'Parked events'),
    h('div', { class: 'scroll' }, h('table', { class: 'parked' },
      h('thead', {}, h('tr', {}, ['Subscriber', 'Position', 'Event', 'Error', ''].map((title) => h('th', {}, title)))), parked)),
  );

  const act = async (label, operation, variables) => {
    try {
      await api.gql(operation, variables);
      notice.replaceChildren(h('p', { class: 'ok' }, label));
    } catch (problem) {
      notice.replaceChildren(error(problem));
    }
    await refresh();
  };

  const rebuildButton = (name) => {
    const button = h('button', { type: 'button', class: 'rebuild', 'data-name': name }, 'Rebuild');
    button.addEventListener('click', () => {
      // Two clicks, not a dialog: a rebuild is cheap to ask for but not to take back.
      if (button.dataset.armed) {
        act(`Rebuilding ${name}; the old copy answers until the new one has caught up.`, REBUILD, { name });
      } else {
        button.dataset.armed = 'yes';
        button.textContent = 'Rebuild: sure?';
      }
    });
    return button;
  };

  async function refresh() {
    let data;
    try {
      data = await api.gql(STATUS);
    } catch (problem) {
      if (life.alive) notice.replaceChildren(error(problem));
      return;
    }
    if (!life.alive) return;
    head.textContent = data.head;
    const armed = new Set([...rows.querySelectorAll('button[data-armed]')].map((button) => button.dataset.name));
    rows.replaceChildren(...data.projections.map((status) => h('tr', { 'data-subscriber': status.name, class: status.parked ? 'has-parked' : null },
      h('td', {}, status.name),
      h('td', {}, KINDS[status.kind] ?? status.kind),
      h('td', { class: `state ${status.state.toLowerCase()}` }, status.state.replace('_', ' ').toLowerCase()),
      h('td', { class: 'num position' }, status.position),
      h('td', { class: `num lag${status.lag !== '0' ? ' behind' : ''}` }, status.lag),
      h('td', { class: 'num parked-count' }, status.parked),
      h('td', {}, status.kind === 'READ_MODEL' && status.state !== 'REBUILDING' ? rebuildButton(status.name) : null))));
    for (const name of armed) {
      const button = rows.querySelector(`button[data-name="${CSS.escape(name)}"]`);
      if (button) { button.dataset.armed = 'yes'; button.textContent = 'Rebuild: sure?'; }
    }
    parked.replaceChildren(...(data.parkedEvents.length ? data.parkedEvents.map((dead) => {
      const variables = { subscriber: dead.subscriber, position: dead.position };
      return h('tr', { class: 'parked-event', 'data-subscriber': dead.subscriber, 'data-position': dead.position },
        h('td', {}, dead.subscriber),
        h('td', { class: 'num' }, h('a', { href: `#/event/${dead.position}` }, dead.position)),
        h('td', {}, dead.event ? [dead.event.type, ' ', h('span', { class: 'muted' }, `${dead.event.aggregate} ${short(dead.event.aggregateId)} · flow `),
          flowLink(dead.event.correlationId)] : short(dead.eventId)),
        h('td', { class: 'error-text' }, dead.error),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'retry', onclick: () => act(`Retried ${dead.subscriber} at ${dead.position}.`, RETRY, variables) }, 'Retry'),
          h('button', { type: 'button', class: 'skip secondary', onclick: () => act(`Skipped ${dead.subscriber} at ${dead.position}.`, SKIP, variables) }, 'Skip')));
    }) : [h('tr', {}, h('td', { colspan: 5, class: 'muted', id: 'nothing-parked' }, 'Nothing is parked.'))]));
  }

  every(life, REFRESH_MS, refresh);
}
