"""PyTorch peer for bench/train: the Kemt model and one training step, written in plain PyTorch.

The same architecture as src/models (same layers, same order, same parameter names, so the
parameter lists can be compared name by name) and the same step as src/train/loop.ts:
forward (main pass + MAE visible-patch ViT pass + MLM masked-note BERT pass), the seven loss
parts of src/losses/objective.ts, backward, clip_grad_norm_, AdamW (decay on matrices only),
zero_grad(set_to_none=True). bfloat16 = torch.autocast around forward + losses (float32 weights),
as src/train/precision.ts does it.

Run by bench/train/run.ts with one JSON argument (the model config and the step settings). A
long-lived process (bench/common/peer_io.py), so that run.ts can interleave the sides round by
round. Its ready line gives the versions and the parameter names/shapes/decay; then, one JSON line each:
  {"cmd": "warmup", "steps": W}  W untimed steps -> {"firstParts": {...}}
  {"cmd": "round", "steps": S}   S timed steps   -> {"stepTimes": [s, ...]}
  {"cmd": "stats"}               -> {"maxRssKiB", "ruMaxRssKiB", "cudaMaxAllocatedMiB"}
usage: peer.py '<json spec>'   (Debian's python3-torch, /usr/bin/python3)
"""
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from peer_io import serve  # noqa: E402

IGNORE = -100
LOGIT_SCALE_MAX = 100.0


def drop(x, p, training):
    # ours: dropout(x, p, training && p > 0) -> identity when off
    return F.dropout(x, p, True) if training and p > 0 else x


def mask_value(dtype):
    return -6.0e4 if dtype == torch.float16 else -1.0e9


def no_decay(module, *names):
    """Marks parameters of `module` that AdamW must not decay (ours: param(..., { decay: false }))."""
    module._no_decay = set(getattr(module, "_no_decay", set())) | set(names)
    return module


def normal_param(shape, std=0.02):
    return nn.Parameter(torch.zeros(shape).normal_(0, std))


class Attention(nn.Module):
    """src/nn/attention.ts: separate q/k/v/out projections, masked keys get -1e9 before softmax."""

    def __init__(self, dim, heads, attn_dropout):
        super().__init__()
        self.heads, self.attn_dropout = heads, attn_dropout
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, key_mask):
        B, T, D = x.shape
        H = self.heads
        Dh = D // H

        def split(t):
            return t.view(B, T, H, Dh).transpose(1, 2)  # (B, H, T, Dh)

        # as src/nn/attention.ts: the scale on q (B, H, T, Dh), not on the scores (B, H, T, T)
        q, k, v = split(self.query(x) * (1 / math.sqrt(Dh))), split(self.key(x)), split(self.value(x))
        scores = q.matmul(k.transpose(2, 3))  # (B, H, T, T)
        if key_mask is not None:
            blocked = (key_mask.logical_not() if key_mask.dtype == torch.bool else key_mask.eq(0)).view(B, 1, 1, T)
            scores = scores.masked_fill(blocked, mask_value(scores.dtype))
        probs = scores.softmax(-1)
        p = drop(probs, self.attn_dropout, self.training)
        ctx = p.matmul(v).transpose(1, 2).reshape(B, T, D)
        return self.out(ctx)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # the block's Mlp has dropout 0


class Block(nn.Module):
    """src/nn/block.ts: norm1, attn, norm2, mlp; pre-norm or post-norm."""

    def __init__(self, dim, heads, mlp_dim, eps, pre_norm, dropout=0.0, attn_dropout=0.0):
        super().__init__()
        self.pre_norm, self.dropout = pre_norm, dropout
        self.norm1 = nn.LayerNorm(dim, eps)
        self.attn = Attention(dim, heads, attn_dropout)
        self.norm2 = nn.LayerNorm(dim, eps)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x, key_mask):
        d = lambda t: drop(t, self.dropout, self.training)  # noqa: E731
        if self.pre_norm:  # ViT, fusion, MAE decoder
            h = x + d(self.attn(self.norm1(x), key_mask))
            return h + d(self.mlp(self.norm2(h)))
        h = self.norm1(x + d(self.attn(x, key_mask)))  # BERT
        return self.norm2(h + d(self.mlp(h)))


