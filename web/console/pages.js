// The console's pages. Each renders into `main` from the public HTTP API and returns a function
// that stops what it started (polls, live streams, charts) when the page is left.
import {getJson, getText, write, followLive} from './api.js';
import {lineChart} from './charts.js';

// ---- DOM and formatting helpers ----------------------------------------------------------

/** An element: h('a', {href: '/x', class: 'y'}, 'text', child, ...). Text is never HTML. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A link handled by the console's router (no page load). */
const link = (href, ...children) => h('a', {href, 'data-link': true}, ...children);

const number = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));

function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    ++i;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

const time = (iso) => h('time', {datetime: iso}, iso ? iso.replace('T', ' ').replace('Z', ' UTC') : '–');
const money = (cents, currency) => `${(cents / 100).toFixed(2)} ${currency || ''}`.trim();

const streamHref = (id) => `/ui/streams/${encodeURIComponent(id)}`;
const logHref = (position) => `/ui/log?at=${position}`;
const cartHref = (id, version) => `/ui/carts/${encodeURIComponent(id)}${version ? `?version=${version}` : ''}`;

function json(value) {
  return h('pre', {class: 'json'}, JSON.stringify(value, null, 2));
}

/** A page's heading, focused after navigation so that screen readers announce the page. */
function heading(text, ...rest) {
  return h('h1', {tabindex: '-1', id: 'page-title'}, text, ...rest);
}

/** GETs `path`; on a failure shows it in `main` and resolves to null. */
async function load(main, path) {
  try {
    return await getJson(path);
  } catch (error) {
    main.append(errorBox(error));
    return null;
  }
}

function errorBox(error) {
  return h('p', {class: 'error', role: 'alert'}, `Could not load: ${error.message}`);
}

/** A table in a scrolling region that the keyboard can reach. */
function table(caption, headers, rows, attributes = {}) {
  return h('div', {class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption},
    h('table', attributes,
      h('caption', {class: 'visually-hidden'}, caption),
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', {scope: 'col'}, x)))),
      h('tbody', {}, rows)));
}

/** The data and metadata of an event, folded away until asked for. */
function eventBody(event) {
  return h('details', {class: 'event-body'},
    h('summary', {}, 'data and metadata'),
    h('h3', {}, 'data'), json(event.data),
    h('h3', {}, 'metadata'), json(event.metadata));
}

