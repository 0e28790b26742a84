// A read-only index folder can be served: the server opens the index without writing anything
// (no WAL files, no compaction recovery), searches and cases work, and writes through that handle
// are refused by name. The server runs in a child process as an unprivileged user when the tests
// run as root (root writes through any file mode), so the folder really is read-only to it; the
// child also shows that a writable open fails there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { serveFixture, type ServeFixture } from './fixture.js';

let fx: ServeFixture;
const tmp = mkdtempSync(join(tmpdir(), 'retalign-serve-ro-'));
before(async () => {
  fx = await serveFixture();
});
after(() => {
  chmodSync(join(tmp, 'index'), 0o755);
  rmSync(tmp, { recursive: true, force: true });
});

const NOBODY = 65534;
const mod = (rel: string): string => pathToFileURL(join(import.meta.dirname, '..', '..', 'src', rel)).href;

test('a read-only index folder is served: search and cases answer, nothing is written, writes are refused', async () => {
  const ro = join(tmp, 'index');
  cpSync(fx.index, ro, { recursive: true });
  for (const f of readdirSync(ro)) chmodSync(join(ro, f), 0o444);
  chmodSync(ro, 0o555);
  chmodSync(tmp, 0o755);
  const before = readdirSync(ro).sort();
  const script = `
    const { startServer } = await import(${JSON.stringify(mod('serve/server.js'))});
    const { EmbeddingIndex } = await import(${JSON.stringify(mod('index/index.js'))});
    const out = {};
    try { EmbeddingIndex.open(${JSON.stringify(ro)}).close(); out.writableOpen = 'opened'; } catch (e) { out.writableOpen = e.message; }
    const s = await startServer({ checkpoint: ${JSON.stringify(fx.checkpoint)}, index: ${JSON.stringify(ro)}, host: '127.0.0.1', port: 0, rateLimit: null });
    try {
      const r = await fetch(s.url + '/v1/search/text', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'hard exudates', k: 3 }) });
      out.search = { status: r.status, ids: (await r.json()).results?.map((h) => h.case.id) };
      out.case = (await fetch(s.url + '/v1/cases/${fx.sampleId}')).status;
      try { s.index.delete(['${fx.sampleId}']); out.write = 'deleted'; } catch (e) { out.write = e.message; }
    } finally { await s.close(); }
    process.stdout.write(JSON.stringify(out));`;
  const asRoot = process.getuid?.() === 0;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script],
    { timeout: 120_000, ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}) });
  const out = JSON.parse(stdout) as { writableOpen: string; search: { status: number; ids: string[] }; case: number; write: string };
  // The folder is read-only to the server's user: opening it for writing fails there.
  assert.notEqual(out.writableOpen, 'opened');
  assert.match(out.writableOpen, /readonly database|unable to open|EACCES: permission denied/);
  assert.equal(out.search.status, 200);
  assert.equal(out.search.ids.length, 3);
  assert.equal(out.case, 200);
  assert.match(out.write, /^EmbeddingIndex: the index in .*index was opened read-only; open it without readOnly to change it$/);
  assert.deepEqual(readdirSync(ro).sort(), before, 'no -wal or -shm file appeared');
});
