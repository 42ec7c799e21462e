// rill web UI: plain JS, no framework, no build step.
// Views: the home screen (add form, "continue watching", torrent list),
// a torrent's files, and the player. The URL hash names the view
// (#/, #/t/ID, #/play/ID/N) so reloading keeps you where you were.
// Everything from the server (names, paths, errors) is set as text, never
// as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  torrents: [],
  view: 'home',
  filesId: null,
  timer: null,
};

// ---------- small helpers -------------------------------------------------

function fmtBytes(n) {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + u[i];
}

function fmtTime(s) {
  if (!Number.isFinite(s) || s < 0) s = 0;
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return (h ? h + ':' : '') + mm + ':' + String(sec).padStart(2, '0');
}

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the page's CSP
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

let messageTimer = null;
function say(text, kind) {
  const m = $('message');
  m.textContent = text;
  m.className = 'message ' + (kind || 'info');
  m.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  m.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { m.hidden = true; }, kind === 'error' ? 12000 : 5000);
}

// fetch JSON; on failure throw an Error whose message is the server's text.
async function api(path, opts) {
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    throw new Error('rill did not answer (is the box on?)');
  }
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.error ? body.error : ('HTTP ' + r.status + ' ' + r.statusText);
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return { status: r.status, body };
}

const VIDEO_EXT = ['mp4', 'm4v', 'mkv', 'webm', 'avi', 'mov', 'ts', 'm2ts', 'mts', 'mpg', 'mpeg', 'vob', 'wmv', 'flv', '3gp', 'ogv'];
const AUDIO_EXT = ['mp3', 'flac', 'aac', 'm4a', 'm4b', 'ogg', 'oga', 'opus', 'wav', 'wma', 'mka', 'ac3'];
// What a browser may play from the original bytes, with the type to ask it.
const DIRECT = { mp4: 'video/mp4', m4v: 'video/mp4', webm: 'video/webm', mov: 'video/mp4', ogv: 'video/ogg',
  mp3: 'audio/mpeg', m4a: 'audio/mp4', m4b: 'audio/mp4', aac: 'audio/aac', ogg: 'audio/ogg', oga: 'audio/ogg',
  opus: 'audio/ogg; codecs=opus', flac: 'audio/flac', wav: 'audio/wav' };

function ext(path) {
  const name = path.split('/').pop() || '';
  const i = name.lastIndexOf('.');
  return i > 0 ? name.slice(i + 1).toLowerCase() : '';
}
function kind(path) {
  const e = ext(path);
  if (VIDEO_EXT.includes(e)) return 'video';
  if (AUDIO_EXT.includes(e)) return 'audio';
  return null;
}
function baseName(path) { return path.split('/').pop() || path; }

// ---------- settings --------------------------------------------------------

const BUFFER_KEY = 'rill.forwardBuffer';
function forwardBuffer() {
  const v = Number(localStorage.getItem(BUFFER_KEY));
  return [30, 60, 120, 300].includes(v) ? v : 60;
}
// hls.js settings: the forward buffer from the user's setting; the back
// buffer (what stays behind the play head) never above 30 s nor above the
// forward buffer, so a small board is not asked to keep much.
function hlsConfigFor(forward, startPosition) {
  return {
    maxBufferLength: forward,
    maxMaxBufferLength: forward,
    backBufferLength: Math.min(30, forward),
    startPosition: startPosition > 0 ? startPosition : -1,
    enableWorker: true,
    lowLatencyMode: false,
  };
}

// ---------- the torrent list -------------------------------------------------

const STATE_TEXT = {
  fetching_metadata: 'Fetching info', checking: 'Checking', downloading: 'Downloading',
  seeding: 'Seeding', complete: 'Complete', error: 'Error',
};

async function refresh() {
  try {
    const r = await api('/api/torrents');
    state.torrents = Array.isArray(r.body) ? r.body : [];
    renderTorrents();
  } catch (e) {
    say(e.message, 'error');
  }
}

