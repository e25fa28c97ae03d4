// The server at a glance: commands and events per second and the largest lag over the last
// minutes (sampled by the server itself), and the catalogue's counts.

import * as api from './api.js';
import { h, svg, error, every } from './ui.js';

const REFRESH_MS = 5000;
const SUMMARY = `query ConsoleOverview {
  head
  stats { members coursesPublished bookingsConfirmed bookingsCancelled }
  projections { name lag state parked }
}`;

const W = 360;
const H = 140;
const PAD = { left: 44, right: 10, top: 12, bottom: 22 };

function chart(title, points, key, unit) {
  const values = points.map((point) => point[key]).filter((value) => typeof value === 'number');
  const last = values.at(-1);
  const figure = h('figure', { class: 'chart', 'data-metric': key },
    h('figcaption', {}, title, ' ', h('strong', { class: 'current' }, last === undefined ? '–' : `${last}${unit}`)));
  if (!values.length) {
    figure.append(h('p', { class: 'muted' }, 'Not measured yet: the server samples every few seconds.'));
    return figure;
  }
  const max = Math.max(1, ...values);
  const times = points.map((point) => Date.parse(point.at));
  const [start, end] = [Math.min(...times), Math.max(...times)];
  const x = (t) => PAD.left + (end === start ? (W - PAD.left - PAD.right) : ((t - start) / (end - start)) * (W - PAD.left - PAD.right));
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const line = points.filter((point) => typeof point[key] === 'number').map((point) => `${x(Date.parse(point.at)).toFixed(1)},${y(point[key]).toFixed(1)}`);
  const seconds = Math.round((end - start) / 1000);
  const span = seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  figure.append(svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'plot', role: 'img', 'aria-label': `${title} over the last ${span}` },
    svg('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }),
    svg('line', { class: 'axis', x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom }),
    svg('text', { class: 'tick', x: PAD.left - 6, y: PAD.top + 4, 'text-anchor': 'end' }, String(Math.round(max * 10) / 10)),
    svg('text', { class: 'tick', x: PAD.left - 6, y: H - PAD.bottom, 'text-anchor': 'end' }, '0'),
    svg('text', { class: 'tick', x: PAD.left, y: H - 6 }, `${span} ago`),
    svg('text', { class: 'tick', x: W - PAD.right, y: H - 6, 'text-anchor': 'end' }, 'now'),
    line.length > 1 ? svg('polyline', { class: 'series', points: line.join(' ') }) : svg('circle', { class: 'series-dot', cx: line[0].split(',')[0], cy: line[0].split(',')[1], r: 3 })));
  return figure;
}

export async function render(main, { life }) {
  const figures = h('div', { class: 'tiles', id: 'figures' });
  const charts = h('div', { class: 'charts', id: 'charts' });
  const notice = h('div');
  main.append(h('h1', {}, 'Overview'), figures, charts, notice);
  every(life, REFRESH_MS, async () => {
    try {
      const [summary, samples] = await Promise.all([api.gql(SUMMARY), api.overview()]);
      if (!life.alive) return;
      const worst = summary.projections.reduce((a, b) => (Number(b.lag) > Number(a.lag) ? b : a), summary.projections[0]);
      const parked = summary.projections.reduce((sum, status) => sum + status.parked, 0);
      const tile = (label, value, id) => h('div', { class: 'tile', id }, h('span', { class: 'value' }, value), h('span', { class: 'label' }, label));
      figures.replaceChildren(
        tile('events in the log', summary.head, 'tile-head'),
        tile('members', summary.stats.members),
        tile('courses published', summary.stats.coursesPublished),
        tile('bookings confirmed', summary.stats.bookingsConfirmed),
        tile('bookings cancelled', summary.stats.bookingsCancelled),
        tile(worst && worst.lag !== '0' ? `largest lag (${worst.name})` : 'largest lag', worst?.lag ?? '0', 'tile-lag'),
        h('a', { href: '#/subscribers', class: `tile${parked ? ' warn' : ''}` }, h('span', { class: 'value' }, parked), h('span', { class: 'label' }, 'parked events')),
      );
      charts.replaceChildren(
        chart('Commands per second', samples.points, 'commandsPerSecond', '/s'),
        chart('Events per second', samples.points, 'eventsPerSecond', '/s'),
        chart('Largest subscriber lag', samples.points, 'lag', ' events'),
      );
      notice.replaceChildren();
    } catch (problem) {
      if (life.alive) notice.replaceChildren(error(problem));
    }
  });
}
