// The console: routes `#/page/params?query` to a page module, after the admin token is known.

import * as api from './api.js';
import { h, error, lifetime } from './ui.js';
import * as overview from './overview.js';
import * as log from './log.js';
import * as stream from './stream.js';
import * as flow from './flow.js';
import * as subscribers from './subscribers.js';

const PAGES = { overview, log, event: log, stream, flow, subscribers };
const main = document.getElementById('main');
const signOut = document.getElementById('sign-out');
let life = null;

function signIn(problem) {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, placeholder: 'admin token' });
  const form = h(
    'form',
    { id: 'sign-in', class: 'card narrow' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Paste the admin token (', h('code', {}, 'auth.admin_token'), ', or the file ', h('code', {}, '<data_dir>/admin-token'),
      '). It stays in this tab only.'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    problem ? error(problem) : null,
  );
  form.addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    api.setToken(input.value);
    try {
      await api.gql('query ConsoleSignIn { head }');
      route();
    } catch (problem) {
      api.clearToken();
      const message = problem.code === 'FORBIDDEN' ? 'That is a member\'s token: the console needs the admin token.' : problem.message;
      main.replaceChildren(signIn({ code: problem.code, message }));
    }
  });
  return form;
}

async function route() {
  life?.end();
  life = lifetime();
  const current = life;
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name = '', ...params] = path.split('/').filter(Boolean).map(decodeURIComponent);
  main.replaceChildren();
  signOut.hidden = !api.token();
  if (!api.token()) {
    main.append(signIn());
    return;
  }
  const page = PAGES[name];
  if (!page) {
    location.replace('#/overview');
    return;
  }
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('current', link.dataset.page === (name === 'event' ? 'log' : name));
  }
  try {
    await page.render(main, { name, params, query: new URLSearchParams(query), life: current });
  } catch (problem) {
    if (!current.alive) return;
    if (problem.code === 'UNAUTHENTICATED' || problem.code === 'FORBIDDEN') {
      api.clearToken();
      main.replaceChildren(signIn(problem));
    } else {
      main.append(error(problem));
    }
  }
}

signOut.addEventListener('click', () => {
  api.clearToken();
  route();
});
window.addEventListener('hashchange', route);
route();