class StemLayer(nn.Module):
    """src/nn/conv-stem.ts: stride-2 3x3 conv (no bias, He init) + a norm by image.stemNorm + ReLU: channel
    LayerNorm (eps 1e-6), GroupNorm (the largest of 8, 4, 2, 1 groups dividing Co; eps 1e-6), or BatchNorm2d
    (eps 1e-5, momentum 0.1; running statistics as buffers, as ours)."""

    def __init__(self, cin, cout, norm="layer"):
        super().__init__()
        self.out = cout
        self.norm = norm
        self.weight = normal_param((cout, cin, 3, 3), math.sqrt(2 / (cin * 9)))
        self.normWeight = nn.Parameter(torch.ones(cout))
        self.normBias = nn.Parameter(torch.zeros(cout))
        no_decay(self, "normWeight", "normBias")
        if norm == "batch":
            self.register_buffer("runningMean", torch.zeros(cout))
            self.register_buffer("runningVar", torch.ones(cout))

    def forward(self, x):
        y = F.conv2d(x, self.weight, None, 2, 1)  # (B, Co, H/2, W/2)
        if self.norm == "batch":
            return F.batch_norm(y, self.runningMean, self.runningVar, self.normWeight, self.normBias, self.training, 0.1, 1e-5).relu()
        if self.norm == "group":
            groups = next(g for g in (8, 4, 2, 1) if self.out % g == 0)
            return F.group_norm(y, groups, self.normWeight, self.normBias, 1e-6).relu()
        y = y.permute(0, 2, 3, 1)  # (B, H/2, W/2, Co)
        return F.layer_norm(y, (self.out,), self.normWeight, self.normBias, 1e-6).relu().permute(0, 3, 1, 2)