function renderTorrents() {
  const box = $('torrents');
  const focusedId = document.activeElement && document.activeElement.dataset.key;
  box.replaceChildren();
  $('empty').hidden = state.torrents.length > 0;
  for (const t of state.torrents) {
    const name = t.name || ('magnet ' + t.id.slice(0, 12) + '…');
    const pct = Math.round((t.progress || 0) * 1000) / 10;
    const bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct) },
      el('span', { style: 'width:' + pct + '%' }));
    const st = STATE_TEXT[t.state] || t.state;
    const stats = el('p', { class: 'stats' },
      el('span', { class: 'badge state-' + t.state, text: st }),
      el('span', { text: pct + '% of ' + fmtBytes(t.size) }),
      (t.state === 'seeding' || t.state === 'complete') ? null : el('span', { text: '↓ ' + fmtBytes(t.download_rate) + '/s' }),
      el('span', { text: '↑ ' + fmtBytes(t.upload_rate) + '/s' }),
      el('span', { text: t.peers + (t.peers === 1 ? ' peer' : ' peers') }));
    const err = t.error ? el('p', { class: 'error-text', text: t.error }) : null;
    const open = el('button', { type: 'button', class: 'primary', 'data-key': 'open-' + t.id, text: 'Files & play',
      onclick: () => { location.hash = '#/t/' + t.id; } });
    const del = el('button', { type: 'button', 'data-key': 'del-' + t.id, text: 'Delete', onclick: () => askDelete(t) });
    const card = el('article', { class: 'card', 'data-id': t.id },
      el('h3', { text: name, title: name }), bar, stats, err, el('div', { class: 'actions' }, open, del));
    box.append(card);
  }
  if (focusedId) {
    const again = box.querySelector('[data-key="' + CSS.escape(focusedId) + '"]');
    if (again) again.focus();
  }
}

async function renderContinue() {
  try {
    const r = await api('/api/positions');
    const items = (r.body || []).filter((p) => p.seconds > 5 && !(p.duration && p.seconds > p.duration - 15));
    const row = $('continue-list');
    row.replaceChildren();
    for (const p of items.slice(0, 10)) {
      const pct = p.duration ? Math.min(100, (p.seconds / p.duration) * 100) : 0;
      row.append(el('button', { type: 'button', class: 'tile', 'data-key': 'cont-' + p.id + '-' + p.file,
        onclick: () => { location.hash = '#/play/' + p.id + '/' + p.file; } },
        el('span', { class: 'tile-name', text: baseName(p.path) }),
        el('span', { class: 'tile-time', text: 'at ' + fmtTime(p.seconds) + (p.duration ? ' of ' + fmtTime(p.duration) : '') }),
        el('span', { class: 'bar thin' }, el('span', { style: 'width:' + pct.toFixed(1) + '%' }))));
    }
    $('continue').hidden = items.length === 0;
  } catch (e) {
    $('continue').hidden = true;
  }
}

// ---------- adding and deleting ---------------------------------------------

async function addBody(body, contentType, what) {
  $('add-button').disabled = true;
  try {
    const r = await api('/api/torrents', { method: 'POST', headers: { 'Content-Type': contentType }, body });
    const t = r.body || {};
    const name = t.name || 'the magnet';
    if (r.status === 202) say('Added ' + name + ': fetching its info from peers…');
    else if (r.status === 200) say(name + ' is already here.');
    else say('Added ' + name + '.');
    $('add-uri').value = '';
    await refresh();
  } catch (e) {
    say('Could not add ' + what + ': ' + e.message, 'error');
  } finally {
    $('add-button').disabled = false;
  }
}

function addFile(file) {
  if (!file) return;
  addBody(file, 'application/x-bittorrent', file.name);
}

let deleting = null;
function askDelete(t) {
  deleting = t;
  $('delete-name').textContent = t.name || t.id;
  $('delete-dialog').showModal();
  $('delete-cancel').focus();
}

async function onDeleteClosed() {
  const how = $('delete-dialog').returnValue;
  const t = deleting;
  deleting = null;
  if (!t || (how !== 'keep' && how !== 'data')) return;
  try {
    await api('/api/torrents/' + t.id + (how === 'data' ? '?files=1' : ''), { method: 'DELETE' });
    say('Deleted ' + (t.name || t.id) + (how === 'data' ? ' and its files.' : '.'));
    if (state.filesId === t.id) location.hash = '#/';
    await refresh();
    renderContinue();
  } catch (e) {
    say('Could not delete: ' + e.message, 'error');
  }
}

