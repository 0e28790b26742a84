import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PythonPeer, forced, median, torchRelease, torchVersionLine } from '../../bench/common/peer.js';

test('torchRelease keeps major.minor.patch and drops suffixes', () => {
  assert.equal(torchRelease('1.13.0a0'), '1.13.0');
  assert.equal(torchRelease('2.1.2+cpu'), '2.1.2');
  assert.equal(torchRelease('1.13.1+debian'), '1.13.1');
  assert.equal(torchRelease(' 2.4.0 '), '2.4.0');
  assert.equal(torchRelease('1.13'), null);
  assert.equal(torchRelease('unknown'), null);
});

test('torchVersionLine passes equal releases and fails different or unreadable ones', () => {
  const saved = process.env['RETALIGN_BENCH_FORCE'];
  delete process.env['RETALIGN_BENCH_FORCE'];
  try {
    assert.match(torchVersionLine('bench/x', '1.13.0', '1.13.0a0', 'python'), /same release 1\.13\.0/);
    assert.throws(() => torchVersionLine('bench/x', '1.13.0', '1.13.1', 'python'), /bench\/x: FAIL .*1\.13\.0 vs 1\.13\.1/);
    assert.throws(() => torchVersionLine('bench/x', '2.1.0', '1.13.0+cpu', 'python'), /2\.1\.0 vs 1\.13\.0/);
    assert.throws(() => torchVersionLine('bench/x', '1.13.0', 'undefined', 'python'), /unreadable 'undefined'/);
    process.env['RETALIGN_BENCH_FORCE'] = 'version';
    assert.throws(() => torchVersionLine('bench/x', '1.13.0', '1.13.0a0', 'python'), /forced by RETALIGN_BENCH_FORCE=version.*1\.13\.0 vs 1\.14\.0/);
  } finally {
    if (saved === undefined) delete process.env['RETALIGN_BENCH_FORCE'];
    else process.env['RETALIGN_BENCH_FORCE'] = saved;
  }
});

test('forced reads a comma list and rejects unknown names', () => {
  const saved = process.env['RETALIGN_BENCH_FORCE'];
  try {
    process.env['RETALIGN_BENCH_FORCE'] = 'top10, same-work';
    assert.equal(forced('top10'), true);
    assert.equal(forced('same-work'), true);
    assert.equal(forced('version'), false);
    process.env['RETALIGN_BENCH_FORCE'] = 'versoin';
    assert.throws(() => forced('version'), /'versoin' is not a check; expected a comma list of version, same-work, top10/);
  } finally {
    if (saved === undefined) delete process.env['RETALIGN_BENCH_FORCE'];
    else process.env['RETALIGN_BENCH_FORCE'] = saved;
  }
});

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), /no values/);
});

// A peer in a few lines of Python, speaking the protocol of bench/common/peer_io.py.
const ECHO = [
  'import json, sys',
  'print(json.dumps({"torch": "1.13.0"}), flush=True)',
  'for line in sys.stdin:',
  '    c = json.loads(line)',
  '    if c["cmd"] == "die": sys.exit(3)',
  '    print(json.dumps({"error": "bad"} if c["cmd"] == "bad" else {"twice": 2 * c["x"]}), flush=True)',
].join('\n');

test('PythonPeer: ready line, replies, error replies and an early exit', async () => {
  const peer = await PythonPeer.start('bench/test', 'python3', ['-c', ECHO]);
  assert.deepEqual(peer.ready, { torch: '1.13.0' });
  assert.deepEqual(await peer.ask({ cmd: 'x', x: 21 }), { twice: 42 });
  await assert.rejects(peer.ask({ cmd: 'bad' }), /bench\/test: the Python peer .* failed: bad/);
  await assert.rejects(peer.ask({ cmd: 'die' }), /exited with code 3/);
  await peer.close();
});
