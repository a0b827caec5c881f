// The Tsunagu web viewer: one study behind a link token. Plain ES module, no third-party code,
// no inline script (the relay's Content-Security-Policy is `script-src 'self'`).
// Data contract: README.md in this folder.
import { initialLanguage, texts, applyStaticTexts } from './i18n.js';
import {
  orientationLabels, lengthMm, lengthPx, fitScale, hoursLeft, dragWindow,
} from './geometry.js';

const $ = (id) => document.getElementById(id);
const PREFETCH_CONCURRENCY = 6;

const state = {
  lang: initialLanguage(window.localStorage, navigator.language),
  summary: null,
  seriesIndex: 0,
  slices: [],        // [{image, frame}] of the current series, in stack order
  index: 0,
  window: null,      // {center, width} or null (color)
  tool: 'scroll',
  zoom: 1, panX: 0, panY: 0,
  measure: [],       // image-space points [{x, y}]
  measureText: '',
  playing: false, timer: null,
  viewport: 0,
  cache: new Map(),  // url -> {img, promise, done}
  queueGeneration: 0,
  pendingDraw: null,
  stats: { firstImageMs: null, latencies: [], requests: [] },
};

// ---------------------------------------------------------------- pages

function showPage(kind) {
  const t = texts(state.lang);
  $('viewer').hidden = kind !== 'viewer';
  $('code-form').hidden = kind !== 'code';
  $('message').hidden = !['expired', 'revoked', 'locked', 'error', 'loading'].includes(kind);
  document.getElementById('app').dataset.state = kind;
  if (!$('message').hidden) {
    const title = { expired: t.expiredTitle, revoked: t.revokedTitle, locked: t.lockedTitle,
      error: t.errorTitle, loading: t.loading }[kind];
    const text = { expired: t.expiredText, revoked: t.revokedText, locked: t.lockedText,
      error: t.errorText, loading: '' }[kind];
    $('message-title').textContent = title;
    $('message-text').textContent = text;
  }
}

async function loadSummary() {
  showPage('loading');
  let response;
  try {
    response = await fetch('summary.json', { credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    showPage('error');
    return;
  }
  let body = {};
  try { body = await response.json(); } catch (e) { body = {}; }
  if (response.status === 200) {
    state.summary = body;
    startViewer();
    return;
  }
  const reason = body.error || '';
  if (response.status === 401 && reason === 'access_code_required') showPage('code');
  else if (response.status === 410 || reason === 'expired') showPage('expired');
  else if (reason === 'revoked') showPage('revoked');
  else if (response.status === 423 || reason === 'locked') showPage('locked');
  else showPage('error');
}

async function submitCode(event) {
  event.preventDefault();
  const t = texts(state.lang);
  const code = $('code-input').value.trim();
  const response = await fetch('access-code', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code }),
  });
  if (response.status === 204 || response.status === 200) {
    $('code-error').textContent = '';
    await loadSummary();
  } else if (response.status === 423) {
    showPage('locked');
  } else {
    $('code-error').textContent = t.codeWrong;
  }
}

// ---------------------------------------------------------------- images

function renderedUrl(slice, win) {
  const params = new URLSearchParams();
  // The file's VOI LUT Function (summary.json) travels with its window and with drags from it;
  // presets are linear.
  if (win) params.set('window', `${win.center},${win.width},${win.function || 'linear'}`);
  params.set('quality', '90');
  params.set('viewport', `${state.viewport},${state.viewport}`);
  return `${slice.image.url}/frames/${slice.frame + 1}/rendered?${params}`;
}

function load(url) {
  let entry = state.cache.get(url);
  if (entry) return entry.promise;
  const img = new Image();
  img.decoding = 'async';
  entry = { img, done: false };
  const started = performance.now();
  entry.promise = new Promise((resolve, reject) => {
    img.onload = () => {
      entry.done = true;
      state.stats.requests.push(performance.now() - started);
      resolve(img);
    };
    img.onerror = () => { state.cache.delete(url); reject(new Error('image failed')); };
  });
  img.src = url;
  state.cache.set(url, entry);
  return entry.promise;
}

// Loads every slice of the current series with the current window, nearest first.
function prefetch() {
  const generation = ++state.queueGeneration;
  const order = state.slices.map((_, i) => i)
    .sort((a, b) => Math.abs(a - state.index) - Math.abs(b - state.index));
  let next = 0;
  const worker = async () => {
    while (next < order.length && generation === state.queueGeneration) {
      const slice = state.slices[order[next++]];
      try { await load(renderedUrl(slice, state.window)); } catch (e) { /* shown when visited */ }
    }
  };
  for (let i = 0; i < PREFETCH_CONCURRENCY; ++i) worker();
}