// ---------- a torrent's files ----------------------------------------------

// The torrent's details, or null after saying why and going back to the
// list (it was removed, or the server is unreachable).
async function torrentOrHome(id) {
  try {
    return (await api('/api/torrents/' + id)).body;
  } catch (e) {
    say(e.message, 'error');
    location.hash = '#/';
    return null;
  }
}

// "Peers: 2 from tracker · 1 from pex · DHT 37 nodes" (what the API tells).
function peerSourcesText(t) {
  const parts = Object.entries(t.peer_sources || {})
    .filter(([, n]) => n > 0)
    .map(([src, n]) => n + ' from ' + src);
  const text = parts.length ? 'Peers: ' + parts.join(' · ') : 'No peers connected';
  return t.dht_nodes > 0 ? text + ' · DHT ' + t.dht_nodes + ' nodes' : text;
}

async function renderFiles(id, focus) {
  const t = await torrentOrHome(id);
  if (!t) return;
  $('files-title').textContent = t.name || 'Magnet ' + id.slice(0, 12) + '…';
  const files = t.files || [];
  $('files-status').textContent = files.length === 0
    ? 'Waiting for the torrent\'s info from peers (' + t.peers + ' connected)…'
    : files.length + (files.length === 1 ? ' file, ' : ' files, ') + fmtBytes(t.size) + ', ' + Math.round((t.progress || 0) * 100) + '% downloaded';
  $('files-peers').textContent = peerSourcesText(t);
  const list = $('files');
  const focused = document.activeElement && document.activeElement.dataset.key;
  list.replaceChildren();
  for (const f of files) {
    const k = kind(f.path);
    const parts = f.path.split('/');
    const dir = parts.slice(1, -1).join(' / ');
    const pct = f.length ? Math.round((f.bytes_done / f.length) * 100) : 100;
    const info = el('div', { class: 'file-info' },
      dir ? el('span', { class: 'file-dir', text: dir }) : null,
      el('span', { class: 'file-name', text: parts[parts.length - 1] }),
      el('span', { class: 'file-meta', text: fmtBytes(f.length) + ' · ' + pct + '%' }));
    const actions = el('div', { class: 'actions' });
    if (k) {
      actions.append(el('button', { type: 'button', class: 'primary', 'data-key': 'play-' + f.index, text: '▶ Play',
        onclick: () => { location.hash = '#/play/' + id + '/' + f.index; } }));
    }
    actions.append(el('a', { class: 'button', href: f.stream, download: baseName(f.path), 'data-key': 'dl-' + f.index, text: 'Download' }));
    list.append(el('li', { class: 'file' + (k ? ' playable' : '') }, info, actions));
  }
  if (focused) {
    const again = list.querySelector('[data-key="' + CSS.escape(focused) + '"]');
    if (again) again.focus();
  } else if (focus) {
    const first = list.querySelector('button, a') || $('files-back');
    first.focus();
  }
}

// ---------- the player -------------------------------------------------------

const player = {
  id: null, file: null, path: '', mode: null, hls: null, media: null,
  audio: 0, subtitle: -1, lastSaved: 0, statusTimer: null, waiting: false,
  hlsLoading: false, src: '',
};
// What tests (and curious people) can read back.
window.rillPlayer = {
  get hlsConfig() {
    const live = player.hls && player.hls.config;
    const c = live || hlsConfigFor(forwardBuffer(), 0);
    return { maxBufferLength: c.maxBufferLength, maxMaxBufferLength: c.maxMaxBufferLength,
      backBufferLength: c.backBufferLength, live: !!live };
  },
  get mode() { return player.mode; },
  get src() { return player.src; },
  get hlsJs() { return typeof window.Hls === 'function' ? window.Hls.version : null; },
};

let hlsScript = null;
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(true);
  if (!hlsScript) {
    hlsScript = new Promise((resolve) => {
      const s = el('script', { src: '/ui/hls.min.js' });
      s.onload = () => resolve(!!window.Hls);
      s.onerror = () => resolve(false);
      document.head.append(s);
    });
  }
  return hlsScript;
}

