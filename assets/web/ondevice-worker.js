// The on-device model's worker: onnxruntime-web (WASM backend, served from this origin's web/ort/,
// never a CDN) runs model.onnx here, off the page's thread. Messages: {type: 'load', model, ort,
// threads} then {type: 'run', chw, size} -> the outputs as plain arrays and the run's milliseconds.
let session = null;

async function load({ model, headers, ort: base, threads }) {
  const ort = await import(new URL('ort.wasm.min.mjs', base).href);
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  const res = await fetch(model, { headers });
  if (!res.ok) throw new Error(`cannot load ${model} (${res.status} ${res.statusText})`);
  session = { ort, s: await ort.InferenceSession.create(new Uint8Array(await res.arrayBuffer()), { executionProviders: ['wasm'] }) };
  return { inputs: session.s.inputNames, outputs: session.s.outputNames };
}

async function run({ chw, size }) {
  if (session === null) throw new Error('the on-device model is not loaded');
  const t0 = performance.now();
  const out = await session.s.run({ image: new session.ort.Tensor('float32', chw, [1, 3, size, size]) });
  const ms = performance.now() - t0;
  const result = { ms };
  for (const [k, v] of Object.entries(out)) result[k] = Array.from(v.data);
  return result;
}

self.onmessage = async (ev) => {
  const { id, type } = ev.data;
  try {
    const result = type === 'load' ? await load(ev.data) : await run(ev.data);
    self.postMessage({ id, ok: true, result });
  } catch (e) {
    self.postMessage({ id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
};
