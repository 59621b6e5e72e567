// The dashboard in a real browser: Debian's chromium driven by playwright-core.
//   node dashboard/test/browser_test.mjs URL TOKEN JOB_ID MODEL SCREENSHOT_DIR
// URL: the dashboard (http://HOST:PORT/dashboard/). JOB_ID: a job that is
// training now. MODEL: a deployment under load. Checks that a wrong token is
// refused and the right one signs in; the job appears in the jobs table; its
// loss curve gains points while it trains; the deployment's latency chart
// fills; the workers and cluster pages show the worker and the local
// launcher. Saves screenshots into SCREENSHOT_DIR. Exit 0 when every check
// passed, 1 with the first that failed.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url, token, jobId, model, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: browser_test.mjs URL TOKEN JOB_ID MODEL SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
let failed = false;
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));

function check(condition, what) {
  if (!condition) throw new Error(what);
  console.log(`ok: ${what}`);
}

// How many points the chart `id` inside `scope` plots (0 when not there yet).
async function points(scope, id) {
  return page.evaluate(([scope, id]) => {
    const box = document.querySelector(`${scope} [data-chart="${id}"]`);
    return box ? Number(box.dataset.points) : 0;
  }, [scope, id]);
}

async function waitFor(what, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}`);
    await page.waitForTimeout(250);
  }
}

try {
  await page.goto(url);
  await page.waitForSelector('#login', { timeout: 15000 });
  await page.fill('#token', 'not-the-token');
  await page.click('#login button');
  await page.waitForFunction(() => document.getElementById('login-error')?.textContent.includes('wrong token'), null, { timeout: 10000 });
  check(true, 'a wrong token is refused on the login page');
  await page.fill('#token', token);
  await page.click('#login button');
  await page.waitForSelector(`tr[data-job="${jobId}"]`, { timeout: 20000 });
  check(true, `job ${jobId} appears in the jobs table`);
  const state = await page.textContent(`tr[data-job="${jobId}"] .state`);
  console.log(`job ${jobId} is ${state}`);
  await page.screenshot({ path: join(shots, 'jobs.png'), fullPage: true });

  await page.click(`tr[data-job="${jobId}"]`);
  const first = await waitFor('the first loss points', () => points('#curves', 'loss'), 60000);
  const more = await waitFor(`the loss curve to gain points beyond ${first}`, async () => {
    const n = await points('#curves', 'loss');
    return n > first ? n : 0;
  }, 90000);
  check(more > first, `the loss curve gained points while the job trained (${first} -> ${more})`);
  await waitFor('the log tail', () => page.evaluate(() => document.getElementById('log').textContent.length > 0), 15000);
  check(true, 'the job page shows its log');
  await page.screenshot({ path: join(shots, 'job.png'), fullPage: true });

  await page.goto(url + '#/serving');
  const scope = `[data-model="${model}"]`;
  const latency = await waitFor(`${model}'s latency chart to fill`, async () => {
    const n = await points(scope, 'latency');
    return n >= 3 ? n : 0;
  }, 30000);
  check(latency >= 3, `the deployment's latency chart fills (${latency} points)`);
  check(await points(scope, 'throughput') > 0, "the deployment's throughput chart has points");
  await page.screenshot({ path: join(shots, 'serving.png'), fullPage: true });

  await page.goto(url + '#/workers');
  await page.waitForFunction((m) => [...document.querySelectorAll('#workers td')].some((td) => td.textContent === m), model, { timeout: 15000 });
  check(true, `the workers page lists a worker of ${model}`);
  await page.goto(url + '#/cluster');
  await page.waitForFunction(() => [...document.querySelectorAll('#launchers td')].some((td) => td.textContent === 'local'), null, { timeout: 15000 });
  check(true, 'the cluster page lists the local launcher');
  await page.screenshot({ path: join(shots, 'cluster.png'), fullPage: true });
  check(consoleErrors.length === 0, `no script errors in the page${consoleErrors.length ? ': ' + consoleErrors.join('; ') : ''}`);
} catch (e) {
  failed = true;
  console.log(`FAIL: ${e.message}`);
  await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