function playerError(text) {
  const e = $('player-error');
  e.textContent = text;
  e.hidden = !text;
}

async function openPlayer(id, file) {
  closePlayer(false);
  player.id = id; player.file = file; player.audio = 0; player.subtitle = -1; player.media = null;
  showView('player');
  playerError('');
  setWaiting(true); // says why until the first frame: metadata, peers, ffmpeg
  const t = await torrentOrHome(id);
  if (!t) return;
  const f = (t.files || []).find((x) => x.index === file);
  if (!f) {
    say('This torrent has no file ' + file + (t.files && t.files.length ? '' : ' (its info is still being fetched)'), 'error');
    location.hash = '#/t/' + id;
    return;
  }
  player.path = f.path;
  $('player-title').textContent = baseName(f.path);
  document.title = baseName(f.path) + ' · rill';
  // The probe (track menus, duration, HLS) can take long on a file that is
  // still downloading: direct play does not wait for it.
  fillTracks(null);
  const probe = api('/api/torrents/' + id + '/files/' + file + '/media').then((r) => r.body, (e) => ({ error: e.message }));
  probe.then((media) => {
    if (player.id !== id || player.file !== file) return;
    player.media = media && !media.error ? media : null;
    fillTracks(player.media);
  });
  const saved = await api('/api/torrents/' + id + '/files/' + file + '/position').then((r) => r.body, () => null);
  if (player.id !== id || player.file !== file) return;
  const type = DIRECT[ext(f.path)];
  const video = $('video');
  // rill.forceHls=1 (localStorage) skips direct play: for TVs that claim
  // more than they play, and for the tests.
  const direct = type && video.canPlayType(type) !== '' && localStorage.getItem('rill.forceHls') !== '1';
  const start = saved && saved.seconds > 5 && !(saved.duration && saved.seconds > saved.duration - 15) ? saved.seconds : 0;
  const go = async (at) => {
    const media = direct ? player.media : await probe;
    if (player.id !== id || player.file !== file) return;
    startPlayback(direct, media, at);
  };
  if (start > 0) offerResume(start, () => go(start), () => go(0));
  else go(0);
}

function offerResume(at, yes, no) {
  setWaiting(false);
  $('resume-text').textContent = 'You stopped at ' + fmtTime(at) + '.';
  $('resume').hidden = false;
  $('resume-yes').textContent = 'Resume from ' + fmtTime(at);
  $('resume-yes').onclick = () => { $('resume').hidden = true; yes(); };
  $('resume-no').onclick = () => { $('resume').hidden = true; no(); };
  $('resume-yes').focus();
}

function fillTracks(media) {
  const a = $('audio-select'), s = $('subtitle-select');
  a.replaceChildren(); s.replaceChildren();
  const audio = (media && Array.isArray(media.audio)) ? media.audio : [];
  const subs = (media && Array.isArray(media.subtitles)) ? media.subtitles : [];
  audio.forEach((tr, i) => a.append(el('option', { value: String(i), text: trackLabel(tr, 'Track ' + (i + 1)) })));
  if (audio.length === 0) a.append(el('option', { value: '0', text: 'Default' }));
  s.append(el('option', { value: '-1', text: 'Off' }));
  subs.forEach((tr, i) => s.append(el('option', { value: String(i), text: trackLabel(tr, 'Subtitles ' + (i + 1)) })));
  a.disabled = audio.length < 2;
  s.disabled = subs.length === 0;
  a.value = String(player.audio);
  s.value = String(player.subtitle);
}

function trackLabel(tr, fallback) {
  const bits = [tr.title, tr.language, tr.codec, tr.channels ? tr.channels + 'ch' : null].filter((x) => x);
  return bits.length ? bits.join(' · ') : fallback;
}

function hlsUrl() {
  let u = '/hls/' + player.id + '/' + player.file + '/index.m3u8?audio=' + player.audio;
  if (player.subtitle >= 0) u += '&subtitle=' + player.subtitle;
  player.src = u;
  return u;
}

function streamUrl() {
  player.src = '/stream/' + player.id + '/' + player.file;
  return player.src;
}

