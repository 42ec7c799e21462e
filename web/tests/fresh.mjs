// A fresh clone's `cargo run --release -- serve` in a real browser: run by
// tests/fresh_clone.rs inside the network namespace where that rill runs
// on its defaults (http://127.0.0.1:8080/). Adds the MKV's .torrent through
// the page (an aria2c in the same namespace seeds it) and plays it: the
// page must use hls.js (embedded by build.rs on that fresh clone) and the
// video's currentTime must advance. Environment:
//   RILL_URL      http://host:port/ of rill
//   RILL_TORRENT  the .torrent of the seeded MKV (H.264 + AAC)
//   RILL_ID       its info hash
// Prints PASS lines and FRESH PASSED; exits non-zero on the first failure.
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run this through cargo test --test fresh_clone)`);
  return v;
};
const URL_ = env('RILL_URL');
const TORRENT = env('RILL_TORRENT');
const ID = env('RILL_ID');

function ok(cond, what, detail) {
  if (!cond) throw new Error(`FAILED: ${what}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  console.log(`PASS ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  timeout: 60000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
  page.setDefaultTimeout(30000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const fetched = [];
  page.on('response', (r) => fetched.push(`${r.status()} ${new URL(r.url()).pathname}`));

  await page.goto(URL_);
  const hlsJs = await page.evaluate(async () => {
    const r = await fetch('/ui/hls.min.js');
    return { status: r.status, bytes: (await r.text()).length };
  });
  ok(hlsJs.status === 200 && hlsJs.bytes > 100000, 'the fresh build serves an embedded hls.js', hlsJs);

  await page.setInputFiles('#upload', TORRENT);
  await page.waitForSelector(`#torrents .card[data-id="${ID}"]`);
  ok(true, 'the .torrent is added through the page');
  await page.evaluate((id) => { location.hash = `#/play/${id}/0`; }, ID);
  await page.waitForFunction(() => document.getElementById('video').currentTime > 2, null, { timeout: 180000 });
  const mode = await page.evaluate(() => window.rillPlayer.mode);
  const version = await page.evaluate(() => window.Hls && window.Hls.version);
  ok(mode === 'hls.js' && !!version, 'the MKV plays through hls.js', { mode, version });
  const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
  await page.waitForFunction((t) => document.getElementById('video').currentTime >= t + 3, t1, { timeout: 60000 });
  const t2 = await page.evaluate(() => document.getElementById('video').currentTime);
  ok(t2 >= t1 + 3, 'currentTime advances', { t1, t2 });
  const playlist = fetched.find((f) => f.startsWith('200 ') && f.includes(`/hls/${ID}/0/`) && f.endsWith('.m3u8'));
  const segment = fetched.find((f) => f.startsWith('200 ') && f.includes(`/hls/${ID}/0/`) && !f.endsWith('.m3u8'));
  ok(!!playlist && !!segment, 'the page fetched the HLS playlist and segments', fetched.filter((f) => f.includes('/hls/')).slice(0, 5));
  ok(pageErrors.length === 0, 'no page errors', pageErrors);
  console.log(`hls.js ${version}; played ${t1.toFixed(1)} s -> ${t2.toFixed(1)} s`);
  console.log('FRESH PASSED');
} finally {
  await browser.close();
}
