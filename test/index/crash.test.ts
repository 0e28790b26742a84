// Crash safety of the index folder: rows past the committed count (a crash between the vectors
// append and the SQLite commit) are ignored and overwritten; a truncated vectors file is refused;
// an interrupted compaction is finished or discarded on open.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddingIndex, type IndexIdentity, type SearchHit } from '../../src/index/index.js';
import { Rng } from '../../src/data/rng.js';

const root = mkdtempSync(join(tmpdir(), 'retalign-index-crash-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `ix${n++}`);
const ID: IndexIdentity = { checkpointId: 'ck-1', modelName: 'tiny', dim: 8, embeddingSpace: 'projection-pre-fusion' };
const HEADER = 32;
const ROW = 8 * 4;
const ids = (hits: SearchHit[]): string[] => hits.map((h) => `${h.kind}:${h.id}`);

function randomVec(rng: Rng): Float32Array {
  return Float32Array.from({ length: 8 }, () => rng.normal());
}

/** An index with 10 images and 10 notes, closed; returns its folder. */
function build(dir: string, rng: Rng): string {
  const ix = EmbeddingIndex.create(dir, ID);
  ix.add(Array.from({ length: 20 }, (_, i) => ({ id: `e${i % 10}`, kind: (i < 10 ? 'image' : 'note') as 'image' | 'note', vector: randomVec(rng) })));
  ix.close();
  return dir;
}

/** Copies the index files of a CLOSED index (the WAL is checkpointed on close). */
function copyIndex(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of ['vectors.f32', 'meta.sqlite']) copyFileSync(join(from, f), join(to, f));
}

test('rows past the committed count (crash before commit) are ignored, then overwritten by the next add', () => {
  const rng = new Rng(1);
  const dir = build(freshDir(), rng);
  const q = randomVec(rng);
  const before = EmbeddingIndex.open(dir);
  const want = before.search(q, { k: 20 });
  before.close();
  const vec = join(dir, 'vectors.f32');
  // three whole rows of huge values plus a torn partial row, as a crash mid-append would leave
  const junk = new Float32Array(3 * 8 + 3).fill(1e30);
  appendFileSync(vec, Buffer.from(junk.buffer));
  const ix = EmbeddingIndex.open(dir);
  assert.equal(ix.size, 20);
  assert.deepEqual(ix.search(q, { k: 20 }), want);
  const newVec = randomVec(rng);
  ix.add([{ id: 'late', kind: 'image', vector: newVec }]);
  assert.equal(ix.get('late')!.row, 20); // written over the first junk row
  ix.close();
  const re = EmbeddingIndex.open(dir);
  assert.equal(re.size, 21);
  assert.deepEqual(ids(re.search(newVec, { k: 1 })), ['image:late']);
  const hits = re.search(q, { k: 21 });
  assert.ok(hits.every((h) => Math.abs(h.score) <= 1 + 1e-6), 'no junk row is searchable');
  re.close();
});

test('a vectors file shorter than the committed rows is refused with a clear error', () => {
  const dir = build(freshDir(), new Rng(2));
  const vec = join(dir, 'vectors.f32');
  assert.equal(statSync(vec).size, HEADER + 20 * ROW);
  truncateSync(vec, HEADER + 19 * ROW + 5); // half of the last committed row is gone
  assert.throws(() => EmbeddingIndex.open(dir), /holds 19 whole rows but meta.sqlite committed 20: the vectors file was truncated/);
  truncateSync(vec, 10);
  assert.throws(() => EmbeddingIndex.open(dir), /shorter than the 32-byte header/);
});

test('a vectors file from another compaction generation is refused', () => {
  const rng = new Rng(3);
  const dir = build(freshDir(), rng);
  const old = freshDir();
  copyIndex(dir, old);
  const ix = EmbeddingIndex.open(dir);
  ix.delete(['e1']);
  ix.compact();
  ix.close();
  copyFileSync(join(old, 'vectors.f32'), join(dir, 'vectors.f32')); // generation 0 beside a generation-1 database
  assert.throws(() => EmbeddingIndex.open(dir), /generation 0, meta.sqlite expects 1/);
});

test('compaction interrupted after its commit is finished on open; before its commit, discarded', () => {
  const rng = new Rng(4);
  const base = build(freshDir(), rng);
  const q = randomVec(rng);
  {
    const ix = EmbeddingIndex.open(base);
    ix.delete(['e3', 'e7']);
    ix.close();
  }
  const preDir = freshDir();
  copyIndex(base, preDir); // state before compaction (generation 0, 16 live of 20 rows)
  const pre = EmbeddingIndex.open(preDir);
  const want = pre.search(q, { k: 20 });
  pre.close();
  const ix = EmbeddingIndex.open(base);
  ix.compact();
  ix.close(); // base: generation 1, 16 rows

  // (a) crashed after the SQLite commit, before the rename: new database, old vectors.f32, new compact file
  const a = freshDir();
  mkdirSync(a);
  copyFileSync(join(base, 'meta.sqlite'), join(a, 'meta.sqlite'));
  copyFileSync(join(preDir, 'vectors.f32'), join(a, 'vectors.f32'));
  copyFileSync(join(base, 'vectors.f32'), join(a, 'vectors.compact.f32'));
  const ra = EmbeddingIndex.open(a);
  assert.equal(existsSync(join(a, 'vectors.compact.f32')), false);
  assert.equal(statSync(join(a, 'vectors.f32')).size, HEADER + 16 * ROW);
  assert.equal(ra.size, 16);
  assert.deepEqual(ids(ra.search(q, { k: 20 })), ids(want));
  ra.close();

  // (b) crashed before the commit: old database and vectors, a finished or torn compact file
  for (const torn of [false, true]) {
    const b = freshDir();
    copyIndex(preDir, b);
    copyFileSync(join(base, 'vectors.f32'), join(b, 'vectors.compact.f32'));
    if (torn) truncateSync(join(b, 'vectors.compact.f32'), 12);
    const rb = EmbeddingIndex.open(b);
    assert.equal(existsSync(join(b, 'vectors.compact.f32')), false);
    assert.equal(statSync(join(b, 'vectors.f32')).size, HEADER + 20 * ROW);
    assert.deepEqual(rb.search(q, { k: 20 }), want);
    rb.close();
  }
});