function setMode(mode) {
  player.mode = mode;
  $('player-mode').textContent = { direct: 'Direct', 'hls.js': 'HLS', 'native-hls': 'HLS (native)' }[mode] || '';
}

async function startPlayback(direct, media, at) {
  const video = $('video');
  setWaiting(true);
  if (direct && player.audio === 0 && player.subtitle < 0) {
    setMode('direct');
    video.src = streamUrl();
    if (at > 0) video.currentTime = at;
    tryPlay();
    return;
  }
  if (!media || media.error) {
    // No HLS for this file (yet): try the original bytes anyway; many
    // browsers play more than they admit (an .mkv with H.264 in Chromium).
    playerError('This browser may not play ' + (ext(player.path) || 'this file') +
      ' directly and the server could not prepare it (' + ((media && media.error) || 'no media info') + '). Trying the original file…');
    setMode('direct');
    video.src = streamUrl();
    if (at > 0) video.currentTime = at;
    tryPlay();
    return;
  }
  const haveHlsJs = await loadHlsJs();
  if (haveHlsJs && window.Hls.isSupported()) {
    setMode('hls.js');
    const hls = new window.Hls(hlsConfigFor(forwardBuffer(), at));
    player.hls = hls;
    hls.on(window.Hls.Events.FRAG_LOADING, () => { player.hlsLoading = true; });
    hls.on(window.Hls.Events.FRAG_LOADED, () => { player.hlsLoading = false; });
    // The playlist carries only the chosen subtitle track: show it. Its
    // track list fills in when the variant's group is known, which may be
    // after the manifest is parsed or the media attached: try at each.
    const showChosenSubtitle = () => {
      if (player.subtitle < 0 || hls.subtitleTracks.length === 0) return;
      hls.subtitleDisplay = true;
      if (hls.subtitleTrack !== 0) hls.subtitleTrack = 0;
    };
    hls.on(window.Hls.Events.MANIFEST_PARSED, showChosenSubtitle);
    hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, showChosenSubtitle);
    hls.on(window.Hls.Events.MEDIA_ATTACHED, showChosenSubtitle);
    hls.on(window.Hls.Events.ERROR, (_, d) => {
      if (!d.fatal) return;
      const code = d.response && d.response.code;
      playerError('The video could not be prepared' + (code ? ' (HTTP ' + code + ')' : '') + ': ' + (d.details || d.type) + '.');
      hls.destroy();
      if (player.hls === hls) player.hls = null;
    });
    hls.loadSource(hlsUrl());
    hls.attachMedia(video);
    tryPlay();
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    setMode('native-hls');
    video.src = hlsUrl();
    if (at > 0) video.addEventListener('loadedmetadata', () => { video.currentTime = at; }, { once: true });
    tryPlay();
  } else {
    playerError(haveHlsJs ? 'This browser cannot play HLS video.'
      : 'This build of rill has no hls.js and this browser has no native HLS: it cannot play this file. Try VLC with ' + location.origin + '/playlist.m3u');
  }
}

function tryPlay() {
  // Keep the remote useful: focus lands on play/pause (arrows then seek
  // or move between the controls).
  const a = document.activeElement;
  if (!a || a === document.body || a.closest('[hidden]') || !$('player').contains(a)) $('play').focus();
  const p = $('video').play();
  if (p && p.catch) p.catch(() => { /* autoplay refused: the play button works */ });
}

async function switchTracks() {
  const video = $('video');
  const at = video.currentTime || 0;
  player.audio = Number($('audio-select').value) || 0;
  player.subtitle = Number($('subtitle-select').value);
  if (!Number.isFinite(player.subtitle)) player.subtitle = -1;
  teardownMedia();
  await startPlayback(false, player.media, at);
}

function teardownMedia() {
  const video = $('video');
  if (player.hls) { player.hls.destroy(); player.hls = null; }
  video.removeAttribute('src');
  video.load();
  player.hlsLoading = false;
}

function closePlayer(navigate) {
  const id = player.id;
  if (player.id !== null) savePosition(true);
  teardownMedia();
  $('resume').hidden = true;
  $('buffering').hidden = true;
  clearInterval(player.statusTimer);
  player.statusTimer = null;
  player.id = null;
  setMode(null);
  document.title = 'rill';
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  if (navigate) goBack(id === null ? '#/' : '#/t/' + id);
}

