// The web UI in a real browser: playwright-core driving Debian's chromium
// (headless) against a running `rill serve`. Run by tests/web_ui.rs
// (`browser_ui`), which starts rill, an opentracker and an aria2c seeding
// an H.264/AAC MP4, and passes:
//   RILL_URL            http://host:port/ of rill
//   RILL_TORRENT        the .torrent of the seeded clip.mp4 (60 s)
//   RILL_ID             its info hash
//   RILL_OTHER_TORRENT  a .torrent nobody seeds (added, then deleted)
//   RILL_TRACKS_TORRENT an MKV with two audio tracks and a subtitle track
//   RILL_TRACKS_ID      its info hash
//   RILL_HTML_URL       a URL answering HTML (not a torrent)
//   RILL_SHOTS          where the screenshots go
// Prints PASS/PENDING lines; exits non-zero on the first failure.
import { chromium } from 'playwright-core';
import path from 'node:path';
import { readFileSync } from 'node:fs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run this through cargo test --test web_ui browser_ui)`);
  return v;
};
const URL_ = env('RILL_URL');
const TORRENT = env('RILL_TORRENT');
const ID = env('RILL_ID');
const OTHER = env('RILL_OTHER_TORRENT');
const HTML_URL = env('RILL_HTML_URL');
const TRACKS = env('RILL_TRACKS_TORRENT');
const TRACKS_ID = env('RILL_TRACKS_ID');
const SHOTS = env('RILL_SHOTS');

const pending = [];
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
const pageErrors = [];

async function newPage(viewport, mobile) {
  const ctx = await browser.newContext({ viewport, isMobile: !!mobile, hasTouch: !!mobile, deviceScaleFactor: mobile ? 2 : 1 });
  const page = await ctx.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  return page;
}

async function shot(page, name) {
  await page.waitForTimeout(300); // let the last poll render
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
  console.log(`screenshot ${name}.png`);
}

const video = (page, expr) => page.evaluate(`(() => { const v = document.getElementById('video'); return ${expr}; })()`);

async function expectError(page, what, act, needle) {
  await page.evaluate(() => { const m = document.getElementById('message'); m.hidden = true; m.textContent = ''; });
  await act();
  await page.waitForSelector('#message.error:not([hidden])', { timeout: 60000 });
  const text = await page.textContent('#message');
  ok(text.toLowerCase().includes(needle.toLowerCase()), `${what} shows a readable message`, text);
  // The UI keeps working: the add form and the list still answer.
  ok(!(await page.isDisabled('#add-button')), `${what}: the add button is usable again`);
}

async function cards(page) {
  return page.$$eval('#torrents .card', (cs) => cs.map((c) => c.dataset.id));
}

