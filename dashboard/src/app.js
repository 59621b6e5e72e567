// The Chorus dashboard: a single page over the coordinator's JSON API
// (coordinator/dashboard_api.h). Pages, by URL hash:
//   #/jobs        every job: state, priority, launcher, ranks, attempts, progress, ETA
//   #/jobs/ID     one job: attempts with reasons, live training curves, evaluations, log tail
//   #/serving     deployments: workers, bounds, queue, throughput, latency percentiles, errors
//   #/workers     inference workers: state, load, launcher and where they run
//   #/cluster     launchers' slots in use, Slurm nodes and partitions
// The token is asked once and kept in this tab's session storage. Each page
// polls the API every POLL_MS while it is shown. Every chart's element
// carries data-points (how many points it plots), for people and for tests.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const POLL_MS = 1500;
const TOKEN_KEY = 'chorus-token';
const main = document.getElementById('main');
const statusLine = document.getElementById('status');

let timers = [];
let charts = [];
let generation = 0; // bumps on every page change; late answers of an old page are dropped

// ---------- the API ----------

class Unauthorized extends Error {}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY) || '';
  const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401) throw new Unauthorized((body && body.error) || 'unauthorized');
  if (!res.ok) throw new Error((body && body.error) || `HTTP ${res.status}`);
  return body;
}

// ---------- small helpers ----------

const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function el(tag, attrs = {}, html = '') {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.innerHTML = html;
  return e;
}

function when(unix) {
  if (!num(unix)) return '';
  return new Date(num(unix) * 1000).toLocaleString();
}

function duration(seconds) {
  seconds = Math.max(0, Math.round(num(seconds)));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

function bar(fraction) {
  const pct = Math.max(0, Math.min(100, fraction * 100));
  return `<span class="bar"><span style="width:${pct.toFixed(1)}%"></span></span>`;
}

function table(columns, rows, rowAttrs) {
  const head = '<tr>' + columns.map((c) => `<th>${esc(c)}</th>`).join('') + '</tr>';
  const body = rows.map((r, i) => `<tr ${rowAttrs ? rowAttrs(i) : ''}>` + r.map((cell) => `<td${cell && cell.cls ? ` class="${cell.cls}"` : ''}>${cell && cell.html !== undefined ? cell.html : esc(cell)}</td>`).join('') + '</tr>').join('');
  return `<table>${head}${body}</table>`;
}

const stateCell = (state) => ({ html: `<span class="state ${esc(state)}">${esc(state)}</span>` });

function every(ms, fn) {
  const mine = generation;
  const run = async () => {
    if (mine !== generation) return;
    try {
      await fn();
      statusLine.textContent = 'updated ' + new Date().toLocaleTimeString();
      statusLine.classList.remove('error');
    } catch (e) {
      if (e instanceof Unauthorized) return showLogin(e.message);
      statusLine.textContent = e.message;
      statusLine.classList.add('error');
    }
    if (mine === generation) timers.push(setTimeout(run, ms));
  };
  run();
}

// A chart of series over x (steps or unix seconds). update(x, ...ys) replaces its data.
function chart(parent, title, labels, { time = false, id = '', format = null } = {}) {
  const box = el('div', { class: 'chart', 'data-chart': id, 'data-points': '0' }, `<h3>${esc(title)}</h3>`);
  parent.appendChild(box);
  const colors = ['#2f6fdf', '#e67e22', '#1e8449', '#c0392b', '#8e44ad'];
  const opts = {
    width: Math.max(300, box.clientWidth - 16),
    height: 210,
    scales: { x: { time } },
    series: [{ label: time ? 'time' : 'step' }, ...labels.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 1.5, spanGaps: true, points: { size: 4 } }))],
    axes: [{}, format ? { size: 70, values: (u, vals) => vals.map(format) } : { size: 60 }],
  };
  const plot = new uPlot(opts, [[], ...labels.map(() => [])], box);
  charts.push(plot);
  return {
    update(x, ...ys) {
      plot.setData([x, ...ys]);
      let points = 0;
      for (const y of ys) points += y.filter((v) => v !== null && v !== undefined).length;
      box.dataset.points = String(points);
    },
  };
}

window.addEventListener('resize', () => {
  for (const c of charts) {
    const box = c.root.parentElement;
    if (box) c.setSize({ width: Math.max(300, box.clientWidth - 16), height: 210 });
  }
});

// ---------- login ----------

