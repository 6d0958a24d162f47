// The console's router: each /ui/... address (and /) is a page of pages.js, rendered in <main>;
// links marked data-link and forms marked data-link-form navigate without loading the page, and
// the server answers every such address with this app, so deep links work on reload.
import {onUnauthorized, setToken, token} from './api.js';
import * as pages from './pages.js';

const main = document.getElementById('main');
const status = document.getElementById('status');
let leave = null;  // stops what the current page started
let generation = 0;

function announce(text) {
  status.textContent = '';
  // A fresh text node so that screen readers announce a repeated message too.
  setTimeout(() => { status.textContent = text; }, 50);
}

function route(pathname) {
  const parts = pathname.replace(/\/+$/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return {page: pages.dashboard, nav: 'dashboard', title: 'Dashboard'};
  if (parts[0] !== 'ui') return {page: pages.notFound, title: 'Not found'};
  const [, name, id] = parts;
  switch (name) {
    case undefined:
    case 'dashboard': return {page: pages.dashboard, nav: 'dashboard', title: 'Dashboard'};
    case 'streams': return id === undefined ? {page: pages.streams, nav: 'streams', title: 'Streams'}
      : {page: pages.stream, nav: 'streams', id, title: `Stream ${id}`};
    case 'log': return {page: pages.log, nav: 'log', title: 'Global log'};
    case 'live': return {page: pages.live, nav: 'live', title: 'Live tail'};
    case 'subscriptions': return {page: pages.subscriptions, nav: 'subscriptions', title: 'Subscriptions'};
    case 'carts': return id === undefined ? {page: pages.carts, nav: 'carts', title: 'Carts'}
      : {page: pages.cart, nav: 'carts', id, title: `Cart ${id}`};
    default: return {page: pages.notFound, title: 'Not found'};
  }
}

async function render({focus = true, keepFocus = null} = {}) {
  const mine = ++generation;
  if (leave) leave();
  leave = null;
  const url = new URL(location.href);
  const r = route(url.pathname);
  document.title = `${r.title} · evs console`;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const content = document.createElement('div');
  content.className = 'page';
  main.replaceChildren(content);
  const context = {id: r.id, params: url.searchParams, navigate, announce};
  try {
    const stop = await r.page(content, context);
    if (mine !== generation) {
      if (typeof stop === 'function') stop();
      return;
    }
    if (typeof stop === 'function') leave = stop;
  } catch (error) {
    content.append(pages.h('p', {class: 'error', role: 'alert'}, `This page failed: ${error.message}`));
  }
  if (keepFocus) document.getElementById(keepFocus)?.focus();
  else if (focus) (document.getElementById('page-title') || main).focus({preventScroll: !!url.searchParams.get('at')});
}

function navigate(href, {replace = false, keepFocus = null} = {}) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  if (!keepFocus) window.scrollTo(0, 0);
  render({keepFocus});
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[data-link]');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
      event.shiftKey || event.altKey) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

document.addEventListener('submit', (event) => {
  const form = event.target.closest('form[data-link-form]');
  if (!form) return;
  event.preventDefault();
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
  const s = q.toString();
  navigate(form.getAttribute('action') + (s ? `?${s}` : ''));
});

window.addEventListener('popstate', () => render());

// The token dialog: asked for by the Token button, and by a write answered 401.
const dialog = document.getElementById('token-dialog');
const input = document.getElementById('token-input');
const tokenButton = document.getElementById('token-button');
function showTokenState() {
  tokenButton.textContent = token() ? 'Token ✓' : 'Token';
  tokenButton.setAttribute('aria-label', token() ? 'Bearer token (set)' : 'Bearer token (not set)');
}
function askToken() {
  input.value = token();
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (dialog.returnValue === 'save') setToken(input.value.trim());
      if (dialog.returnValue === 'clear') setToken('');
      showTokenState();
      tokenButton.focus();
      resolve(dialog.returnValue === 'save' && !!input.value.trim());
    }, {once: true});
  });
}
tokenButton.addEventListener('click', askToken);
onUnauthorized(askToken);
showTokenState();

render({focus: false});
