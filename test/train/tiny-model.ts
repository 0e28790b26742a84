// Test helpers (not a test file): a tiny TrainableModel made of linear layers that emits every
// ModelOutput field, and an in-memory BatchSource over made-up samples: the loop's tests stay fast and model-agnostic.
import { Tensor, linear, embedding, dropout, noGrad, manualSeed, stack } from '../../src/tensor/index.js';
import type { Batch, ForwardOptions, ModelOutput, TrainableModel } from '../../src/models/types.js';
import type { BatchSource } from '../../src/train/index.js';
import { Rng } from '../../src/data/rng.js';

const E = 8; // shared embedding width
const V = 12; // vocabulary
const L = 4; // tokens per note
const F = 5; // tabular features
const PIX = 3 * 2 * 2; // a 2x2 RGB "image": 4 patches of 3 values

export class TinyModel implements TrainableModel {
  readonly name = 'tiny-test';
  private readonly p = new Map<string, Tensor>();
  /** When set, forward returns NaN MAE predictions on the call with this index (0-based). */
  nanAtCall: number | null = null;
  /** Dropout on the image branch (libtorch RNG) in training. */
  dropoutP = 0.1;
  calls = 0;

  constructor(seed: number) {
    manualSeed(seed);
    const w = (name: string, shape: number[], std: number): void => {
      this.p.set(name, Tensor.randn(shape).mul(std).requireGrad());
    };
    const z = (name: string, shape: number[]): void => {
      this.p.set(name, Tensor.zeros(shape).requireGrad());
    };
    w('image.proj.weight', [E, PIX], 0.3); z('image.proj.bias', [E]);
    w('text.tokenEmbedding', [V, E], 0.5);
    w('text.proj.weight', [E, E], 0.3); z('text.proj.bias', [E]);
    w('tabular.proj.weight', [E, F], 0.3); z('tabular.proj.bias', [E]);
    this.p.set('logitScale', Tensor.scalar(Math.log(1 / 0.07)).requireGrad());
    w('mae.decoder.weight', [4 * 3, E], 0.3); z('mae.decoder.bias', [4 * 3]);
    w('mlm.head.weight', [V, E], 0.3); z('mlm.head.bias', [V]);
    w('icdr.head.weight', [5, E], 0.3); z('icdr.head.bias', [5]);
    w('sdrg.head.weight', [5, E], 0.3); z('sdrg.head.bias', [5]);
  }

  private g(name: string): Tensor {
    const t = this.p.get(name);
    if (t === undefined) throw new Error(`no parameter ${name}`);
    return t;
  }

  namedParameters(): Map<string, Tensor> {
    return this.p;
  }

  decays(name: string, p: Tensor): boolean {
    return p.ndim >= 2 && !name.endsWith('Embedding');
  }

  forward(batch: Batch, o: ForwardOptions): ModelOutput {
    const call = this.calls++;
    const b = batch.size;
    const img = batch.images!.reshape([b, PIX]); // (B, 12)
    const imgH = dropout(linear(img, this.g('image.proj.weight'), this.g('image.proj.bias')), this.dropoutP, o.training); // (B, E)
    const tok = embedding(this.g('text.tokenEmbedding'), batch.tokenIds!); // (B, L, E)
    const txtH = linear(tok.mean(1), this.g('text.proj.weight'), this.g('text.proj.bias')); // (B, E)
    const tabH = linear(batch.tabular!, this.g('tabular.proj.weight'), this.g('tabular.proj.bias')); // (B, E)
    const pres = batch.present.to('float32'); // (B, 3)
    const hs = stack([imgH, txtH, tabH], 1); // (B, 3, E)
    const fused = hs.mul(pres.unsqueeze(2)).sum(1).div(pres.sum(1, true)); // (B, E): mean over presented modalities
    let mae: ModelOutput['mae'] = null;
    if (o.maeMaskRatio > 0) {
      const target = batch.images!.reshape([b, 3, 4]).transpose(1, 2); // (B, Np=4, 3)
      let pred = linear(fused, this.g('mae.decoder.weight'), this.g('mae.decoder.bias')).reshape([b, 4, 3]);
      if (this.nanAtCall === call) pred = pred.mul(Number.NaN);
      const mask = Tensor.rand([b, 4]).lt(o.maeMaskRatio).to('float32'); // (B, 4), libtorch RNG
      mae = { pred, target, mask };
    }
    let mlm: ModelOutput['mlm'] = null;
    if (o.mlmProb > 0) {
      const sel = Tensor.rand([b, L]).lt(o.mlmProb); // (B, L)
      const labels = batch.tokenIds!.maskedFill(sel.logicalNot(), -100);
      const logits = linear(tok.add(fused.unsqueeze(1)), this.g('mlm.head.weight'), this.g('mlm.head.bias')); // (B, L, V)
      mlm = { logits: logits.reshape([b * L, -1]), labels: labels.reshape([-1]) }; // (N, V), (N): every position, -100 where unselected

    }
    return {
      imageEmb: imgH.normalize(2, 1), textEmb: txtH.normalize(2, 1), tabEmb: tabH.normalize(2, 1),
      logitScale: this.g('logitScale'), fused, imageIcdrLogits: null, imageSdrgLogits: null,
      icdrLogits: linear(fused, this.g('icdr.head.weight'), this.g('icdr.head.bias')),
      sdrgLogits: linear(fused, this.g('sdrg.head.weight'), this.g('sdrg.head.bias')),
      mae, mlm,
    };
  }