try {
  // ---------------- desktop ----------------
  const page = await newPage({ width: 1366, height: 768 });
  await page.goto(URL_);
  await page.waitForSelector('#add-uri');
  ok((await page.title()) === 'rill', 'the UI loads at /');
  await page.waitForFunction(() => !document.getElementById('empty').hidden);

  // Bad input: a readable message each time, and the page keeps working.
  await expectError(page, 'a bad magnet', async () => {
    await page.fill('#add-uri', 'magnet:?xt=urn:btih:not-a-hash');
    await page.click('#add-button');
  }, 'could not add');
  await expectError(page, 'a dead URL', async () => {
    await page.fill('#add-uri', 'http://127.0.0.1:9/gone.torrent');
    await page.click('#add-button');
  }, 'fetching the URL failed');
  await expectError(page, 'a URL that is not a torrent', async () => {
    await page.fill('#add-uri', HTML_URL);
    await page.click('#add-button');
  }, 'did not return a torrent');
  await expectError(page, 'a non-torrent upload', async () => {
    await page.setInputFiles('#upload', { name: 'notes.torrent', mimeType: 'application/x-bittorrent', buffer: Buffer.from('hello, I am not a torrent') });
  }, 'not a valid .torrent');
  await expectError(page, 'text that is no link', async () => {
    await page.fill('#add-uri', 'hello there');
    await page.press('#add-uri', 'Enter');
  }, 'not a magnet link');
  ok((await cards(page)).length === 0, 'nothing was added by bad input');

  // Add by upload; live progress.
  await page.setInputFiles('#upload', TORRENT);
  await page.waitForSelector(`#torrents .card[data-id="${ID}"]`);
  ok((await page.textContent('#message')).includes('Added clip.mp4'), 'upload adds the torrent and says so');
  // The second one is dropped on the page, as from a file manager.
  const otherBytes = [...readFileSync(OTHER)];
  await page.evaluate((bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'other.torrent', { type: 'application/x-bittorrent' }));
    document.body.dispatchEvent(new DragEvent('dragenter', { bubbles: true, dataTransfer: dt }));
    document.body.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, otherBytes);
  await page.waitForFunction(() => document.querySelectorAll('#torrents .card').length === 2);
  ok(await page.isHidden('#drop'), 'a dropped .torrent is added');
  await page.waitForFunction((id) => {
    const bar = document.querySelector(`#torrents .card[data-id="${id}"] .bar`);
    return bar && Number(bar.getAttribute('aria-valuenow')) > 0;
  }, ID, { timeout: 90000 });
  ok(true, 'the list shows live progress');
  const cardText = await page.textContent(`#torrents .card[data-id="${ID}"]`);
  ok(/peer/.test(cardText) && /↑/.test(cardText), 'a card shows speed and peers', cardText);

  // D-pad: arrows move focus between controls.
  await page.focus('#add-button');
  await page.keyboard.press('ArrowDown');
  const down = await page.evaluate(() => document.activeElement && (document.activeElement.dataset.key || document.activeElement.id));
  ok(down && down !== 'add-button', 'ArrowDown moves focus to the list', down);
  await page.keyboard.press('ArrowUp');
  ok(await page.evaluate(() => document.activeElement.closest('.top') !== null), 'ArrowUp goes back to the top bar');

  // A file nobody seeds: the buffering indicator says why; without HLS on
  // the server, an .mkv also gets a clear message.
  const otherId = (await cards(page)).find((x) => x !== ID);
  await page.click(`#torrents .card[data-id="${otherId}"] button.primary`);
  await page.waitForSelector('#files .file.playable');
  await page.click('#files .file.playable button.primary');
  await page.waitForFunction(() => /Waiting for peers/.test(document.getElementById('buffering-text').textContent) &&
    !document.getElementById('buffering').hidden, null, { timeout: 30000 });
  ok(true, 'the buffering indicator says it waits for peers');
  // Whether this server has the HLS routes at all (a probe of a file
  // nobody seeds would only answer after its timeout).
  const noHls = await page.evaluate(async () => {
    const r = await fetch('/hls/' + '0'.repeat(40) + '/0/index.m3u8');
    return r.status === 404 && (await r.text()).includes('no such path');
  });
  if (noHls) {
    await page.waitForSelector('#player-error:not([hidden])');
    const msg = await page.textContent('#player-error');
    ok(/could not prepare it/.test(msg), 'an .mkv without HLS on the server gets a clear message', msg);
  }
  await page.keyboard.press('Escape');
  await page.waitForSelector('#files-view:not([hidden])');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#home:not([hidden])');

  // Delete (with data) through the dialog.
  await page.click(`#torrents .card[data-id="${otherId}"] button:text("Delete")`);
  await page.waitForSelector('#delete-dialog[open]');
  await page.click('#delete-data');
  await page.waitForFunction((id) => !document.querySelector(`#torrents .card[data-id="${id}"]`), otherId);
  ok((await page.textContent('#message')).includes('and its files'), 'delete with files removes the torrent');

  // Files, then play.
  await page.click(`#torrents .card[data-id="${ID}"] button.primary`);
  await page.waitForSelector('#files .file.playable');
  ok((await page.textContent('#files')).includes('clip.mp4'), 'the file browser lists the file');
  // Where the peers came from (the seeder came from the tracker; once both
  // are complete the connection is dropped, so "no peers" is right too).
  const sources = await page.textContent('#files-peers');
  ok(/^(Peers: \d+ from (manual|tracker|dht|pex|lsd|incoming)|No peers connected)/.test(sources),
    'the file browser shows peer sources', sources);
  await shot(page, 'desktop-files');
  await page.click('#files .file.playable button.primary');
  await page.waitForFunction(() => window.rillPlayer.mode !== null, null, { timeout: 30000 });
  const mode = await page.evaluate(() => window.rillPlayer.mode);
  ok(mode === 'direct', 'an MP4 plays directly from /stream', mode);
  await page.waitForFunction(() => document.getElementById('video').currentTime > 5, null, { timeout: 90000 });
  ok(true, 'currentTime passes 5 s');
  await shot(page, 'desktop-player');

  // Keyboard: space pauses and plays, right arrow seeks, m mutes.
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press(' ');
  await page.waitForFunction(() => document.getElementById('video').paused);
  ok(true, 'space pauses');
  const before = await video(page, 'v.currentTime');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((b) => document.getElementById('video').currentTime >= b + 9, before);
  ok(true, 'ArrowRight seeks 10 s ahead');
  await page.keyboard.press('m');
  ok(await video(page, 'v.muted'), 'm mutes');
  await page.keyboard.press(' ');
  await page.waitForFunction(() => !document.getElementById('video').paused);
  ok(true, 'space plays again');

  // Seek to 50% by clicking the middle of the timeline.
  const dur = await video(page, 'v.duration');
  ok(dur > 55 && dur < 65, 'the full timeline is known', dur);
  const box = await (await page.$('#seek')).boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction((d) => {
    const v = document.getElementById('video');
    return Math.abs(v.currentTime - d / 2) < 3 && !v.seeking;
  }, dur, { timeout: 60000 });
  const mid = await video(page, 'v.currentTime');
  await page.waitForFunction((m) => document.getElementById('video').currentTime > m + 3, mid, { timeout: 60000 });
  ok(true, 'after seeking to 50% playback continues');

  // The position reaches the server; reloading offers to resume.
  await page.waitForFunction(async (id) => {
    const r = await fetch(`/api/torrents/${id}/files/0/position`);
    const p = await r.json();
    return p.seconds > 29;
  }, ID, { timeout: 20000, polling: 500 });
  const saved = await page.evaluate(async (id) => (await (await fetch(`/api/torrents/${id}/files/0/position`)).json()).seconds, ID);
  ok(saved > 29, 'the position is stored on the server', saved);
  await page.reload();
  await page.waitForSelector('#resume:not([hidden])');
  const resumeText = await page.textContent('#resume');
  ok(resumeText.includes('Resume from'), 'after a reload the player offers to resume', resumeText);
  await shot(page, 'desktop-resume');
  await page.click('#resume-yes');
  await page.waitForFunction((s) => document.getElementById('video').currentTime > s, saved - 2, { timeout: 60000 });
  ok(true, 'resume continues where playback stopped');

  // hls.js settings the page would use (and uses, with a live instance).
  const cfg = await page.evaluate(() => window.rillPlayer.hlsConfig);
  ok(cfg.backBufferLength <= 30, 'hls.js back buffer ≤ 30 s', cfg);
  ok(cfg.backBufferLength <= cfg.maxBufferLength, 'hls.js back buffer ≤ forward buffer', cfg);
  await page.evaluate(() => localStorage.setItem('rill.forwardBuffer', '30'));
  const cfg30 = await page.evaluate(() => window.rillPlayer.hlsConfig);
  ok(cfg30.maxBufferLength === 30 && cfg30.backBufferLength <= 30, 'the forward buffer follows the setting', cfg30);

  // HLS: only where the server has it (the hls endpoints come with their own branch).
  const media = await page.evaluate(async (id) => {
    const r = await fetch(`/api/torrents/${id}/files/0/media`);
    return { status: r.status, body: await r.text() };
  }, ID);
  if (media.status !== 200) {
    pending.push(`HLS playback through hls.js (live config, play, seek): GET /media answered ${media.status} ${media.body.slice(0, 120)}`);
  } else {
    await page.evaluate(() => localStorage.setItem('rill.forceHls', '1'));
    await page.reload();
    await page.waitForSelector('#resume:not([hidden])');
    await page.click('#resume-no');
    await page.waitForFunction(() => window.rillPlayer.mode !== null);
    const hmode = await page.evaluate(() => window.rillPlayer.mode);
    ok(hmode === 'hls.js' || hmode === 'native-hls', 'forced HLS plays through HLS', hmode);
    await page.waitForFunction(() => document.getElementById('video').currentTime > 5, null, { timeout: 120000 });
    ok(true, 'HLS: currentTime passes 5 s');
    const live = await page.evaluate(() => window.rillPlayer.hlsConfig);
    if (hmode === 'hls.js') {
      ok(live.live && live.backBufferLength <= 30 && live.backBufferLength <= live.maxBufferLength, 'live hls.js config: back buffer ≤ 30 s and ≤ forward', live);
    }
    const hdur = await video(page, 'v.duration');
    await page.evaluate((d) => { document.getElementById('video').currentTime = d / 2; }, hdur);
    await page.waitForFunction((d) => document.getElementById('video').currentTime > d / 2 + 3, hdur, { timeout: 120000 });
    ok(true, 'HLS: after seeking to 50% playback continues');
    await page.evaluate(() => localStorage.removeItem('rill.forceHls'));
  }

  // Back (Escape, a TV remote's back) to the files, back again home: the
  // "continue watching" row.
  await page.keyboard.press('Escape');
  await page.waitForSelector('#files-view:not([hidden])');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#continue:not([hidden]) .tile');
  ok((await page.textContent('#continue')).includes('clip.mp4'), 'continue watching lists the clip');
  await shot(page, 'desktop-home');

  // Audio and subtitle menus from /media; choosing a track plays it
  // through HLS (`?audio=A&subtitle=S`).
  if (noHls) {
    pending.push('audio/subtitle menus and track switching: need /media and /hls on the server');
  } else {
    await page.setInputFiles('#upload', TRACKS);
    await page.waitForSelector(`#torrents .card[data-id="${TRACKS_ID}"]`);
    await page.evaluate((id) => { location.hash = `#/play/${id}/0`; }, TRACKS_ID);
    await page.waitForFunction(() => document.getElementById('video').currentTime > 2, null, { timeout: 120000 });
    const tmode = await page.evaluate(() => window.rillPlayer.mode);
    ok(tmode === 'hls.js' || tmode === 'native-hls', 'an MKV plays through HLS', tmode);
    const audio = await page.$$eval('#audio-select option', (os) => os.map((o) => o.textContent));
    const subs = await page.$$eval('#subtitle-select option', (os) => os.map((o) => o.textContent));
    ok(audio.length === 2 && /eng/.test(audio[0]) && /fra/.test(audio[1]), 'the audio menu lists both tracks', audio);
    ok(subs.length === 2 && subs[0] === 'Off' && /eng/.test(subs[1]), 'the subtitle menu lists Off and the track', subs);
    await page.selectOption('#audio-select', '1');
    await page.waitForFunction(() => /audio=1/.test(window.rillPlayer.src) && document.getElementById('video').currentTime > 1 &&
      !document.getElementById('video').paused, null, { timeout: 120000 });
    ok(true, 'choosing the second audio track plays it');
    await page.selectOption('#subtitle-select', '0');
    await page.waitForFunction(() => /subtitle=0/.test(window.rillPlayer.src) && document.getElementById('video').currentTime > 1, null, { timeout: 120000 });
    ok(true, 'choosing a subtitle track plays with it');
    const shown = await page.waitForFunction(() => [...document.getElementById('video').textTracks].some((t) => t.mode === 'showing'),
      null, { timeout: 30000 }).then(() => true, () => false);
    ok(shown, 'the chosen subtitles are shown');
    await page.evaluate(() => { location.hash = '#/'; });
  }

  // ---------------- TV-sized (1920x1080) ----------------
  const tv = await newPage({ width: 1920, height: 1080 });
  await tv.goto(URL_);
  await tv.waitForSelector(`#torrents .card[data-id="${ID}"]`);
  await tv.focus('#add-uri');
  await tv.keyboard.press('ArrowDown');
  await shot(tv, 'tv-home');
  const tvFont = await tv.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  ok(tvFont >= 24, 'TV-sized screens get larger text', tvFont);

  // ---------------- phone ----------------
  const phone = await newPage({ width: 390, height: 844 }, true);
  await phone.goto(URL_);
  await phone.waitForSelector(`#torrents .card[data-id="${ID}"]`);
  await phone.waitForSelector('#continue:not([hidden]) .tile');
  await shot(phone, 'phone-home');
  await phone.click(`#torrents .card[data-id="${ID}"] button.primary`);
  await phone.waitForSelector('#files .file.playable');
  await shot(phone, 'phone-files');
  await phone.click('#files .file.playable button.primary');
  await phone.waitForSelector('#resume:not([hidden])');
  await phone.click('#resume-yes');
  await phone.waitForFunction(() => document.getElementById('video').currentTime > 1, null, { timeout: 60000 });
  await shot(phone, 'phone-player');
  ok(true, 'the phone layout plays too');

  ok(pageErrors.length === 0, 'no script errors in the page', pageErrors);
  for (const p of pending) console.log(`PENDING ${p}`);
  console.log('ALL PASSED');
} catch (e) {
  console.error(e && e.stack ? e.stack : String(e));
  if (pageErrors.length) console.error('page errors:', pageErrors);
  await browser.close();
  process.exit(1);
}
await browser.close();