function savePosition(force) {
  const video = $('video');
  if (player.id === null || !video.currentTime) return;
  const now = Date.now();
  if (!force && now - player.lastSaved < 5000) return;
  player.lastSaved = now;
  const duration = Number.isFinite(video.duration) ? video.duration : (player.media && player.media.duration) || null;
  fetch('/api/torrents/' + player.id + '/files/' + player.file + '/position', {
    method: 'PUT', keepalive: true, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ seconds: video.currentTime, duration }),
  }).catch(() => {});
}

function duration() {
  const v = $('video');
  if (Number.isFinite(v.duration) && v.duration > 0) return v.duration;
  return (player.media && player.media.duration) || 0;
}

function updateTime() {
  const v = $('video');
  const d = duration();
  const seek = $('seek');
  seek.max = String(d || 0);
  if (!seek.matches(':active')) seek.value = String(v.currentTime || 0);
  $('time').textContent = fmtTime(v.currentTime) + ' / ' + fmtTime(d);
}

function seekBy(delta) {
  const v = $('video');
  const d = duration();
  v.currentTime = Math.max(0, Math.min(d ? d - 0.5 : Infinity, (v.currentTime || 0) + delta));
}

function togglePlay() {
  const v = $('video');
  if (v.paused) tryPlay(); else v.pause();
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else $('player').requestFullscreen().catch(() => {});
}

// Why are we waiting? Ask the server: metadata, peers, download, or ffmpeg.
async function bufferingReason() {
  if (player.id === null) return;
  let t = null;
  try { t = (await api('/api/torrents/' + player.id)).body; } catch (e) { /* keep the generic text */ }
  let text = 'Loading…';
  if (t) {
    const f = (t.files || []).find((x) => x.index === player.file);
    const got = f && f.length ? Math.round((f.bytes_done / f.length) * 100) + '% of the file here' : '';
    if (t.state === 'fetching_metadata') text = 'Fetching the torrent\'s info from peers…';
    else if (t.state === 'error') text = 'The torrent has a problem: ' + (t.error || 'see the log');
    else if (t.state === 'checking') text = 'Checking the data already on disk…';
    else if (t.peers === 0 && !(f && f.bytes_done >= f.length)) text = 'Waiting for peers… (' + (got || 'nothing yet') + ')';
    else if (player.mode !== 'direct' && player.hlsLoading) text = 'Preparing video… (' + t.peers + ' peers, ' + fmtBytes(t.download_rate) + '/s)';
    else text = 'Downloading from ' + t.peers + (t.peers === 1 ? ' peer' : ' peers') + ' at ' + fmtBytes(t.download_rate) + '/s' + (got ? ' · ' + got : '');
  }
  if (player.waiting) $('buffering-text').textContent = text;
}

function setWaiting(on) {
  player.waiting = on;
  $('buffering').hidden = !on;
  clearInterval(player.statusTimer);
  player.statusTimer = null;
  if (on) {
    $('buffering-text').textContent = player.mode && player.mode !== 'direct' ? 'Preparing video…' : 'Loading…';
    bufferingReason();
    player.statusTimer = setInterval(bufferingReason, 2000);
  }
}