def stem_channels(patch, dim):
    k = round(math.log2(patch))
    return [max(16, dim // 2 ** (k - 1 - i)) for i in range(k)]


class ConvStem(nn.Module):
    """src/nn/conv-stem.ts (image.stem 'conv'): log2(P) StemLayers, then a 1x1 conv to the width."""

    def __init__(self, channels, patch, dim, norm="layer"):
        super().__init__()
        widths = stem_channels(patch, dim)
        ins = [channels] + widths[:-1]
        self.layers = nn.ModuleList(StemLayer(i, w, norm) for i, w in zip(ins, widths))
        self.proj = normal_param((dim, widths[-1], 1, 1), widths[-1] ** -0.5)
        self.projBias = nn.Parameter(torch.zeros(dim))

    def forward(self, images):
        x = images
        for layer in self.layers:
            x = layer(x)
        return F.conv2d(x, self.proj, self.projBias, 1, 0).flatten(2).transpose(1, 2)  # (B, Np, D)


class VisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        D, P = c["width"], c["patchSize"]
        self.num_patches = (c["imageSize"] // P) ** 2
        self.clsToken = normal_param((1, 1, D))
        self.posEmb = normal_param((1, 1 + self.num_patches, D))
        no_decay(self, "clsToken", "posEmb")
        # ours registers the token embedder as 'stem' (conv stem) or 'patchEmbed' (ViT's P x P conv)
        self.conv_stem = c.get("stem", "patch") == "conv"
        if self.conv_stem:
            self.stem = ConvStem(c["channels"], P, D, c.get("stemNorm", "layer"))
        else:
            self.patchEmbed = nn.Conv2d(c["channels"], D, P, stride=P)
        self.blocks = nn.ModuleList(Block(D, c["heads"], c["mlpDim"], c["layerNormEps"], True, c["dropout"], c["attnDropout"])
                                    for _ in range(c["layers"]))
        self.norm = nn.LayerNorm(D, c["layerNormEps"])

    def embed(self, images, keep):
        B, D, Np = images.shape[0], self.c["width"], self.num_patches
        tokens = self.stem(images) if self.conv_stem else self.patchEmbed(images).flatten(2).transpose(1, 2)  # (B, Np, D)
        patches = tokens + self.posEmb[:, 1:1 + Np]  # (B, Np, D)
        if keep is not None:
            patches = patches.gather(1, keep.unsqueeze(2).expand(B, keep.shape[1], D))  # (B, Nk, D)
        cls = (self.clsToken + self.posEmb[:, 0:1]).expand(B, 1, D)
        return drop(torch.cat([cls, patches], 1), self.c["dropout"], self.training)

    def forward(self, images, keep=None):
        h = self.embed(images, keep)
        for b in self.blocks:
            h = b(h, None)
        return self.norm(h)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.word = nn.Embedding(c["vocabSize"], c["width"])
        self.position = no_decay(nn.Embedding(c["maxPositions"], c["width"]), "weight")
        self.tokenType = no_decay(nn.Embedding(c["typeVocabSize"], c["width"]), "weight")
        self.norm = nn.LayerNorm(c["width"], c["layerNormEps"])

    def forward(self, ids):
        pos = torch.arange(0, ids.shape[1], dtype=torch.int64, device=ids.device)
        e = self.word(ids) + self.position(pos)
        e = e + self.tokenType.weight[0:1]  # token type 0 everywhere
        return drop(self.norm(e), self.c["dropout"], self.training)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.layers = nn.ModuleList(Block(c["width"], c["heads"], c["mlpDim"], c["layerNormEps"], False, c["dropout"], c["attnDropout"])
                                    for _ in range(c["layers"]))

        self.pooling = c.get("pooling", "cls")

    def forward(self, ids, mask):
        h = self.embeddings(ids)
        for layer in self.layers:
            h = layer(h, mask)
        return h

    def pooled(self, ids, mask):
        # as BertEncoder.pooled in src/models/text.ts: [CLS], or the mean over real tokens
        h = self.forward(ids, mask)
        if self.pooling == "cls":
            return h[:, 0]
        w = mask.to(h.dtype).unsqueeze(2)
        return h.mul(w).sum(1).div(w.sum(1).clamp(min=1))


class Projection(nn.Module):
    def __init__(self, d_in, e):
        super().__init__()
        self.weight = normal_param((e, d_in), d_in ** -0.5)

    def forward(self, x):
        return F.normalize(F.linear(x, self.weight), 2, -1)


class TabularEncoder(nn.Module):
    def __init__(self, c, input_dim):
        super().__init__()
        self.c = c
        self.fc1 = nn.Linear(input_dim, c["hidden"])
        self.norm = nn.LayerNorm(c["hidden"], c["layerNormEps"])
        self.fc2 = nn.Linear(c["hidden"], c["width"])

    def forward(self, x):
        h = self.norm(F.gelu(self.fc1(x)))
        return self.fc2(drop(h, self.c["dropout"], self.training))


class FusionTransformer(nn.Module):
    def __init__(self, c, in_widths):
        super().__init__()
        W = c["width"]
        self.width = W
        self.typeEmb = normal_param((3, W))
        no_decay(self, "typeEmb")
        self.imageIn, self.textIn, self.tabularIn = (nn.Linear(w, W) for w in in_widths)
        self.blocks = nn.ModuleList(Block(W, c["heads"], c["mlpDim"], c["layerNormEps"], True, c["dropout"], c["dropout"])
                                    for _ in range(c["layers"]))
        self.norm = nn.LayerNorm(W, c["layerNormEps"])

    def forward(self, tokens, present):
        B = present.shape[0]
        projs = [self.imageIn, self.textIn, self.tabularIn]
        projected = [torch.zeros(B, self.width, dtype=self.typeEmb.dtype, device=self.typeEmb.device) if t is None else projs[i](t)
                     for i, t in enumerate(tokens)]
        x = torch.stack(projected, 1) + self.typeEmb  # (B, 3, W)
        computed = torch.tensor([t is not None for t in tokens], dtype=torch.bool).to(self.typeEmb.device)
        used = (present if present.dtype == torch.bool else present.ne(0)).logical_and(computed)  # (B, 3)
        h = x
        for b in self.blocks:
            h = b(h, used)
        h = self.norm(h)
        w = used.to(h.dtype).unsqueeze(2)
        return (h * w).sum(1) / w.sum(1).clamp(1)  # (B, W)


class MlmHead(nn.Module):
    def __init__(self, width, vocab, eps):
        super().__init__()
        self.transform = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width, eps)
        self.bias = nn.Parameter(torch.zeros(vocab))
        no_decay(self, "bias")

    def forward(self, h, word_embeddings):
        return F.linear(self.norm(F.gelu(self.transform(h))), word_embeddings, self.bias)


class MaeDecoder(nn.Module):
    def __init__(self, c, enc_width, num_patches, patch_values):
        super().__init__()
        self.num_patches = num_patches
        self.maskToken = normal_param((1, 1, c["width"]))
        self.posEmb = normal_param((1, 1 + num_patches, c["width"]))
        no_decay(self, "maskToken", "posEmb")
        self.embed = nn.Linear(enc_width, c["width"])
        self.blocks = nn.ModuleList(Block(c["width"], c["heads"], c["mlpDim"], c["layerNormEps"], True) for _ in range(c["layers"]))
        self.norm = nn.LayerNorm(c["width"], c["layerNormEps"])
        self.pred = nn.Linear(c["width"], patch_values)

    def forward(self, latent, ids_restore):
        B, T = latent.shape[0], latent.shape[1]
        Np, Nk = self.num_patches, T - 1
        x = self.embed(latent)
        Dd = x.shape[2]
        masks = self.maskToken.expand(B, Np - Nk, Dd)
        shuffled = torch.cat([x[:, 1:1 + Nk], masks], 1)
        ordered = shuffled.gather(1, ids_restore.unsqueeze(2).expand(B, Np, Dd))
        h = torch.cat([x[:, 0:1], ordered], 1) + self.posEmb
        for b in self.blocks:
            h = b(h, None)
        return self.pred(self.norm(h))[:, 1:1 + Np]


def random_masking(B, Np, ratio, device):
    n_keep = max(1, math.floor(Np * (1 - ratio)))
    noise = torch.rand(B, Np, device=device)
    ids_shuffle = noise.sort(1).indices
    ids_restore = ids_shuffle.sort(1).indices
    keep = ids_shuffle[:, :n_keep].contiguous()
    shuffled_mask = torch.arange(0, Np, dtype=torch.int64, device=device).ge(n_keep).to(torch.float32)
    mask = shuffled_mask.unsqueeze(0).expand(B, Np).gather(1, ids_restore)
    return keep, ids_restore, mask


def patchify(images, P):
    B, C, H, W = images.shape
    h, w = H // P, W // P
    return images.reshape(B, C, h, P, w, P).permute(0, 2, 4, 3, 5, 1).reshape(B, h * w, P * P * C)


def init_like_ours(model):
    """src/nn: Linear/Conv/Embedding weights N(0, 0.02), biases 0 (LayerNorm is ones/zeros either way)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
                m.weight.normal_(0, 0.02)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
    return model


def mask_tokens(ids, attention_mask, prob, s, vocab):
    shape, device = ids.shape, ids.device
    eligible = attention_mask.ne(0).logical_and(ids.ne(s["clsId"])).logical_and(ids.ne(s["sepId"])).logical_and(ids.ne(s["padId"]))
    selected = torch.rand(shape, device=device).lt(prob).logical_and(eligible)
    labels = ids.masked_fill(selected.logical_not(), IGNORE)
    r = torch.rand(shape, device=device)
    to_mask = selected.logical_and(r.lt(0.8))
    to_random = selected.logical_and(r.ge(0.8)).logical_and(r.lt(0.9))
    scaled = torch.rand(shape, dtype=torch.float64, device=device).mul(vocab).to(torch.int64)
    random_ids = scaled.masked_fill(scaled.ge(vocab), vocab - 1)
    return torch.where(to_random, random_ids, ids.masked_fill(to_mask, s["maskId"])), labels


class Kemt(nn.Module):
    """src/models/kemt.ts; registration order = ours: logitScale, image, text, imageProj, textProj, tabular, ..."""

    def __init__(self, c, vocab, tabular_dim, special_ids):
        super().__init__()
        self.c, self.special = c, special_ids
        text = dict(c["text"], vocabSize=vocab)
        self.logitScale = nn.Parameter(torch.tensor(float(c["logitScaleInit"])))
        no_decay(self, "logitScale")
        self.image = VisionTransformer(c["image"])
        self.text = BertEncoder(text)
        self.imageProj = Projection(c["image"]["width"], c["embedDim"])
        self.textProj = Projection(text["width"], c["embedDim"])
        self.tabular = TabularEncoder(c["tabular"], tabular_dim)
        self.tabProj = Projection(c["tabular"]["width"], c["embedDim"])
        self.fusion = FusionTransformer(c["fusion"], [c["image"]["width"], text["width"], c["tabular"]["width"]])
        self.icdrHead = nn.Linear(c["fusion"]["width"], 5)
        self.sdrgHead = nn.Linear(c["fusion"]["width"], 5)
        self.mlmHead = MlmHead(text["width"], vocab, text["layerNormEps"])
        P = c["image"]["patchSize"]
        self.maeDecoder = MaeDecoder(c["mae"], c["image"]["width"], self.image.num_patches, P * P * c["image"]["channels"])
        self.icdrImageHead = nn.Linear(c["image"]["width"], 5)  # image-only grade heads on the image [CLS]
        self.sdrgImageHead = nn.Linear(c["image"]["width"], 5)
        self.vocab = vocab

    def forward(self, b, mae_ratio, mlm_prob, recon_fraction=1.0):
        img_cls = self.image(b["images"])[:, 0]
        txt_cls = self.text.pooled(b["ids"], b["mask"])
        tab_tok = self.tabular(b["tabular"])
        fused = self.fusion([img_cls, txt_cls, tab_tok], b["present"])
        out = {
            "imageEmb": self.imageProj(img_cls), "textEmb": self.textProj(txt_cls), "tabEmb": self.tabProj(tab_tok),
            "logitScale": self.logitScale.view([]),
            "icdr": self.icdrHead(fused), "sdrg": self.sdrgHead(fused), "mae": None, "mlm": None,
            "icdrImage": self.icdrImageHead(img_cls), "sdrgImage": self.sdrgImageHead(img_cls),
        }
        n_recon = math.ceil(recon_fraction * b["images"].shape[0])
        head = lambda t: t[:n_recon]  # noqa: E731 -- the side passes' sub-batch (ours: narrow(0, 0, nRecon))
        if mae_ratio > 0:  # second, cheaper ViT pass on the visible patches only
            images = head(b["images"])
            keep, ids_restore, mask = random_masking(images.shape[0], self.image.num_patches, mae_ratio, images.device)
            latent = self.image(images, keep)
            out["mae"] = (self.maeDecoder(latent, ids_restore), patchify(images, self.c["image"]["patchSize"]), mask)
        if mlm_prob > 0:  # second BERT pass on the masked note
            ids, amask = head(b["ids"]), head(b["mask"])
            inp, labels = mask_tokens(ids, amask, mlm_prob, self.special, self.vocab)
            h = self.text(inp, amask)
            # as src/models/kemt.ts: the head runs on the selected positions only -> (M, V), (M)
            flat = labels.reshape(-1)
            pos = flat.ne(IGNORE).nonzero().squeeze(1)
            rows = h.reshape(-1, h.shape[2]).index_select(0, pos)
            out["mlm"] = (self.mlmHead(rows, self.text.embeddings.word.weight), flat.index_select(0, pos))
        return out


def info_nce(a, b, logit_scale, same_note):
    scale = logit_scale.exp().clamp(max=LOGIT_SCALE_MAX)
    logits = a.matmul(b.transpose(0, 1)) * scale
    if same_note is not None:
        logits = logits.masked_fill(same_note, float("-inf"))
    target = torch.arange(0, a.shape[0], dtype=torch.int64, device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.transpose(0, 1), target)) * 0.5


def same_note_mask(groups, device):
    g = torch.tensor(groups)
    m = g.unsqueeze(1).eq(g.unsqueeze(0)).logical_and(torch.eye(len(groups), dtype=torch.bool).logical_not())
    return m.to(device) if bool(m.any()) else None


def objective(out, b, w):
    """src/losses/objective.ts with label smoothing 0 and no class weights (the defaults)."""
    terms = []
    for name, ka, kb in (("imageText", "imageEmb", "textEmb"), ("imageTabular", "imageEmb", "tabEmb"), ("textTabular", "textEmb", "tabEmb")):
        if w[name] != 0:
            terms.append((name, info_nce(out[ka], out[kb], out["logitScale"], same_note_mask(b["noteGroup"], out[ka].device))))
    if w["mae"] != 0 and out["mae"] is not None:
        pred, target, mask = out["mae"]
        m = mask.to(pred.dtype)
        count = m.sum()
        if count.item() != 0:
            terms.append(("mae", (pred - target).pow(2).mean(-1).mul(m).sum().div(count)))
    if w["mlm"] != 0 and out["mlm"] is not None:
        logits, labels = out["mlm"]
        if labels.ne(IGNORE).sum().item() != 0:
            terms.append(("mlm", F.cross_entropy(logits, labels, ignore_index=IGNORE)))
    for k, y in (("icdr", "icdr"), ("sdrg", "sdrg"), ("icdrImage", "icdr"), ("sdrgImage", "sdrg")):
        if w.get(k, 0) != 0 and labels_known(b[y]):
            terms.append((k, F.cross_entropy(out[k], b[y], ignore_index=IGNORE, label_smoothing=0.0)))
    total, parts = None, {}
    for name, t in terms:
        parts[name] = t.item()
        wt = t if w[name] == 1 else t * w[name]
        total = wt if total is None else total + wt
    return total, parts


def labels_known(y):
    return y.ne(IGNORE).sum().item() != 0


def make_batch(B, c, L, vocab, F_dim, special, device):
    """Random inputs of the bench's shapes (the same scheme as run.ts; values do not matter for timing)."""
    g = torch.Generator().manual_seed(1)
    S = c["image"]["imageSize"]
    images = torch.randn(B, 3, S, S, generator=g)
    ids = torch.full((B, L), special["padId"], dtype=torch.int64)
    mask = torch.zeros(B, L, dtype=torch.int64)
    for i in range(B):
        n = int(torch.randint(L // 2, L + 1, (1,), generator=g))
        ids[i, 0] = special["clsId"]
        ids[i, 1:n - 1] = torch.randint(5, vocab, (n - 2,), generator=g)
        ids[i, n - 1] = special["sepId"]
        mask[i, :n] = 1
    groups = max(1, math.ceil(0.75 * B))
    return {
        "images": images.to(device), "ids": ids.to(device), "mask": mask.to(device),
        "tabular": torch.randn(B, F_dim, generator=g).to(device),
        "icdr": torch.randint(0, 5, (B,), generator=g).to(device), "sdrg": torch.randint(0, 5, (B,), generator=g).to(device),
        "present": torch.ones(B, 3, dtype=torch.bool, device=device),
        "noteGroup": [i % groups for i in range(B)],
    }


def peak_rss_kib():
    """Peak RSS of this process in KiB: VmHWM on Linux. getrusage's ru_maxrss is not used: after
    fork+exec from a large parent (node) Linux reports at least the parent's RSS at spawn time."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    spec = json.loads(sys.argv[1])
    device, dtype_name = spec["device"], spec["dtype"]
    if dtype_name not in ("float32", "bfloat16"):
        raise SystemExit(f"peer.py: dtype {dtype_name}; expected float32 or bfloat16")
    autocast = dtype_name == "bfloat16"  # bf16 = autocast around forward + losses, float32 master weights (as ours)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"peer.py: --device {device} but this PyTorch ({torch.__version__}, {sys.executable}) has no CUDA; set PYTHON to a CUDA build")
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    c, tr, w = spec["config"], spec["train"], spec["weights"]
    model = init_like_ours(Kemt(c, spec["vocab"], spec["tabularDim"], spec["specialIds"])).to(device).train()

    decay_of = {}
    for mname, mod in model.named_modules():
        nd = getattr(mod, "_no_decay", set())
        for pname, p in mod.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            decay_of[full] = p.ndim >= 2 and pname not in nd  # ours: default ndim >= 2 unless marked
    named = dict(model.named_parameters())
    decay = [p for n, p in named.items() if decay_of[n]]
    rest = [p for n, p in named.items() if not decay_of[n]]
    params = list(named.values())
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tr["weightDecay"]}, {"params": rest, "weight_decay": 0.0}],
                            lr=tr["lr"], betas=(tr["beta1"], tr["beta2"]), eps=tr["eps"])
    b = make_batch(spec["batch"], c, spec["tokens"], spec["vocab"], spec["tabularDim"], spec["specialIds"], device)
    clip = tr["clipGradNorm"] if tr["clipGradNorm"] > 0 else float("inf")

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    first_parts = {}
    trace = os.environ.get("BENCH_TRAIN_TRACE") == "1"  # peak RSS after every step, on stderr

    def step():
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
            out = model(b, tr["maeMaskRatio"] if w["mae"] != 0 else 0, tr["mlmProb"] if w["mlm"] != 0 else 0, tr["reconFraction"])
            total, parts = objective(out, b, w)
        if not first_parts:
            first_parts.update(parts)
        for k, v in parts.items():
            if not math.isfinite(v):
                raise SystemExit(f"peer.py: non-finite loss part {k} ({v})")
        total.item()
        total.backward()
        for gr in opt.param_groups:
            gr["lr"] = tr["lr"]
        gn = float(torch.nn.utils.clip_grad_norm_(params, clip))
        if not math.isfinite(gn):
            raise SystemExit(f"peer.py: non-finite gradient norm ({gn})")
        opt.step()
        opt.zero_grad(set_to_none=True)
        if trace:
            print(f"peer step: peak RSS {peak_rss_kib() / 1024:.0f} MiB (getrusage maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f})", file=sys.stderr)

    def warmup(cmd):
        for _ in range(cmd["steps"]):
            step()
        sync()
        return {"firstParts": first_parts}

    def round_(cmd):
        ts, cpu = [], []
        for _ in range(cmd["steps"]):
            t0, c0 = time.perf_counter(), time.process_time()  # process_time: this process, all threads
            step()
            sync()
            ts.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return {"stepTimes": ts, "cpuTimes": cpu}

    def stats(_cmd):
        return {"maxRssKiB": peak_rss_kib(), "ruMaxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "cudaMaxAllocatedMiB": torch.cuda.max_memory_allocated() / 2 ** 20 if device.startswith("cuda") else None}

    serve({"torch": torch.__version__, "python": sys.executable, "threads": torch.get_num_threads(),
           "params": {n: [list(p.shape), decay_of[n]] for n, p in named.items()},
           "buffers": {n: list(b.shape) for n, b in model.named_buffers()}, "foreach": opt.defaults.get("foreach")},
          {"warmup": warmup, "round": round_, "stats": stats})


if __name__ == "__main__":
    main()
