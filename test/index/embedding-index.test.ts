// EmbeddingIndex: add/search/get/delete/compact round trips on hand-checkable vectors, kind
// filter, identity refusal, validation, incremental updates, and a flat live-tensor count.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, liveTensors } from '../../src/tensor/index.js';
import { EmbeddingIndex, type IndexIdentity, type SearchHit } from '../../src/index/index.js';

const root = mkdtempSync(join(tmpdir(), 'retalign-index-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `ix${n++}`);
const ID: IndexIdentity = { checkpointId: 'ck-aaa', modelName: 'tiny', dim: 4, embeddingSpace: 'projection-pre-fusion' };
const v = (...x: number[]): Float32Array => new Float32Array(x);
const ids = (hits: SearchHit[]): string[] => hits.map((h) => `${h.kind}:${h.id}`);
const near = (a: number, b: number, tol = 1e-6): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

/** Query e0 scores: a 1, b 0.8, n 0.6, c 0 (all distinct). */
function fixture(dir: string): EmbeddingIndex {
  const ix = EmbeddingIndex.create(dir, ID);
  ix.add([
    { id: 'a', kind: 'image', vector: v(1, 0, 0, 0), meta: { patientId: 'p1', imagePath: 'fundus/a.jpg', icdr: 0, sdrg: 0 } },
    { id: 'b', kind: 'image', vector: v(4, 3, 0, 0), meta: { patientId: 'p1', imagePath: 'fundus/b.jpg', icdr: 2, sdrg: 3, extras: { eye: 'left', camera: 'Canon CR' } } },
    { id: 'c', kind: 'image', vector: v(0, 0, 5, 0), meta: { patientId: 'p2', imagePath: 'fundus/c.jpg' } },
    { id: 'a', kind: 'note', vector: v(0.6, 0.8, 0, 0), meta: { patientId: 'p1', note: 'no retinopathy' } },
  ]);
  return ix;
}

test('add, search, get: unit axes with hand-computed cosines, vectors normalized on the way in', () => {
  const ix = fixture(freshDir());
  assert.equal(ix.size, 4);
  const hits = ix.search(v(2, 0, 0, 0), { k: 3 }); // query normalized too
  assert.deepEqual(ids(hits), ['image:a', 'image:b', 'note:a']);
  near(hits[0]!.score, 1);
  near(hits[1]!.score, 0.8);
  near(hits[2]!.score, 0.6);
  assert.deepEqual(hits[1]!.meta, { patientId: 'p1', imagePath: 'fundus/b.jpg', note: null, icdr: 2, sdrg: 3, extras: { eye: 'left', camera: 'Canon CR' } });
  // k larger than the index
  assert.deepEqual(ids(ix.search(v(1, 0, 0, 0), { k: 50 })), ['image:a', 'image:b', 'note:a', 'image:c']);
  // stored vectors are unit: (4, 3, 0, 0) -> (0.8, 0.6, 0, 0)
  const b = ix.get('b')!;
  assert.deepEqual(Array.from(b.vector), [0.8, 0.6, 0, 0].map(Math.fround));
  assert.equal(b.kind, 'image');
  assert.equal(b.row, 1);
  assert.equal(ix.get('zzz'), undefined);
  assert.equal(ix.get('a', 'note')!.meta.note, 'no retinopathy');
  assert.throws(() => ix.get('a'), /id 'a' has image and note items; pass the kind/);
  ix.close();
  assert.throws(() => ix.size, /is closed/);
});

test('kind filter masks the other kind exactly, even when it fills the whole top-k', () => {
  const ix = EmbeddingIndex.create(freshDir(), ID);
  // 40 notes right next to the query, 3 images far away
  ix.add(Array.from({ length: 40 }, (_, i) => ({ id: `n${i}`, kind: 'note' as const, vector: v(1, 0.001 * i, 0, 0) })));
  ix.add([
    { id: 'i0', kind: 'image', vector: v(0, 1, 0, 0) },
    { id: 'i1', kind: 'image', vector: v(0.1, 1, 0, 0) },
    { id: 'i2', kind: 'image', vector: v(-1, 0, 0, 0) },
  ]);
  assert.deepEqual(ids(ix.search(v(1, 0, 0, 0), { k: 5, kind: 'image' })), ['image:i1', 'image:i0', 'image:i2']);
  assert.deepEqual(ids(ix.search(v(1, 0, 0, 0), { k: 2, kind: 'note' })), ['note:n0', 'note:n1']);
  assert.equal(ix.search(v(1, 0, 0, 0), { k: 100, kind: 'note' }).length, 40);
  assert.equal(ix.search(v(1, 0, 0, 0), { k: 100 }).length, 43);
  ix.close();
});

test('re-adding a key replaces it; delete hides; compact rewrites without deleted rows', () => {
  const dir = freshDir();
  const ix = fixture(dir);
  ix.add([{ id: 'c', kind: 'image', vector: v(0.9, 0, 0.1, 0), meta: { patientId: 'p2', imagePath: 'fundus/c2.jpg' } }]);
  assert.equal(ix.size, 4);
  assert.equal(ix.get('c')!.meta.imagePath, 'fundus/c2.jpg');
  assert.equal(ix.get('c')!.row, 4); // appended; row 2 is now a deleted row
  assert.deepEqual(ids(ix.search(v(1, 0, 0, 0), { k: 3, kind: 'image' })), ['image:a', 'image:c', 'image:b']);

  assert.equal(ix.delete(['b', 'nope']), 1);
  assert.equal(ix.size, 3);
  assert.equal(ix.get('b'), undefined);
  assert.deepEqual(ids(ix.search(v(1, 0, 0, 0), { k: 10 })), ['image:a', 'image:c', 'note:a']);
  assert.equal(ix.delete(['a'], 'note'), 1);
  assert.deepEqual(ids(ix.search(v(1, 0, 0, 0), { k: 10 })), ['image:a', 'image:c']);
  const before = ix.search(v(0.3, 0.2, 0.1, 0), { k: 10 });

  const vecPath = join(dir, 'vectors.f32');
  assert.equal(statSync(vecPath).size, 32 + 5 * 4 * 4);
  ix.compact();
  assert.equal(statSync(vecPath).size, 32 + 2 * 4 * 4);
  assert.equal(ix.size, 2);
  assert.equal(ix.get('a')!.row, 0);
  assert.equal(ix.get('c')!.row, 1);
  assert.deepEqual(Array.from(ix.get('c')!.vector), Array.from(v(0.9, 0, 0.1, 0).map((x) => x / Math.hypot(0.9, 0.1))));
  assert.deepEqual(ix.search(v(0.3, 0.2, 0.1, 0), { k: 10 }), before);
  // writes keep working after a compaction, and the result survives a reopen
  ix.add([{ id: 'd', kind: 'note', vector: v(0, 0, 0, 1) }]);
  ix.close();
  const re = EmbeddingIndex.open(dir, { expectCheckpointId: 'ck-aaa' });
  assert.equal(re.size, 3);
  assert.deepEqual(ids(re.search(v(0, 0, 0, 1), { k: 1 })), ['note:d']);
  assert.equal(re.delete(['a']), 1); // without kind: every kind of the id
  re.close();
});

test('delete without kind removes both the image and the note of an exam', () => {
  const ix = fixture(freshDir());
  assert.equal(ix.delete(['a']), 2);
  assert.equal(ix.size, 2);
  assert.deepEqual(ids(ix.search(v(1, 0, 0, 0), { k: 10 })), ['image:b', 'image:c']);
  ix.close();
});

test('reopen gives identical results; another checkpoint is refused naming both ids', () => {
  const dir = freshDir();
  const ix = fixture(dir);
  const q = v(0.1, 0.7, 0.2, 0.3);
  const before = ix.search(q, { k: 4 });
  ix.close();
  const re = EmbeddingIndex.open(dir);
  assert.deepEqual(re.identity, ID);
  assert.deepEqual(re.search(q, { k: 4 }), before);
  re.close();
  assert.throws(() => EmbeddingIndex.open(dir, { expectCheckpointId: 'ck-bbb' }),
    /built from checkpoint 'ck-aaa', but checkpoint 'ck-bbb' was given/);
  assert.throws(() => EmbeddingIndex.create(dir, ID), /already holds an index/);
  assert.throws(() => EmbeddingIndex.open(freshDir()), /holds no meta.sqlite/);
  assert.throws(() => EmbeddingIndex.create(freshDir(), { ...ID, dim: 0 }), /identity.dim must be an integer/);
  assert.throws(() => EmbeddingIndex.create(freshDir(), { ...ID, checkpointId: '' }), /identity.checkpointId/);
});

test('ids, kinds, vectors and metadata are validated before anything is written', () => {
  const dir = freshDir();
  const ix = EmbeddingIndex.create(dir, ID);
  const ok = v(1, 0, 0, 0);
  for (const bad of ['', '../x', 'a/b', 'a\\b', '.hidden', '-x', 'a b', 'x'.repeat(201), 'é']) {
    assert.throws(() => ix.add([{ id: bad, kind: 'image', vector: ok }]), /is not a safe id/, JSON.stringify(bad));
  }
  assert.throws(() => ix.get('../etc'), /is not a safe id/);
  assert.throws(() => ix.delete(['ok', 'a/b']), /ids\[1\].*is not a safe id/);
  ix.add([{ id: 'img_001.jpg', kind: 'image', vector: ok }, { id: 'A-1', kind: 'note', vector: ok }]);
  assert.throws(() => ix.add([{ id: 'x', kind: 'tabular' as 'image', vector: ok }]), /kind "tabular" is not valid/);
  assert.throws(() => ix.add([{ id: 'x', kind: 'image', vector: v(1, 0, 0) }]), /length 3, the index width is 4/);
  assert.throws(() => ix.add([{ id: 'x', kind: 'image', vector: v(1, NaN, 0, 0) }]), /vector\[1\] is NaN/);
  assert.throws(() => ix.add([{ id: 'x', kind: 'image', vector: v(0, 0, 0, 0) }]), /all zeros/);
  assert.throws(() => ix.add([{ id: 'x', kind: 'image', vector: ok, meta: { imagePath: '/abs/x.jpg' } }]), /relative to the data folder/);
  assert.throws(() => ix.add([{ id: 'x', kind: 'image', vector: ok, meta: { imagePath: 'a/../../x.jpg' } }]), /no '\.\.' segments/);
  assert.throws(() => ix.add([{ id: 'x', kind: 'image', vector: ok, meta: { icdr: 5 } }]), /meta.icdr 5 is not a grade/);
  assert.throws(() => ix.add([{ id: 'x', kind: 'image', vector: ok, meta: { grade: 1 } as never }]), /unknown key\(s\) grade/);
  // one bad item in a batch: nothing from the batch is written
  assert.throws(() => ix.add([{ id: 'y', kind: 'image', vector: ok }, { id: 'y/z', kind: 'image', vector: ok }]), /item 1/);
  assert.throws(() => ix.add([{ id: 'y', kind: 'image', vector: ok }, { id: 'y', kind: 'image', vector: ok }]), /appears twice/);
  assert.equal(ix.size, 2);
  assert.equal(statSync(join(dir, 'vectors.f32')).size, 32 + 2 * 16);
  assert.throws(() => ix.search(v(1, 0, 0), { k: 1 }), /m\*4 values, got length 3/);
  assert.throws(() => ix.search(ok, { k: 0 }), /k must be a positive integer/);
  assert.throws(() => ix.search(v(0, 0, 0, 0), { k: 1 }), /query 0: vector is all zeros/);
  ix.close();
});

test('searchBatch (Float32Array or Tensor) equals per-query search; empty index returns empty lists', () => {
  const ix = fixture(freshDir());
  const qs = v(1, 0, 0, 0, 0, 1, 0, 0, 0.2, 0.1, 0.9, 0);
  const batch = ix.searchBatch(qs, { k: 3, kind: 'image' });
  for (let i = 0; i < 3; i++) assert.deepEqual(batch[i], ix.search(qs.subarray(i * 4, i * 4 + 4), { k: 3, kind: 'image' }));
  const t = Tensor.from(qs, [3, 4]);
  assert.deepEqual(ix.searchBatch(t, { k: 3, kind: 'image' }), batch);
  assert.throws(() => ix.searchBatch(Tensor.from(qs, [4, 3]), { k: 1 }), /shape \[4, 3\], expected \[m, 4\]/);
  t.dispose();
  ix.close();
  const empty = EmbeddingIndex.create(freshDir(), ID);
  assert.deepEqual(empty.searchBatch(qs, { k: 3 }), [[], [], []]);
  empty.close();
});

test('incremental: adds and deletes between searches are seen; chunked index search equals unchunked', () => {
  const dir = freshDir();
  const ix = EmbeddingIndex.create(dir, ID);
  const chunked = (): EmbeddingIndex => EmbeddingIndex.open(dir, { chunkRows: 3 });
  const vec = (i: number): Float32Array => v(Math.cos(i), Math.sin(i), Math.cos(3 * i), 0.5);
  const q = v(1, 0.2, 0.3, 0.1);
  for (let round = 0; round < 4; round++) {
    ix.add(Array.from({ length: 7 }, (_, j) => ({ id: `r${round}x${j}`, kind: (j % 2 ? 'note' : 'image') as 'note' | 'image', vector: vec(round * 7 + j) })));
    if (round === 2) ix.delete(['r0x0', 'r1x3']);
    const c = chunked();
    for (const kind of [undefined, 'image', 'note'] as const) {
      const want = ix.search(q, { k: 6, kind });
      const got = c.search(q, { k: 6, kind });
      assert.deepEqual(ids(got), ids(want), `round ${round} kind ${String(kind)}`);
      got.forEach((h, i) => near(h.score, want[i]!.score));
    }
    c.close();
  }
  assert.equal(ix.size, 26);
  const all = ix.search(q, { k: 100 });
  assert.equal(all.length, 26);
  assert.ok(!all.some((h) => h.id === 'r0x0' || h.id === 'r1x3'));
  ix.close();
});

test('two handles on one folder see each other\'s writes', () => {
  const dir = freshDir();
  const a = fixture(dir);
  const b = EmbeddingIndex.open(dir);
  assert.deepEqual(ids(b.search(v(0, 0, 0.5, 1), { k: 1 })), ['image:c']);
  a.add([{ id: 'z', kind: 'image', vector: v(0, 0, 0, 1) }]);
  assert.deepEqual(ids(b.search(v(0, 0, 0.5, 1), { k: 1 })), ['image:z']);
  b.delete(['z']);
  assert.deepEqual(ids(a.search(v(0, 0, 0.5, 1), { k: 1 })), ['image:c']);
  b.compact();
  assert.deepEqual(ids(a.search(v(1, 0, 0, 0), { k: 2 })), ['image:a', 'image:b']);
  a.add([{ id: 'y', kind: 'note', vector: v(0, 0, 0, 1) }]);
  assert.equal(a.get('y')!.row, 4);
  assert.deepEqual(ids(b.search(v(0, 0, 0.5, 1), { k: 1 })), ['note:y']);
  a.close();
  b.close();
});

test('live-tensor count stays flat across searches, adds and deletes', () => {
  const ix = fixture(freshDir());
  ix.search(v(1, 0, 0, 0), { k: 2, kind: 'image' }); // loads the store and one mask
  const before = liveTensors();
  for (let i = 0; i < 10; i++) {
    ix.searchBatch(v(1, 0, 0, 0, 0, 1, 0, 0), { k: 3, kind: 'image' });
    ix.search(v(0, 1, 0, 0), { k: 3, kind: 'image' });
  }
  assert.equal(liveTensors(), before);
  ix.add([{ id: 'e', kind: 'image', vector: v(0, 0, 0, 1) }]);
  ix.delete(['e']);
  ix.search(v(1, 0, 0, 0), { k: 2, kind: 'image' });
  assert.equal(liveTensors(), before);
  ix.close();
  assert.equal(liveTensors(), before - 2); // the store and the image mask are released
});