function wirePlayer() {
  const v = $('video');
  v.addEventListener('timeupdate', () => { updateTime(); savePosition(false); });
  v.addEventListener('durationchange', updateTime);
  v.addEventListener('play', () => { $('play').textContent = '❚❚'; });
  v.addEventListener('pause', () => { $('play').textContent = '▶'; savePosition(true); });
  v.addEventListener('seeked', () => savePosition(true));
  v.addEventListener('waiting', () => setWaiting(true));
  v.addEventListener('stalled', () => { if (v.readyState < 3) setWaiting(true); });
  v.addEventListener('playing', () => setWaiting(false));
  v.addEventListener('canplay', () => setWaiting(false));
  v.addEventListener('volumechange', () => { $('mute').setAttribute('aria-pressed', String(v.muted)); });
  v.addEventListener('error', () => {
    const e = v.error;
    if (!e || player.id === null || player.hls) return;
    playerError('The browser cannot play this file' + (e.message ? ' (' + e.message + ')' : '') +
      (player.mode === 'direct' && !player.media ? '; the server could not convert it either.' : '.'));
    setWaiting(false);
  });
  v.addEventListener('click', togglePlay);
  $('play').addEventListener('click', togglePlay);
  $('back10').addEventListener('click', () => seekBy(-10));
  $('fwd10').addEventListener('click', () => seekBy(10));
  $('mute').addEventListener('click', () => { v.muted = !v.muted; });
  $('fullscreen').addEventListener('click', toggleFullscreen);
  $('player-back').addEventListener('click', () => closePlayer(true));
  $('seek').addEventListener('input', () => { v.currentTime = Number($('seek').value); });
  $('audio-select').addEventListener('change', switchTracks);
  $('subtitle-select').addEventListener('change', switchTracks);
  window.addEventListener('pagehide', () => savePosition(true));
}

// ---------- keyboard and D-pad ---------------------------------------------

const BACK_KEYS = ['Escape', 'Backspace', 'BrowserBack', 'GoBack'];
const BACK_CODES = [461, 10009]; // webOS, Tizen remote "back"

function onKey(e) {
  const tag = (e.target && e.target.tagName) || '';
  const typing = tag === 'INPUT' && e.target.type !== 'range' || tag === 'TEXTAREA';
  const isBack = BACK_KEYS.includes(e.key) || BACK_CODES.includes(e.keyCode);
  if (document.querySelector('dialog[open]')) return; // dialogs handle their own keys
  if (state.view === 'player') {
    if (typing) return;
    const v = $('video');
    const onControl = tag === 'SELECT' || (tag === 'BUTTON' && e.target.id !== 'play');
    switch (e.key) {
      case ' ': if (tag !== 'BUTTON' || e.target.id === 'play') { e.preventDefault(); togglePlay(); } return;
      case 'k': togglePlay(); return;
      case 'f': toggleFullscreen(); return;
      case 'm': v.muted = !v.muted; return;
      case 'ArrowLeft': if (!onControl || tag === 'INPUT') { e.preventDefault(); seekBy(-10); return; } break;
      case 'ArrowRight': if (!onControl || tag === 'INPUT') { e.preventDefault(); seekBy(10); return; } break;
      default: break;
    }
    if (isBack && !(tag === 'SELECT')) { e.preventDefault(); closePlayer(true); return; }
  } else if (isBack && !typing && state.view === 'files') {
    e.preventDefault(); goBack('#/'); return;
  }
  if (typing && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) return;
  const dir = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' }[e.key];
  if (dir && tag !== 'SELECT' && !(tag === 'INPUT' && e.target.type === 'range' && (dir === 'left' || dir === 'right'))) {
    if (moveFocus(dir)) e.preventDefault();
  }
}

// Spatial navigation: the nearest focusable element in that direction.
function moveFocus(dir) {
  const all = [...document.querySelectorAll('button, a[href], input, select, [tabindex="0"]')]
    .filter((x) => !x.disabled && x.offsetParent !== null && !x.closest('[hidden]'));
  const cur = document.activeElement;
  if (!cur || cur === document.body || !all.includes(cur)) {
    if (all[0]) { all[0].focus(); return true; }
    return false;
  }
  const r = cur.getBoundingClientRect();
  const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
  let best = null, bestScore = Infinity;
  for (const x of all) {
    if (x === cur) continue;
    const b = x.getBoundingClientRect();
    const bx = b.left + b.width / 2, by = b.top + b.height / 2;
    const dx = bx - cx, dy = by - cy;
    let main, cross;
    if (dir === 'up') { if (b.bottom > r.top + 1) continue; main = -dy; cross = Math.abs(dx); }
    if (dir === 'down') { if (b.top < r.bottom - 1) continue; main = dy; cross = Math.abs(dx); }
    if (dir === 'left') { if (b.right > r.left + 1) continue; main = -dx; cross = Math.abs(dy); }
    if (dir === 'right') { if (b.left < r.right - 1) continue; main = dx; cross = Math.abs(dy); }
    const score = main + cross * 2;
    if (score < bestScore) { bestScore = score; best = x; }
  }
  if (best) { best.focus(); best.scrollIntoView({ block: 'nearest', inline: 'nearest' }); return true; }
  return false;
}