function prefetchedCount() {
  let n = 0;
  for (const slice of state.slices) {
    const e = state.cache.get(renderedUrl(slice, state.window));
    if (e && e.done) ++n;
  }
  return n;
}

// ---------------------------------------------------------------- drawing

function currentImage() {
  const slice = state.slices[state.index];
  return slice ? slice.image : null;
}

// Shows slice `index`; resolves once it is drawn (or replaced by another slice).
function show(index) {
  if (state.slices.length === 0) return Promise.resolve();
  state.index = Math.max(0, Math.min(state.slices.length - 1, index));
  $('slider').value = String(state.index);
  const requested = performance.now();
  const url = renderedUrl(state.slices[state.index], state.window);
  const wanted = state.index;
  const entry = state.cache.get(url);
  if (entry && entry.done) {
    draw(entry.img);
    state.stats.latencies.push(performance.now() - requested);
    return Promise.resolve();
  }
  updateOverlay();
  return load(url).then((img) => {
    if (state.index !== wanted) return;
    draw(img);
    state.stats.latencies.push(performance.now() - requested);
  }).catch(() => {});
}

function draw(img) {
  const canvas = $('canvas');
  const stage = $('stage');
  const dpr = window.devicePixelRatio || 1;
  const w = stage.clientWidth;
  const h = stage.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const image = currentImage();
  if (!image) return;
  const t = transform(w, h, image);
  ctx.setTransform(dpr * t.scale, 0, 0, dpr * t.scale, dpr * t.x, dpr * t.y);
  ctx.imageSmoothingEnabled = true;
  // The rendered JPEG may be smaller than the image (viewport): draw it over the full image size.
  ctx.drawImage(img, 0, 0, image.columns, image.rows);
  if (state.measure.length > 0) {
    ctx.strokeStyle = '#ff0';
    ctx.fillStyle = '#ff0';
    ctx.lineWidth = 2 / t.scale;
    const [a, b] = state.measure;
    ctx.beginPath();
    ctx.arc(a.x, a.y, 3 / t.scale, 0, 2 * Math.PI);
    ctx.fill();
    if (b) {
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
    }
  }
  state.lastImg = img;
  if (state.stats.firstImageMs === null) state.stats.firstImageMs = performance.now();
  updateOverlay();
}

function transform(w, h, image) {
  const scale = fitScale(image.columns, image.rows, w, h) * state.zoom;
  return {
    scale,
    x: (w - image.columns * scale) / 2 + state.panX,
    y: (h - image.rows * scale) / 2 + state.panY,
  };
}

function redraw() {
  if (state.lastImg) draw(state.lastImg);
}