function showLogin(message = '') {
  leavePage();
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  statusLine.textContent = '';
  main.innerHTML = `<form class="login" id="login">
      <h1>Sign in to Chorus</h1>
      <p class="muted">Paste the coordinator's token: <code>STATE_DIR/token</code> (runs/coordinator/token by default) or <code>$CHORUS_TOKEN</code>.
      It stays in this browser tab only.</p>
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="off" autofocus>
      <button type="submit">Sign in</button>
      <p class="error" id="login-error">${esc(message && sessionStorage.getItem(TOKEN_KEY) ? message : '')}</p>
    </form>`;
  document.getElementById('login').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
    try {
      await api('/api/v1/jobs?limit=1');
      if (!location.hash || location.hash === '#/login') location.hash = '#/jobs';
      route();
    } catch (e) {
      document.getElementById('login-error').textContent = e.message;
    }
  });
}

document.getElementById('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
});

// ---------- pages ----------

function jobsPage() {
  main.innerHTML = '<h1>Jobs</h1><div id="jobs" class="muted">loading…</div>';
  every(POLL_MS, async () => {
    const { jobs = [] } = await api('/api/v1/jobs?limit=200');
    const rows = jobs.map((j) => {
      const p = j.progress || {};
      const total = num(p.total_steps);
      const attempts = j.attempt_history || [];
      return [
        j.id, j.name, stateCell(j.state), j.priority, j.launcher, j.ranks,
        `${j.attempts}${num(j.restarts) ? ` (${j.restarts} restarts)` : ''}`,
        { html: total ? `${bar(num(p.step) / total)}${num(p.step)}/${total}` : '' },
        j.state === 'RUNNING' && num(p.eta_seconds) ? duration(p.eta_seconds) : '',
        when(j.submitted_at),
        { html: esc(j.reason || (attempts.length ? attempts[attempts.length - 1].reason : '')), cls: 'reason' },
      ];
    });
    const box = document.getElementById('jobs');
    if (!box) return;
    box.classList.remove('muted');
    box.innerHTML = rows.length
      ? table(['ID', 'Name', 'State', 'Priority', 'Launcher', 'Ranks', 'Attempts', 'Progress', 'ETA', 'Submitted', 'Reason'], rows, (i) => `class="link" data-job="${esc(jobs[i].id)}"`)
      : 'No jobs yet: <code>chorus submit jobs/….yaml</code>';
    box.querySelectorAll('tr[data-job]').forEach((tr) => tr.addEventListener('click', () => { location.hash = `#/jobs/${tr.dataset.job}`; }));
  });
}