function pager(...links) {
  return h('nav', {class: 'pager', 'aria-label': 'Pages'}, links.filter(Boolean));
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// ---- the dashboard ---------------------------------------------------------------------------

/** Prometheus text into {name: [{labels, value}]}. */
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    // Label values may hold braces (route="/streams/{id}"): a label set is quoted strings and
    // anything but braces.
    const m = /^([a-zA-Z_:][\w:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    (out[m[1]] ||= []).push({labels: m[2] || '', value: Number(m[3])});
  }
  return out;
}

const sum = (metrics, name) => (metrics[name] || []).reduce((a, s) => a + s.value, 0);

const HISTORY_SECONDS = 300;
const POLL_MS = 2000;
// Kept across visits of the dashboard, so that its charts do not start empty each time.
const history = {times: [], appends: [], requests: [], batch: [], fsync: [], last: null};

export function dashboard(main) {
  const cards = h('div', {class: 'cards'});
  const charts = h('div', {class: 'charts'});
  const rateChartBox = h('figure', {class: 'chart', 'aria-label': 'Appends and requests per second'});
  const diskChartBox = h('figure', {class: 'chart', 'aria-label': 'Group-commit batch size and fsync latency'});
  charts.append(rateChartBox, diskChartBox);
  const subscriptions = h('section', {'aria-labelledby': 'subs-title'});
  const archive = h('section', {'aria-labelledby': 'archive-title', hidden: true});
  const problem = h('div');
  main.append(heading('Dashboard'), problem, cards, charts, archive, subscriptions);
  const rateChart = lineChart(rateChartBox, 'Throughput', [
    {label: 'appends/s', color: '#1f77b4'}, {label: 'requests/s', color: '#ff7f0e'}]);
  const diskChart = lineChart(diskChartBox, 'Group commit', [
    {label: 'appends per commit', color: '#2ca02c'},
    {label: 'fsync ms', color: '#d62728', scale: 'ms', unit: ' ms'}]);

  const card = (label, value, note) => h('div', {class: 'card'},
    h('div', {class: 'card-label'}, label), h('div', {class: 'card-value'}, value),
    note ? h('div', {class: 'card-note'}, note) : null);

  async function poll() {
    let metrics;
    let subs;
    try {
      [metrics, subs] = await Promise.all([getText('/metrics').then(parseMetrics),
        getJson('/subscriptions').catch(() => ({subscriptions: []}))]);
      problem.replaceChildren();
    } catch (error) {
      problem.replaceChildren(errorBox(error));
      return;
    }
    const now = Date.now() / 1000;
    const sample = {
      t: now,
      appends: sum(metrics, 'evs_appends_total'),
      requests: sum(metrics, 'evs_http_requests_total'),
      commits: sum(metrics, 'evs_group_commit_appends_count'),
      committed: sum(metrics, 'evs_group_commit_appends_sum'),
      fsyncs: sum(metrics, 'evs_fsync_seconds_count'),
      fsyncSeconds: sum(metrics, 'evs_fsync_seconds_sum'),
    };
    const last = history.last;
    let appendRate = null;
    let requestRate = null;
    let batch = null;
    let fsync = null;
    if (last && now > last.t && sample.appends >= last.appends) {
      const dt = now - last.t;
      appendRate = (sample.appends - last.appends) / dt;
      requestRate = (sample.requests - last.requests) / dt;
      const commits = sample.commits - last.commits;
      batch = commits > 0 ? (sample.committed - last.committed) / commits : 0;
      const fsyncs = sample.fsyncs - last.fsyncs;
      fsync = fsyncs > 0 ? ((sample.fsyncSeconds - last.fsyncSeconds) / fsyncs) * 1000 : 0;
      history.times.push(now);
      history.appends.push(appendRate);
      history.requests.push(requestRate);
      history.batch.push(batch);
      history.fsync.push(fsync);
      while (history.times.length && history.times[0] < now - HISTORY_SECONDS) {
        for (const k of ['times', 'appends', 'requests', 'batch', 'fsync']) history[k].shift();
      }
    }
    history.last = sample;
    const head = sum(metrics, 'evs_head_position');
    const list = subs.subscriptions || [];
    const maxLag = list.reduce((a, s) => Math.max(a, s.lag || 0), 0);
    cards.replaceChildren(
      card('Head position', link(logHref(head), number(head))),
      card('Appends/s', appendRate === null ? '…' : appendRate.toFixed(1), `${number(sample.appends)} in all`),
      card('Requests/s', requestRate === null ? '…' : requestRate.toFixed(1)),
      card('Appends per commit', batch === null ? '…' : batch.toFixed(2), `${number(sample.commits)} commits`),
      card('fsync latency', fsync === null ? '…' : `${fsync.toFixed(2)} ms`, 'mean over the last interval'),
      card('Store size', bytes(sum(metrics, 'evs_store_bytes'))),
      card('Largest lag', number(maxLag), `${list.length} subscriptions`));
    rateChart.update([history.times, history.appends, history.requests]);
    diskChart.update([history.times, history.batch, history.fsync]);
    const archived = list.find((s) => s.name === 'archive' && s.kind !== 'persistent');
    archive.hidden = !archived;
    if (archived) {
      archive.replaceChildren(h('h2', {id: 'archive-title'}, 'Archive'),
        h('p', {}, `State ${archived.state}; archived up to position ${number(archived.checkpoint)} `,
          `of ${number(archived.head)} (lag ${number(archived.lag)}).`,
          archived.error ? h('span', {class: 'error'}, ` ${archived.error}`) : null));
    }
    subscriptions.replaceChildren(h('h2', {id: 'subs-title'}, 'Subscriptions'),
      list.length ? table('Subscriptions and their lag', ['name', 'state', 'lag', 'parked'],
        list.map((s) => h('tr', {},
          h('td', {}, link('/ui/subscriptions', s.name)), h('td', {}, s.state ? stateBadge(s.state) : s.kind || '–'),
          h('td', {class: 'num'}, number(s.lag)), h('td', {class: 'num'}, number(s.parked)))))
        : h('p', {}, 'No subscriptions.'));
  }
  poll();
  const timer = setInterval(poll, POLL_MS);
  return () => {
    clearInterval(timer);
    rateChart.destroy();
    diskChart.destroy();
  };
}

function stateBadge(state) {
  return h('span', {class: `badge state-${String(state).replace(/[^a-z_]/gi, '')}`}, state);
}

// ---- streams ---------------------------------------------------------------------------------

export async function streams(main, {params}) {
  const prefix = params.get('prefix') || '';
  const after = params.get('after') || '';
  const input = h('input', {id: 'prefix', name: 'prefix', type: 'search', value: prefix,
                            placeholder: 'cart-', autocomplete: 'off'});
  const form = h('form', {class: 'inline', role: 'search', action: '/ui/streams', 'data-link-form': true},
    h('label', {for: 'prefix'}, 'Stream id prefix'), input, h('button', {type: 'submit'}, 'Search'));
  main.append(heading('Streams'), form);
  const page = await load(main, `/streams${query({prefix, after, limit: 50})}`);
  if (!page) return;
  if (!page.streams.length) {
    main.append(h('p', {}, prefix ? `No stream starts with “${prefix}”.` : 'No streams yet.'));
  } else {
    main.append(table('Streams', ['stream', 'version'], page.streams.map((s) => h('tr', {},
      h('td', {}, link(streamHref(s.stream_id), s.stream_id)), h('td', {class: 'num'}, number(s.version))))));
  }
  main.append(pager(after ? link(`/ui/streams${query({prefix})}`, '« First page') : null,
    page.next_after ? link(`/ui/streams${query({prefix, after: page.next_after})}`, 'Next page »') : null));
}

export async function stream(main, {id, params}) {
  // Category and type streams ($ce-..., $et-...) are pages of the log: forward only.
  const virtual = /^\$(ce|et)-/.test(id);
  const direction = virtual || params.get('direction') === 'forward' ? 'forward' : 'backward';
  const from = params.get('from') || '';
  const other = direction === 'forward' ? 'backward' : 'forward';
  const base = streamHref(id);
  main.append(heading('Stream ', h('code', {}, id)),
    h('p', {class: 'toolbar'}, link('/ui/streams', '« All streams'), ' · ',
      virtual ? h('span', {}, 'In log order') : [
        link(`${base}${query({direction: other})}`, direction === 'forward' ? 'Newest first' : 'Oldest first'),
        ' · ', h('span', {}, direction === 'forward' ? 'Showing oldest first' : 'Showing newest first')]));
  const page = await load(main, `/streams/${encodeURIComponent(id)}${query({direction: virtual ? '' : direction, from, limit: 50})}`);
  if (!page) return;
  if (page.version !== undefined) main.append(h('p', {}, `Version ${number(page.version)}.`));
  main.append(table(`Events of ${id}`, ['version', 'position', 'type', 'time', 'data'],
    page.events.map((e) => h('tr', {},
      h('td', {class: 'num'}, number(e.version)),
      h('td', {class: 'num'}, link(logHref(e.position), number(e.position))),
      h('td', {}, h('code', {}, e.type)), h('td', {}, time(e.recorded_at)),
      h('td', {class: 'body-cell'}, eventBody(e)))), {class: 'events'}));
  main.append(pager(from ? link(`${base}${query({direction})}`, direction === 'forward' ? '« Oldest' : '« Newest') : null,
    page.next_from !== null && page.next_from !== undefined && !page.end_of_stream &&
      !(virtual && page.next_from >= page.head_position)
      ? link(`${base}${query({direction, from: page.next_from})}`, direction === 'forward' ? 'Newer »' : 'Older »')
      : null));
}

// ---- the global log --------------------------------------------------------------------------

const LOG_PAGE = 50;

export async function log(main, {params}) {
  const at = params.has('at') ? Number(params.get('at')) : null;
  let from = params.has('from') ? Number(params.get('from')) : null;
  if (at !== null && from === null) from = Math.max(0, at - 1 - 10);
  main.append(heading('Global log'));
  let page;
  try {
    if (from === null) {
      // The last page: from the head back.
      const head = (await getJson('/log?limit=1&from=0')).head_position;
      from = Math.max(0, head - LOG_PAGE);
    }
    page = await getJson(`/log${query({from, limit: LOG_PAGE})}`);
  } catch (error) {
    main.append(errorBox(error));
    return;
  }
  main.append(h('p', {}, `Positions after ${number(from)}; the head is at ${number(page.head_position)}.`));
  const rows = page.events.map((e) => h('tr', {id: `p${e.position}`, class: e.position === at ? 'highlight' : null,
    'aria-current': e.position === at ? 'true' : null},
    h('td', {class: 'num'}, number(e.position)),
    h('td', {}, link(streamHref(e.stream_id), e.stream_id)),
    h('td', {class: 'num'}, number(e.version)),
    h('td', {}, h('code', {}, e.type)), h('td', {}, time(e.recorded_at)),
    h('td', {class: 'body-cell'}, eventBody(e))));
  main.append(page.events.length ? table('The global log', ['position', 'stream', 'version', 'type', 'time', 'data'], rows, {class: 'events'})
    : h('p', {}, 'No events here.'));
  main.append(pager(from > 0 ? link(`/ui/log${query({from: Math.max(0, from - LOG_PAGE)})}`, '« Earlier') : null,
    page.next_from < page.head_position ? link(`/ui/log${query({from: page.next_from})}`, 'Later »') : null,
    link('/ui/log', 'Head')));
  const target = at !== null && main.querySelector(`#p${at}`);
  if (target) target.scrollIntoView({block: 'center'});
}

// ---- the live tail ---------------------------------------------------------------------------

const LIVE_ROWS = 500;

export function live(main, {params}) {
  const type = params.get('type') || '';
  const category = params.get('category') || '';
  const form = h('form', {class: 'inline', action: '/ui/live', 'data-link-form': true},
    h('label', {for: 'live-type'}, 'Types'),
    h('input', {id: 'live-type', name: 'type', value: type, placeholder: 'ItemAdded,CartCheckedOut', autocomplete: 'off'}),
    h('label', {for: 'live-category'}, 'Categories'),
    h('input', {id: 'live-category', name: 'category', value: category, placeholder: 'cart', autocomplete: 'off'}),
    h('button', {type: 'submit'}, 'Filter'));
  const pause = h('button', {type: 'button', id: 'live-pause', 'aria-pressed': 'false'}, 'Pause');
  const state = h('span', {id: 'live-state', role: 'status'}, 'connecting…');
  const body = h('tbody', {id: 'live-rows'});
  main.append(heading('Live tail'), form, h('p', {class: 'toolbar'}, pause, ' ', state),
    h('div', {class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Live events'},
      h('table', {class: 'events'}, h('caption', {class: 'visually-hidden'}, 'Events as they are committed, newest first'),
        h('thead', {}, h('tr', {}, ['position', 'stream', 'type', 'time', 'data'].map((x) => h('th', {scope: 'col'}, x)))),
        body)));
  let position = null;  // the last position seen: a resume goes on from it
  let stop = null;
  let count = 0;
  const connect = () => {
    const path = `/log/live${query({from: position, type, category})}`;
    stop = followLive(path, {
      onOpen: () => { state.textContent = 'live'; },
      onPosition: (p) => { position = p; },
      onEvent: (e) => {
        ++count;
        body.prepend(h('tr', {class: 'fresh'},
          h('td', {class: 'num'}, link(logHref(e.position), number(e.position))),
          h('td', {}, link(streamHref(e.stream_id), e.stream_id)),
          h('td', {}, h('code', {}, e.type)), h('td', {}, time(e.recorded_at)),
          h('td', {class: 'body-cell'}, eventBody(e))));
        while (body.rows.length > LIVE_ROWS) body.lastElementChild.remove();
        state.textContent = `live: ${count} events`;
      },
      onError: (error) => { state.textContent = `disconnected: ${error.message}`; },
    });
  };
  pause.addEventListener('click', () => {
    if (stop) {
      stop();
      stop = null;
      pause.textContent = 'Resume';
      pause.setAttribute('aria-pressed', 'true');
      state.textContent = `paused at position ${position === null ? 'the head' : number(position)}`;
    } else {
      pause.textContent = 'Pause';
      pause.setAttribute('aria-pressed', 'false');
      connect();
    }
  });
  connect();
  return () => stop && stop();
}

// ---- subscriptions ---------------------------------------------------------------------------

export function subscriptions(main, {announce}) {
  const list = h('div');
  const parked = h('div');
  main.append(heading('Subscriptions and projections'), list, parked);
  let shown = '';
  let shownParked = '';
  async function poll() {
    let subs;
    try {
      subs = (await getJson('/subscriptions')).subscriptions;
    } catch (error) {
      list.replaceChildren(errorBox(error));
      return;
    }
    const text = JSON.stringify(subs);
    if (text !== shown) {
      shown = text;
      list.replaceChildren(subs.length ? table('Subscriptions',
        ['name', 'kind', 'state', 'checkpoint', 'head', 'lag', 'parked', 'delivered / in flight'],
        subs.map((s) => h('tr', {},
          h('th', {scope: 'row'}, s.name), h('td', {}, s.kind || 'catch-up'),
          h('td', {}, s.state ? stateBadge(s.state) : '–',
            s.error ? h('div', {class: 'error'}, s.error) : null),
          h('td', {class: 'num'}, number(s.checkpoint)), h('td', {class: 'num'}, number(s.head)),
          h('td', {class: 'num'}, number(s.lag)), h('td', {class: 'num'}, number(s.parked)),
          h('td', {class: 'num'}, s.kind === 'persistent' ? number(s.in_flight) : number(s.delivered)))))
        : h('p', {}, 'No subscriptions.'));
    }
    // The parked events: of the persistent subscriptions, and of the read side's own catch-up
    // subscriptions (in their checkpoint stores); each with a retry.
    const persistent = subs.filter((s) => s.kind === 'persistent' && s.parked > 0);
    const stores = await getJson('/checkpoints').then((c) => c.stores.filter((x) => x.parked > 0)).catch(() => []);
    const groups = await Promise.all([
      ...persistent.map((s) => getJson(`/subscriptions/${encodeURIComponent(s.name)}/parked?limit=100`)
        .then((p) => ({title: s.name, rows: p.parked.map((x) => ({...x, count: x.delivery_count,
          retry: [`/subscriptions/${encodeURIComponent(s.name)}/parked/retry`, {ids: [x.id]}]}))}))
        .catch(() => ({title: s.name, rows: []}))),
      ...stores.map((c) => getJson(`/checkpoints/${encodeURIComponent(c.name)}/parked?limit=100`)
        .then((p) => ({title: `${c.name} (read side)`, rows: p.parked.map((x) => ({...x, count: x.attempts,
          reason: `${x.subscription}: ${x.reason}`,
          retry: [`/checkpoints/${encodeURIComponent(c.name)}/parked/${x.id}/retry`, undefined]}))}))
        .catch(() => ({title: c.name, rows: []})))]);
    const parkedText = JSON.stringify(groups);
    if (parkedText === shownParked) return;
    shownParked = parkedText;
    const retryButton = (group, x) => h('button', {type: 'button', class: 'retry', 'data-id': x.id,
      'aria-label': `Retry parked event at position ${x.event.position} of ${group.title}`,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await write('POST', ...x.retry);
          announce(`Retrying the event at position ${x.event.position}`);
          button.replaceWith('retry requested');
          shownParked = '';
          poll();
        } catch (error) {
          button.disabled = false;
          announce(`Retry failed: ${error.message}`);
          button.after(h('span', {class: 'error', role: 'alert'}, ` ${error.message}`));
        }
      }}, 'Retry');
    parked.replaceChildren(h('h2', {id: 'parked-title'}, 'Parked events'),
      h('div', {}, groups.length ? groups.map((group) => h('section', {'aria-label': `Parked events of ${group.title}`},
        h('h3', {}, group.title),
        table(`Parked events of ${group.title}`, ['position', 'stream', 'type', 'reason', 'attempts', 'parked at', ''],
          group.rows.map((x) => h('tr', {},
            h('td', {class: 'num'}, link(logHref(x.event.position), number(x.event.position))),
            h('td', {}, link(streamHref(x.event.stream_id), x.event.stream_id)),
            h('td', {}, h('code', {}, x.event.type)), h('td', {}, x.reason),
            h('td', {class: 'num'}, number(x.count)), h('td', {}, time(x.parked_at)),
            h('td', {}, x.retry_requested ? 'retry requested' : retryButton(group, x)))))))
        : h('p', {}, 'No parked events.')));
  }
  poll();
  const timer = setInterval(poll, 3000);
  return () => clearInterval(timer);
}