  /** Copies of every parameter's values (for bit-for-bit comparisons). */
  snapshot(): Map<string, Float32Array> {
    return noGrad(() => new Map([...this.p].map(([k, t]) => [k, Float32Array.from(t.toArray() as Float32Array)])));
  }
}

/** A made-up sample: the grade drives the image, the note tokens and the tabular values. */
interface Sample { image: Float32Array; tokens: number[]; tab: Float32Array; icdr: number; note: number }

export function makeSamples(n: number, seed: number): Sample[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const grade = i % 5;
    const note = i % 7; // notes repeat: duplicates exercise the contrastive mask
    return {
      image: Float32Array.from({ length: PIX }, (_, k) => Math.sin(grade + k) + r.normal(0, 0.3)),
      tokens: [1, 2 + grade, 2 + ((note * 3) % 10), 2 + ((grade + note) % 10)],
      tab: Float32Array.from({ length: F }, (_, k) => (k === grade ? 1 : 0) + r.normal(0, 0.2)),
      icdr: grade,
      note,
    };
  });
}

export function collate(samples: readonly Sample[]): Batch {
  const b = samples.length;
  const img = new Float32Array(b * PIX);
  const tok = new BigInt64Array(b * L);
  const tab = new Float32Array(b * F);
  samples.forEach((s, i) => {
    img.set(s.image, i * PIX);
    s.tokens.forEach((t, j) => (tok[i * L + j] = BigInt(t)));
    tab.set(s.tab, i * F);
  });
  const grades = BigInt64Array.from(samples.map((s) => BigInt(s.icdr)));
  return {
    images: Tensor.from(img, [b, 3, 2, 2]),
    tokenIds: Tensor.from(tok, [b, L]),
    attentionMask: Tensor.ones([b, L], 'int64'),
    tabular: Tensor.from(tab, [b, F]),
    icdr: Tensor.from(grades, [b]),
    sdrg: Tensor.from(BigInt64Array.from(grades), [b]),
    present: Tensor.ones([b, 3], 'bool'),
    noteGroup: Int32Array.from(samples.map((s) => s.note)),
    size: b,
  };
}

/** Shuffles per epoch with the loop's rng; batch k depends only on the epoch's permutation. */
export class ArraySource implements BatchSource {
  readonly batchesPerEpoch: number;
  constructor(private readonly samples: Sample[], private readonly batchSize: number, private readonly shuffle = true) {
    this.batchesPerEpoch = Math.ceil(samples.length / batchSize);
  }
  *batchesForEpoch(_epoch: number, rng: Rng, from: number): Iterable<Batch> {
    const order = this.samples.map((_, i) => i);
    if (this.shuffle) rng.shuffle(order);
    for (let k = from; k < this.batchesPerEpoch; k++) {
      yield collate(order.slice(k * this.batchSize, (k + 1) * this.batchSize).map((i) => this.samples[i]!));
    }
  }
}