function updateOverlay() {
  const t = texts(state.lang);
  const s = state.summary;
  const series = s.series[state.seriesIndex];
  const slice = state.slices[state.index];
  if (!series || !slice) return;
  const image = slice.image;
  const multiframe = image.frames > 1;
  $('ov-series').textContent = `${series.number ?? ''} ${series.description ?? ''}`.trim();
  $('ov-slice').textContent = multiframe
    ? t.frame(slice.frame + 1, image.frames)
    : t.slice(state.index + 1, state.slices.length);
  const position = Array.isArray(image.frame_positions)
    ? image.frame_positions[slice.frame] : image.position;
  $('ov-position').textContent = Array.isArray(position) ? t.position(position[2].toFixed(1)) : '';
  $('ov-window').textContent = state.window
    ? t.window(Math.round(state.window.center), Math.round(state.window.width)) : '';
  $('ov-zoom').textContent = t.zoom(Math.round(state.zoom * 100));
  $('ov-patient').textContent = s.study.patient_id_last4 ? t.patient(s.study.patient_id_last4) : '';
  const d = s.study.study_date || '';
  $('ov-date').textContent = d.length === 8
    ? t.date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`) : '';
  const hours = hoursLeft(s.study.expires_at, Date.now());
  $('ov-expiry').textContent = hours === null ? '' : (hours >= 1 ? t.expiresIn(hours) : t.expiresSoon);
  $('ov-measure').textContent = state.measureText;
  const labels = orientationLabels(image.orientation);
  for (const side of ['left', 'right', 'top', 'bottom']) {
    $(`or-${side}`).textContent = labels ? labels[side] : '';
  }
}

// ---------------------------------------------------------------- series, window, cine

function selectSeries(i) {
  stop();
  state.seriesIndex = i;
  const series = state.summary.series[i];
  state.slices = [];
  for (const image of series.images) {
    for (let f = 0; f < image.frames; ++f) state.slices.push({ image, frame: f });
  }
  const first = series.images[0];
  state.window = first && first.window ? { ...first.window } : null;
  state.zoom = 1; state.panX = 0; state.panY = 0;
  state.measure = []; state.measureText = '';
  $('slider').max = String(Math.max(0, state.slices.length - 1));
  for (const [j, b] of [...$('strip').children].entries()) b.classList.toggle('active', j === i);
  buildPresets();
  $('play').hidden = !(first && first.frames > 1);
  $('speed').hidden = $('play').hidden;
  // The first image goes alone; the rest of the stack is fetched once it is on screen.
  show(0).then(() => { if (state.seriesIndex === i) prefetch(); });
}

function setWindow(win) {
  if (!state.window) return;
  state.window = win;
  updateOverlay();
  clearTimeout(state.windowTimer);
  // Ask for new renders once the drag pauses, then prefetch the stack with the new window.
  state.windowTimer = setTimeout(() => { show(state.index); prefetch(); }, 120);
}

function buildPresets() {
  const t = texts(state.lang);
  const box = $('presets');
  box.textContent = '';
  const series = state.summary.series[state.seriesIndex];
  const list = (state.summary.presets || {})[series.modality] || [];
  if (!state.window) return;
  for (const p of list) {
    const b = document.createElement('button');
    b.dataset.preset = p.name;
    b.textContent = t.presets[p.name] || p.name;
    b.addEventListener('click', () => setWindow({ center: p.center, width: p.width }));
    box.appendChild(b);
  }
}

function play() {
  const image = currentImage();
  if (!image || image.frames < 2) return;
  state.playing = true;
  $('play').textContent = texts(state.lang).pause;
  const frameMs = (image.frame_time_ms || 100) / Number($('speed').value);
  const tick = () => {
    if (!state.playing) return;
    show((state.index + 1) % state.slices.length);
    state.timer = setTimeout(tick, frameMs);
  };
  state.timer = setTimeout(tick, frameMs);
}

function stop() {
  state.playing = false;
  clearTimeout(state.timer);
  $('play').textContent = texts(state.lang).play;
}

function reset() {
  state.zoom = 1; state.panX = 0; state.panY = 0;
  state.measure = []; state.measureText = '';
  const first = state.summary.series[state.seriesIndex].images[0];
  if (first && first.window) setWindow({ ...first.window });
  redraw();
}

// ---------------------------------------------------------------- input

function toImage(clientX, clientY) {
  const rect = $('stage').getBoundingClientRect();
  const image = currentImage();
  const t = transform(rect.width, rect.height, image);
  return { x: (clientX - rect.left - t.x) / t.scale, y: (clientY - rect.top - t.y) / t.scale };
}

function measurePoint(p) {
  const t = texts(state.lang);
  if (state.measure.length !== 1) state.measure = [];
  state.measure.push(p);
  state.measureText = '';
  if (state.measure.length === 2) {
    const [a, b] = state.measure;
    const image = currentImage();
    const mm = lengthMm(a.x, a.y, b.x, b.y, image.pixel_spacing);
    if (mm === null) state.measureText = t.px(lengthPx(a.x, a.y, b.x, b.y).toFixed(1));
    else if (image.spacing_kind === 'imager') state.measureText = t.mmImager(mm.toFixed(1));
    else state.measureText = t.mm(mm.toFixed(1));
  }
  redraw();
}

function installInput() {
  const stage = $('stage');
  const pointers = new Map();
  let gesture = null;
  stage.addEventListener('pointerdown', (e) => {
    try { stage.setPointerCapture(e.pointerId); } catch (err) { /* pointer already gone */ }
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      gesture = { kind: 'pinch', dist: Math.hypot(a.x - b.x, a.y - b.y), zoom: state.zoom,
        mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }, panX: state.panX, panY: state.panY };
    } else {
      gesture = { kind: state.tool, x: e.clientX, y: e.clientY, index: state.index,
        window: state.window ? { ...state.window } : null, panX: state.panX, panY: state.panY,
        moved: false };
    }
  });
  stage.addEventListener('pointermove', (e) => {
    if (!pointers.has(e.pointerId) || !gesture) return;
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (gesture.kind === 'pinch' && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a.x - b.x, a.y - b.y);
      state.zoom = Math.max(0.25, Math.min(16, gesture.zoom * dist / Math.max(1, gesture.dist)));
      state.panX = gesture.panX + (a.x + b.x) / 2 - gesture.mid.x;
      state.panY = gesture.panY + (a.y + b.y) / 2 - gesture.mid.y;
      redraw();
      return;
    }
    const dx = e.clientX - gesture.x;
    const dy = e.clientY - gesture.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) gesture.moved = true;
    if (gesture.kind === 'scroll') {
      const step = Math.round(dy / 12);
      if (gesture.index + step !== state.index) show(gesture.index + step);
    } else if (gesture.kind === 'window' && gesture.window) {
      setWindow({ ...gesture.window, ...dragWindow(gesture.window, dx, dy) });
    } else if (gesture.kind === 'pan') {
      state.panX = gesture.panX + dx;
      state.panY = gesture.panY + dy;
      redraw();
    }
  });
  const end = (e) => {
    if (gesture && gesture.kind === 'measure' && !gesture.moved && pointers.size === 1) {
      measurePoint(toImage(e.clientX, e.clientY));
    }
    pointers.delete(e.pointerId);
    if (pointers.size === 0) gesture = null;
  };
  stage.addEventListener('pointerup', end);
  stage.addEventListener('pointercancel', end);
  stage.addEventListener('wheel', (e) => {
    e.preventDefault();
    if (e.ctrlKey) {
      state.zoom = Math.max(0.25, Math.min(16, state.zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1)));
      redraw();
    } else {
      show(state.index + (e.deltaY > 0 ? 1 : -1));
    }
  }, { passive: false });
  window.addEventListener('keydown', (e) => {
    if ($('viewer').hidden || e.target.tagName === 'INPUT' && e.target.type !== 'range') return;
    const keys = {
      ArrowDown: () => show(state.index + 1), ArrowRight: () => show(state.index + 1),
      ArrowUp: () => show(state.index - 1), ArrowLeft: () => show(state.index - 1),
      PageDown: () => show(state.index + 10), PageUp: () => show(state.index - 10),
      Home: () => show(0), End: () => show(state.slices.length - 1),
      '+': () => { state.zoom = Math.min(16, state.zoom * 1.25); redraw(); },
      '-': () => { state.zoom = Math.max(0.25, state.zoom / 1.25); redraw(); },
      r: reset, ' ': () => (state.playing ? stop() : play()),
    };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });
  $('slider').addEventListener('input', () => show(Number($('slider').value)));
  for (const b of document.querySelectorAll('[data-tool]')) {
    b.addEventListener('click', () => {
      state.tool = b.dataset.tool;
      for (const o of document.querySelectorAll('[data-tool]')) o.classList.toggle('active', o === b);
      if (state.tool !== 'measure') { state.measure = []; state.measureText = ''; redraw(); }
    });
  }
  $('play').addEventListener('click', () => (state.playing ? stop() : play()));
  $('speed').addEventListener('change', () => { if (state.playing) { stop(); play(); } });
  $('reset').addEventListener('click', reset);
  $('lang').addEventListener('click', () => {
    state.lang = state.lang === 'ja' ? 'en' : 'ja';
    window.localStorage.setItem('tsunagu.lang', state.lang);
    applyLanguage();
  });
  window.addEventListener('resize', redraw);
}

function applyLanguage() {
  applyStaticTexts(document, state.lang);
  $('lang').textContent = state.lang === 'ja' ? 'EN' : '日本語';
  $('play').textContent = state.playing ? texts(state.lang).pause : texts(state.lang).play;
  if (state.summary && !$('viewer').hidden) { buildPresets(); updateOverlay(); }
  else if (!$('message').hidden) showPage(document.getElementById('app').dataset.state);
}

function buildStrip() {
  const strip = $('strip');
  strip.textContent = '';
  state.summary.series.forEach((series, i) => {
    const b = document.createElement('button');
    b.dataset.series = String(i);
    const img = document.createElement('img');
    img.alt = '';
    img.src = series.thumbnail_url;
    const label = document.createElement('div');
    label.textContent = `${series.modality} ${series.number ?? ''} (${series.frame_count})`;
    b.append(img, label);
    b.addEventListener('click', () => selectSeries(i));
    strip.appendChild(b);
  });
}

function startViewer() {
  showPage('viewer');
  const dpr = window.devicePixelRatio || 1;
  const stage = $('stage');
  state.viewport = Math.min(1024, Math.ceil(Math.max(stage.clientWidth, stage.clientHeight) * dpr));
  buildStrip();
  applyLanguage();
  selectSeries(0);
}

// Read-only hooks for the browser tests.
window.__tsunagu = {
  snapshot: () => ({
    state: document.getElementById('app').dataset.state,
    seriesIndex: state.seriesIndex, index: state.index, total: state.slices.length,
    window: state.window, zoom: state.zoom, panX: state.panX, panY: state.panY,
    measureText: state.measureText, playing: state.playing, lang: state.lang,
    prefetched: prefetchedCount(), firstImageMs: state.stats.firstImageMs,
    latencies: [...state.stats.latencies], tool: state.tool,
  }),
  imageToClient: (x, y) => {
    const rect = $('stage').getBoundingClientRect();
    const t = transform(rect.width, rect.height, currentImage());
    return { x: rect.left + t.x + x * t.scale, y: rect.top + t.y + y * t.scale };
  },
};

$('code-form').addEventListener('submit', submitCode);
applyLanguage();
installInput();
loadSummary();