// ---- carts -----------------------------------------------------------------------------------

export async function carts(main, {params}) {
  const status = params.get('status') === 'checked_out' ? 'checked_out' : 'open';
  const after = params.get('after') || '';
  main.append(heading('Carts'),
    h('nav', {class: 'tabs', 'aria-label': 'Cart status'},
      link('/ui/carts?status=open', 'Open'), link('/ui/carts?status=checked_out', 'Checked out')));
  main.querySelectorAll('.tabs a').forEach((a) => {
    if (a.getAttribute('href').endsWith(status)) a.setAttribute('aria-current', 'page');
  });
  const page = await load(main, `/carts${query({status, after, limit: 50})}`);
  if (!page) return;
  main.append(page.carts.length ? table(`Carts (${status.replace('_', ' ')})`, ['cart', 'status', 'items', 'total', 'version'],
    page.carts.map((c) => h('tr', {},
      h('td', {}, link(cartHref(c.cart_id), h('code', {}, c.cart_id))), h('td', {}, stateBadge(c.status)),
      h('td', {class: 'num'}, number(c.item_count)), h('td', {class: 'num'}, money(c.total_cents)),
      h('td', {class: 'num'}, number(c.version)))))
    : h('p', {}, 'No carts with this status (the read model follows the log: a new cart shows up within moments).'));
  main.append(pager(after ? link(`/ui/carts${query({status})}`, '« First page') : null,
    page.next_after ? link(`/ui/carts${query({status, after: page.next_after})}`, 'Next page »') : null));
}

