// retalign web page: plain ES module, no build step, no dependencies. Talks to the same origin's API
// (/openapi.json describes it); sends the bearer token when the server requires one.
const $ = (id) => document.getElementById(id);

const ICDR = ['0 no DR', '1 mild NPDR', '2 moderate NPDR', '3 severe NPDR', '4 PDR'];
const SDRG = ['R0 none', 'R1 mild', 'R2 observable', 'R3 referable', 'R4 proliferative'];
const TOKEN_KEY = 'retalign-token';
const LABELS = { age: 'Age (years)', sex: 'Sex', diabetes: 'Diabetes', diabetes_time: 'Years with diabetes', insulin: 'On insulin', comorbidities: 'Comorbidities', eye: 'Eye' };

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let objectUrls = [];
// Opened from a folder made by `retalign export web`: no API, the photo is graded on this device only.
const STATIC = document.querySelector('meta[name="retalign-static"]') !== null;
let device = null; // the on-device model (ondevice.js), loaded on first use

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

/** fetch with the bearer token; throws an Error carrying the server's message. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers || {});
  if (token) headers.set('Authorization', `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.message) message = body.message;
    } catch { /* not JSON */ }
    if (res.status === 401) $('token-section').hidden = false;
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res;
}

function el(tag, props = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function percent(p) {
  return `${(100 * p).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1)}%`;
}

/** An authenticated image (case photos need the token, so <img src> cannot fetch them itself). */
async function loadImage(img, url) {
  try {
    const res = await api(url);
    const u = URL.createObjectURL(await res.blob());
    objectUrls.push(u);
    img.src = u;
  } catch {
    img.alt = `${img.alt} (unavailable)`;
  }
}

function releaseImages() {
  for (const u of objectUrls) URL.revokeObjectURL(u);
  objectUrls = [];
}

function caseCard(hit) {
  const c = hit.case;
  const grades = `ICDR ${c.icdr ?? '–'} · SDRG ${c.sdrg ?? '–'}`;
  const img = el('img', { alt: `Fundus photo of case ${c.id}, ${grades}` });
  if (c.imageUrl) loadImage(img, `${c.imageUrl}?size=256`);
  const meta = el('div', { class: 'meta' }, [
    el('span', { text: c.id }),
    el('span', { class: 'score', text: hit.score.toFixed(3), title: 'cosine similarity' }),
  ]);
  const line = el('div', { class: 'grades' }, [grades]);
  if (c.referable) line.append(' · ', el('span', { class: 'ref', text: 'referable' }));
  const body = el('div', { class: 'body' }, [meta, line]);
  if (c.note) body.append(el('p', { class: 'note', text: c.note }));
  return el('li', { class: 'case' }, [img, body]);
}

function renderBars(list, scale, names) {
  list.replaceChildren();
  scale.probabilities.forEach((p, k) => {
    const fill = el('div', { class: 'fill' });
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    const li = el('li', { class: k === scale.grade ? 'top' : '' }, [
      el('span', { class: 'name', text: names[k] }),
      el('div', { class: 'track', 'aria-hidden': 'true' }, [fill]),
      el('span', { class: 'pct', text: percent(p) }),
    ]);
    list.append(li);
  });
}

function renderGrade(r, file) {
  const photoUrl = URL.createObjectURL(file);
  objectUrls.push(photoUrl);
  $('photo').src = photoUrl;
  if (r.heatmap) {
    $('heatmap').src = `data:${r.heatmap.mediaType};base64,${r.heatmap.base64}`;
    $('heatmap').parentElement.hidden = false;
  } else {
    $('heatmap').parentElement.hidden = true;
  }
  renderBars($('icdr-bars'), r.icdr, ICDR);
  renderBars($('sdrg-bars'), r.sdrg, SDRG);
  const ref = $('referable');
  ref.className = `referable ${r.referable.flag ? 'yes' : 'no'}`;
  ref.textContent = r.referable.flag
    ? `Referable DR likely: P(ICDR ≥ 2) = ${percent(r.referable.probability)}`
    : `Referable DR unlikely: P(ICDR ≥ 2) = ${percent(r.referable.probability)}`;
  const cal = r.calibration.fitted
    ? `calibrated on the validation split (${r.calibration.exams} exams; temperatures ${r.calibration.icdrTemperature.toFixed(2)} / ${r.calibration.sdrgTemperature.toFixed(2)})`
    : `NOT calibrated: raw model probabilities (${r.calibration.note})`;
  const inputs = ['photo', ...(r.used.note ? ['note'] : []), ...(r.used.fields.length ? [`${r.used.fields.length} patient field(s)`] : [])];
  $('confidence').textContent = `Confidence: ICDR ${ICDR[r.icdr.grade]} at ${percent(r.icdr.confidence)}, SDRG ${SDRG[r.sdrg.grade]} at ${percent(r.sdrg.confidence)}; ${cal}. Inputs: ${inputs.join(' + ')}.`;
  $('result').hidden = false;
  $('result-status').textContent = `Graded: ICDR ${ICDR[r.icdr.grade]}, SDRG ${SDRG[r.sdrg.grade]}, ${r.referable.flag ? 'referable' : 'not referable'}.`;
  const similar = $('similar');
  similar.replaceChildren(...r.similar.map(caseCard));
  $('similar-section').hidden = r.similar.length === 0;
}

function fieldInput(f) {
  const id = `f-${f.name}`;
  const wrap = el('div', { class: 'field' });
  const label = el('label', { for: id, text: LABELS[f.name] || f.name.replace(/_/g, ' ') });
  label.title = f.help;
  let input;
  if (f.kind === 'number') {
    input = el('input', { id, name: f.name, type: 'number', min: String(f.min), max: String(f.max), step: 'any', inputmode: 'decimal' });
  } else if (f.kind === 'boolean' || f.kind === 'choice') {
    const values = f.kind === 'boolean' ? ['yes', 'no'] : f.values;
    input = el('select', { id, name: f.name }, [el('option', { value: '', text: 'unknown' }), ...values.map((v) => el('option', { value: v, text: v }))]);
  } else {
    input = el('input', { id, name: f.name, type: 'text', maxlength: '500' });
  }
  input.setAttribute('aria-describedby', `${id}-help`);
  wrap.append(label, input, el('span', { id: `${id}-help`, class: 'hint', hidden: '' , text: f.help }));
  return wrap;
}

/** The patient fields worth a form control: the common ones first, at most eight. */
function renderFields(fields) {
  const order = ['age', 'sex', 'diabetes', 'diabetes_time', 'insulin', 'comorbidities', 'eye'];
  const shown = fields.filter((f) => order.includes(f.name)).sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  $('patient-inputs').replaceChildren(...shown.map(fieldInput));
  onSwitch();
  $('patient-fields').hidden = shown.length === 0;
}

/** Says so next to the rankings when the model's embeddings barely differ (an undertrained model). */
function showSpreadNotes(spread) {
  const collapsed = (c) => typeof c === 'number' && c > spread.collapsedAbove;
  const image = spread !== null && collapsed(spread.image);
  const note = spread !== null && collapsed(spread.note);
  $('similar-note').hidden = !image;
  $('similar-note').textContent = image
    ? `This model barely tells photos apart (mean cosine ${spread.image.toFixed(3)} between indexed photos): ` +
      'the order of the similar cases below is close to arbitrary.'
    : '';
  $('search-note').hidden = !(image || note);
  $('search-note').textContent = image || note
    ? `This model's ${image ? 'photo' : 'note'} embeddings barely differ (mean cosine ` +
      `${(image ? spread.image : spread.note).toFixed(3)}): text search results are close to an arbitrary pick.`
    : '';
}

async function loadInfo() {
  const info = await (await api('/v1/info')).json();
  $('model-line').textContent = `Model ${info.model} · checkpoint ${info.checkpointId.slice(0, 10)}` +
    (info.index ? ` · ${info.index.cases ?? info.index.items} ${info.index.cases === null ? 'items' : 'cases'} indexed` : ' · no index');
  renderFields(info.fields);
  showSpreadNotes(info.index?.meanPairwiseCosine ?? null);
  $('grade-button').disabled = !info.gradeHeads;
  if (!info.gradeHeads) $('result-status').textContent = 'This model has no grade heads: only search is available.';
}

/** The on-device model, loaded once from this page's web/ folder (model.json, model.onnx, ort/). */
async function onDevice() {
  if (device === null) {
    $('result-status').textContent = 'Loading the model into this browser…';
    const { loadOnDevice } = await import('./ondevice.js');
    device = await loadOnDevice(new URL('./', import.meta.url), token);
  }
  return device;
}

/** The switch: on-device grading reads the photo alone, so the note and patient fields are disabled. */
function onSwitch() {
  const on = $('on-device').checked;
  $('note').disabled = on;
  for (const input of $('patient-inputs').querySelectorAll('input, select')) input.disabled = on;
}

async function gradeHere(file) {
  const d = await onDevice();
  releaseImages();
  const r = await d.grade(file);
  renderGrade(r, file);
  $('device-line').textContent = `Graded on this device by ${d.meta.model} (ONNX, WebAssembly, ${d.threads} thread${d.threads === 1 ? '' : 's'}) ` +
    `in ${Math.round(r.onDevice.ms)} ms; the photo was not uploaded.`;
  $('device-line').hidden = false;
}

async function onGrade(ev) {
  ev.preventDefault();
  clearError();
  const file = $('image').files[0];
  if (!file) return;
  if ($('on-device').checked) {
    $('grade-button').disabled = true;
    $('result-status').textContent = 'Grading on this device…';
    try {
      await gradeHere(file);
    } catch (e) {
      $('result-status').textContent = 'Grading failed.';
      showError(e.message);
    } finally {
      $('grade-button').disabled = false;
    }
    return;
  }
  $('device-line').hidden = true;
  const form = new FormData();
  form.append('image', file, file.name);
  const note = $('note').value.trim();
  if (note) form.append('note', note);
  for (const input of $('patient-inputs').querySelectorAll('input, select')) {
    if (input.value.trim() !== '') form.append(input.name, input.value.trim());
  }
  form.append('k', '6');
  $('grade-button').disabled = true;
  $('result-status').textContent = 'Grading…';
  try {
    releaseImages();
    const r = await (await api('/v1/grade', { method: 'POST', body: form })).json();
    renderGrade(r, file);
  } catch (e) {
    $('result-status').textContent = 'Grading failed.';
    showError(e.message);
  } finally {
    $('grade-button').disabled = false;
  }
}

async function onSearch(ev) {
  ev.preventDefault();
  clearError();
  const query = $('query').value.trim();
  if (!query) return;
  $('search-button').disabled = true;
  $('search-status').textContent = 'Searching…';
  try {
    const body = JSON.stringify({ query, k: Number($('k').value) });
    const r = await (await api('/v1/search/text', { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json();
    $('search-results').replaceChildren(...r.results.map(caseCard));
    $('search-status').textContent = r.results.length ? `${r.results.length} cases, best match first.` : 'No cases indexed.';
  } catch (e) {
    $('search-status').textContent = 'Search failed.';
    showError(e.message);
  } finally {
    $('search-button').disabled = false;
  }
}

async function onToken(ev) {
  ev.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  clearError();
  try {
    await loadInfo();
    $('token-section').hidden = true;
  } catch (e) {
    showError(e.message);
  }
}

async function start() {
  $('grade-form').addEventListener('submit', onGrade);
  $('search-form').addEventListener('submit', onSearch);
  $('token-form').addEventListener('submit', onToken);
  $('on-device').addEventListener('change', onSwitch);
  if (STATIC) {
    $('on-device').checked = true;
    $('on-device').disabled = true;
    onSwitch();
    $('search-section').hidden = true;
    try {
      const d = await onDevice();
      $('model-line').textContent = `Model ${d.meta.model} · checkpoint ${d.meta.checkpointId.slice(0, 10)} · on this device only`;
      $('result-status').textContent = 'Upload a photo to see its grades.';
    } catch (e) {
      $('model-line').textContent = 'The model could not be loaded.';
      showError(e.message);
    }
    return;
  }
  try {
    const health = await (await fetch('/healthz')).json();
    if (health.authRequired && !token) {
      $('token-section').hidden = false;
      $('model-line').textContent = 'Enter the access token to start.';
      return;
    }
    await loadInfo();
  } catch (e) {
    $('model-line').textContent = 'Not connected.';
    showError(e.message);
  }
}

start();