// ---------- views and routing ------------------------------------------------

// Back within the app: to the previous view when it is the one above this
// one (home > files > player), else to that view in place of this one,
// never off the page. `views` mirrors the history entries this page made.
const views = [location.hash || '#/'];
let replacing = false;
function goBack(up) {
  if (views.length > 1 && views[views.length - 2] === up) {
    history.back();
  } else {
    replacing = true;
    location.replace(up);
  }
}
function onHashChange() {
  const h = location.hash || '#/';
  if (replacing) views[views.length - 1] = h;
  else if (views.length > 1 && views[views.length - 2] === h) views.pop();
  else views.push(h);
  replacing = false;
  if (views.length > 100) views.shift();
  route();
}

function showView(v) {
  state.view = v;
  $('home').hidden = v !== 'home';
  $('files-view').hidden = v !== 'files';
  $('player').hidden = v !== 'player';
  document.body.classList.toggle('playing', v === 'player');
}

function route() {
  const h = location.hash.replace(/^#/, '');
  const play = h.match(/^\/play\/([0-9a-fA-F]{40})\/(\d+)$/);
  const files = h.match(/^\/t\/([0-9a-fA-F]{40})$/);
  if (play) {
    openPlayer(play[1].toLowerCase(), Number(play[2]));
    return;
  }
  if (state.view === 'player') closePlayer(false);
  if (files) {
    state.filesId = files[1].toLowerCase();
    showView('files');
    renderFiles(state.filesId, true);
  } else {
    state.filesId = null;
    showView('home');
    renderContinue();
    refresh();
  }
}

function wireHome() {
  $('add-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const uri = $('add-uri').value.trim();
    if (!uri) { say('Paste a magnet link or the URL of a .torrent first.', 'error'); $('add-uri').focus(); return; }
    if (!/^(magnet:|https?:\/\/)/i.test(uri)) {
      say('Could not add it: "' + uri.slice(0, 80) + '" is not a magnet link or an http(s) URL.', 'error');
      return;
    }
    addBody(JSON.stringify({ uri }), 'application/json', 'the link');
  });
  $('upload').addEventListener('change', (e) => { addFile(e.target.files[0]); e.target.value = ''; });
  $('upload-label').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('upload').click(); }
  });
  $('files-back').addEventListener('click', () => goBack('#/'));
  $('delete-dialog').addEventListener('close', onDeleteClosed);
  $('settings-button').addEventListener('click', () => {
    $('buffer-setting').value = String(forwardBuffer());
    const c = window.rillPlayer.hlsConfig;
    $('hls-info').textContent = (window.Hls ? 'hls.js ' + window.Hls.version : 'hls.js loads when a video needs it') +
      '; keeps ' + c.backBufferLength + ' s behind the play head.';
    $('settings-dialog').showModal();
  });
  $('buffer-setting').addEventListener('change', (e) => {
    localStorage.setItem(BUFFER_KEY, e.target.value);
    say('Read-ahead set to ' + e.target.selectedOptions[0].textContent + ' (from the next video).');
  });
  // Drag and drop anywhere on the page.
  let depth = 0;
  document.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; $('drop').hidden = false; });
  document.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) $('drop').hidden = true; });
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault(); depth = 0; $('drop').hidden = true;
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) addFile(f);
    else {
      const text = e.dataTransfer && e.dataTransfer.getData('text/plain');
      if (text) { $('add-uri').value = text.trim(); $('add-form').requestSubmit(); }
    }
  });
}

function start() {
  wireHome();
  wirePlayer();
  document.addEventListener('keydown', onKey);
  window.addEventListener('hashchange', onHashChange);
  // Live progress: poll while the page is visible.
  state.timer = setInterval(() => {
    if (!document.hidden && state.view === 'home') refresh();
    else if (!document.hidden && state.view === 'files') renderFiles(state.filesId, false);
  }, 2000);
  route();
}

start();