function jobPage(id) {
  main.innerHTML = `<h1>Job ${esc(id)} <span id="job-name" class="muted"></span></h1>
    <div class="card"><div class="facts" id="job-facts"></div><div id="attempts"></div></div>
    <h2>Training curves</h2><div class="charts" id="curves"></div>
    <h2>Evaluations</h2><div id="evaluations" class="muted">none yet</div>
    <h2>Log <span class="muted">(last lines, live)</span></h2><pre class="log" id="log"></pre>`;
  const curves = document.getElementById('curves');
  const loss = chart(curves, 'Loss (training)', ['loss'], { id: 'loss' });
  const accuracy = chart(curves, 'Accuracy', ['training', 'validation'], { id: 'accuracy' });
  const lr = chart(curves, 'Learning rate', ['learning rate'], { id: 'lr', format: (v) => (v === null ? '' : v.toExponential(1)) });
  const speed = chart(curves, 'Samples per second', ['samples/s'], { id: 'speed' });
  const progress = [];
  let evaluations = [];
  let lastStep = -1;
  let logOffset = null;
  let logText = '';
  every(POLL_MS, async () => {
    const [job, history] = await Promise.all([api(`/api/v1/jobs/${id}`), api(`/api/v1/jobs/${id}/history?after_step=${lastStep}`)]);
    document.getElementById('job-name').textContent = job.name;
    const p = job.progress || {};
    const total = num(p.total_steps);
    document.getElementById('job-facts').innerHTML = [
      ['State', `<span class="state ${esc(job.state)}">${esc(job.state)}</span>`],
      ['Priority', esc(job.priority)], ['Launcher', esc(job.launcher)], ['Ranks', `${esc(job.ranks)} (min ${esc(job.min_ranks)})`],
      ['Progress', total ? `${bar(num(p.step) / total)}step ${num(p.step)}/${total}, epoch ${num(p.epoch)}` : '—'],
      ['ETA', job.state === 'RUNNING' && num(p.eta_seconds) ? duration(p.eta_seconds) : '—'],
      ['Submitted', esc(when(job.submitted_at))], ['Finished', esc(when(job.finished_at)) || '—'],
      ['Model', esc(job.export_dir || '—')], ['Reason', esc(job.reason || '—')],
    ].map(([k, v]) => `<span><b>${k}</b> ${v}</span>`).join('');
    const attempts = job.attempt_history || [];
    document.getElementById('attempts').innerHTML = attempts.length
      ? table(['Attempt', 'Ranks', 'Launcher', 'Handle', 'State', 'Started', 'Finished', 'Exit', 'Reason'],
        attempts.map((a) => [a.number, a.ranks, a.launcher, a.handle, stateCell(a.state), when(a.started_at), when(a.finished_at), num(a.finished_at) ? a.exit_code : '', { html: esc(a.reason), cls: 'reason' }]))
      : '<span class="muted">not launched yet</span>';
    for (const q of history.progress || []) {
      if (num(q.step) > lastStep) { progress.push(q); lastStep = num(q.step); }
    }
    evaluations = history.evaluations || [];
    const steps = progress.map((q) => num(q.step));
    loss.update(steps, progress.map((q) => num(q.loss)));
    lr.update(steps, progress.map((q) => num(q.learning_rate)));
    speed.update(steps, progress.map((q) => num(q.samples_per_second)));
    // Validation scores sit on the training steps' axis, at their own steps.
    const validation = evaluations.filter((e) => e.split === 'validation');
    const allSteps = [...new Set([...steps, ...validation.map((e) => num(e.step))])].sort((a, b) => a - b);
    const train = new Map(progress.map((q) => [num(q.step), num(q.accuracy)]));
    const val = new Map(validation.map((e) => [num(e.step), num(e.score || e.accuracy)]));
    accuracy.update(allSteps, allSteps.map((s) => (train.has(s) ? train.get(s) : null)), allSteps.map((s) => (val.has(s) ? val.get(s) : null)));
    const evalBox = document.getElementById('evaluations');
    if (evaluations.length) {
      // The test evaluations, then the latest validations, newest first.
      const shown = [...evaluations.filter((e) => e.split !== 'validation'), ...validation.slice(-10)].reverse();
      evalBox.classList.remove('muted');
      evalBox.innerHTML = `<p class="muted">${evaluations.length} evaluations; the test split's and the last ${Math.min(10, validation.length)} on validation, newest first.</p>` +
        table(['Step', 'Split', 'Metric', 'Score', 'Accuracy', 'Macro F1', 'Examples', 'When'],
        shown.map((e) => [e.step, e.split, e.metric || 'accuracy', num(e.score || e.accuracy).toFixed(4), num(e.accuracy).toFixed(4), num(e.macro_f1).toFixed(4), e.count, when(e.time)]));
    }
    const log = await api(`/api/v1/jobs/${id}/log?` + (logOffset === null ? 'tail=65536' : `offset=${logOffset}`));
    if (log.data) {
      logText = (logText + log.data).slice(-200000);
      const pre = document.getElementById('log');
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
      pre.textContent = logText;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    logOffset = num(log.next_offset);
  });
}

function servingPage() {
  main.innerHTML = '<h1>Deployments</h1><div id="deployments" class="muted">loading…</div>';
  const cards = new Map(); // model -> {facts, errors, charts, samples}
  let since = 0;
  every(POLL_MS, async () => {
    const [serving, history] = await Promise.all([api('/api/v1/serving'), api(`/api/v1/serving/history?since=${since}`)]);
    since = Math.max(since, ...Object.values(history.models || {}).flatMap((rows) => rows.map((r) => r.time)), 0);
    const box = document.getElementById('deployments');
    if (!box) return;
    const models = serving.models || [];
    if (!models.length) { box.innerHTML = 'Nothing is deployed: <code>chorus deploy models/NAME/VERSION</code>'; box.classList.add('muted'); return; }
    box.classList.remove('muted');
    if (box.dataset.filled !== '1') { box.innerHTML = ''; box.dataset.filled = '1'; }
    for (const m of models) {
      const d = m.deployment || {};
      const name = d.name;
      if (!cards.has(name)) {
        const card = el('div', { class: 'card', 'data-model': name }, `<h2>${esc(name)}</h2><div class="facts"></div><div class="charts"></div><div class="errors"></div>`);
        box.appendChild(card);
        const grid = card.querySelector('.charts');
        cards.set(name, {
          card,
          throughput: chart(grid, 'Throughput (requests/s)', ['answered', 'errors'], { time: true, id: 'throughput' }),
          latency: chart(grid, 'Latency (ms)', ['p50', 'p90', 'p99'], { time: true, id: 'latency' }),
          load: chart(grid, 'Queue and workers', ['queued', 'ongoing', 'workers'], { time: true, id: 'load' }),
          samples: [],
        });
      }
      const c = cards.get(name);
      for (const s of (history.models || {})[name] || []) c.samples.push(s);
      if (c.samples.length > 900) c.samples.splice(0, c.samples.length - 900);
      const p = d.policy || {};
      c.card.querySelector('.facts').innerHTML = [
        ['Workers', `${esc(m.workers)} (desired ${esc(m.desired)}, min ${esc(p.min_workers)}, max ${esc(p.max_workers)})`],
        ['Queued', esc(m.queued)], ['Ongoing', esc(m.ongoing)], ['Answered', `${esc(m.answered_ok)} ok, ${esc(m.answered_error)} errors`],
        ['Model', esc(d.model_dir)], ['Launcher', esc(d.launcher)], ['Batch', `${esc(d.max_batch)} / ${esc(d.max_delay_us)} µs`],
      ].map(([k, v]) => `<span><b>${k}</b> ${v}</span>`).join('');
      const t = c.samples.map((s) => s.time);
      c.throughput.update(t, c.samples.map((s) => s.requests_per_s), c.samples.map((s) => s.errors_per_s));
      c.latency.update(t, c.samples.map((s) => s.p50_ms), c.samples.map((s) => s.p90_ms), c.samples.map((s) => s.p99_ms));
      c.load.update(t, c.samples.map((s) => s.queued), c.samples.map((s) => s.ongoing), c.samples.map((s) => s.workers));
      const errors = {};
      for (const s of c.samples) for (const [code, n] of Object.entries(s.errors || {})) errors[code] = (errors[code] || 0) + n;
      c.card.querySelector('.errors').innerHTML = Object.keys(errors).length
        ? '<h3>Errors by kind (charted window)</h3>' + table(['Code', 'Requests'], Object.entries(errors))
        : '<p class="muted">No errors in the charted window.</p>';
    }
  });
}

function workersPage() {
  main.innerHTML = '<h1>Workers</h1><div id="workers" class="muted">loading…</div>';
  every(POLL_MS, async () => {
    const serving = await api('/api/v1/serving');
    const workers = serving.workers || [];
    const box = document.getElementById('workers');
    if (!box) return;
    box.classList.toggle('muted', !workers.length);
    box.innerHTML = workers.length
      ? table(['Worker', 'Model', 'State', 'Load', 'Launcher', 'Runs as', 'PID', 'Up'],
        workers.map((w) => [w.id, w.model, stateCell(w.state), { html: `${bar(num(w.capacity) ? num(w.ongoing) / num(w.capacity) : 0)}${num(w.ongoing)}/${num(w.capacity)}` },
          w.launcher, w.launcher === 'slurm' ? `Slurm job ${w.handle}` : (w.handle ? `process group ${w.handle}` : ''), w.pid || '', num(w.started_at) ? duration(Date.now() / 1000 - num(w.started_at)) : '']))
      : 'No inference workers.';
  });
}

function clusterPage() {
  main.innerHTML = '<h1>Cluster</h1><h2>Launchers</h2><div id="launchers"></div><h2>Slurm nodes</h2><div id="nodes" class="muted"></div>';
  every(POLL_MS * 2, async () => {
    const cluster = await api('/api/v1/cluster');
    const launchers = document.getElementById('launchers');
    if (!launchers) return;
    launchers.innerHTML = table(['Launcher', 'Slots in use', 'Slots'],
      (cluster.launchers || []).map((l) => [l.name, { html: `${bar(num(l.slots) ? num(l.used) / num(l.slots) : 0)}${num(l.used)}` }, l.slots]));
    const nodes = cluster.slurm_nodes || [];
    const box = document.getElementById('nodes');
    box.classList.toggle('muted', !nodes.length);
    box.innerHTML = nodes.length
      ? table(['Node', 'Partition', 'State', 'CPUs in use', 'CPUs', 'GRES'], nodes.map((n) => [n.name, n.partition, n.state, { html: `${bar(num(n.cpus) ? num(n.cpus_allocated) / num(n.cpus) : 0)}${num(n.cpus_allocated)}` }, n.cpus, n.gres]))
      : esc(cluster.slurm_error || 'The Slurm launcher is not enabled.');
  });
}

// ---------- routing ----------

function leavePage() {
  generation += 1;
  for (const t of timers) clearTimeout(t);
  timers = [];
  for (const c of charts) c.destroy();
  charts = [];
}

function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
  leavePage();
  document.getElementById('nav').hidden = false;
  document.getElementById('signout').hidden = false;
  const [, page = 'jobs', arg] = (location.hash || '#/jobs').split('/');
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === page));
  if (page === 'jobs' && arg) return jobPage(encodeURIComponent(arg));
  ({ jobs: jobsPage, serving: servingPage, workers: workersPage, cluster: clusterPage }[page] || jobsPage)();
}

window.addEventListener('hashchange', route);
route();