export async function cart(main, {id, params, navigate}) {
  main.append(heading('Cart ', h('code', {}, id)), h('p', {class: 'toolbar'}, link('/ui/carts', '« All carts'), ' · ',
    link(streamHref(`cart-${id}`), 'its stream')));
  let events = [];
  try {
    for (let from = 1; ;) {
      const page = await getJson(`/streams/${encodeURIComponent(`cart-${id}`)}${query({from, limit: 1000, direction: 'forward'})}`);
      events = events.concat(page.events);
      if (page.end_of_stream || !page.events.length || events.length >= 10000) break;
      from = page.next_from;
    }
  } catch (error) {
    main.append(errorBox(error));
    return;
  }
  if (!events.length) {
    main.append(h('p', {}, 'This cart has no events.'));
    return;
  }
  const last = events[events.length - 1].version;
  const first = events[0].version;
  let version = params.has('version') ? Number(params.get('version')) : last;
  if (!(version >= first && version <= last)) version = last;
  const slider = h('input', {type: 'range', id: 'version', min: first, max: last, step: 1, value: version,
                             'aria-valuetext': `version ${version} of ${last}`});
  slider.addEventListener('change', () => navigate(cartHref(id, slider.value), {replace: true, keepFocus: 'version'}));
  const state = h('section', {class: 'cart-state', 'aria-labelledby': 'state-title'});
  main.append(h('div', {class: 'time-travel'}, h('label', {for: 'version'}, `Version ${version} of ${last}`), slider),
    h('div', {class: 'split'}, state,
      h('section', {'aria-labelledby': 'history-title'}, h('h2', {id: 'history-title'}, 'History'),
        h('ol', {class: 'history'}, events.map((e) => h('li', {class: e.version === version ? 'current' : null},
          e.version === version
            ? h('strong', {'aria-current': 'step'}, `v${e.version} `, h('code', {}, e.type))
            : link(cartHref(id, e.version), `v${e.version} `, h('code', {}, e.type)),
          ' ', time(e.recorded_at), ' ', link(logHref(e.position), `@${e.position}`), eventBody(e)))))));
  try {
    const c = await getJson(`/carts/${encodeURIComponent(id)}?version=${version}`);
    state.append(h('h2', {id: 'state-title'}, `As it stood after version ${c.version}`),
      h('p', {}, stateBadge(c.status), ` ${number(c.items.length)} lines, total `, h('strong', {}, money(c.total_cents, c.currency))),
      c.items.length ? table('Items', ['item', 'quantity', 'unit price', 'line total'], c.items.map((i) => h('tr', {},
        h('td', {}, i.name), h('td', {class: 'num'}, number(i.quantity)),
        h('td', {class: 'num'}, money(i.unit_price_cents)), h('td', {class: 'num'}, money(i.line_total_cents)))))
        : h('p', {}, 'No items.'),
      h('details', {}, h('summary', {}, 'as JSON'), json(c)));
  } catch (error) {
    state.append(errorBox(error));
  }
}

export function notFound(main) {
  main.append(heading('Not found'), h('p', {}, 'The console has no such page. ', link('/', 'Go to the dashboard')));
}
