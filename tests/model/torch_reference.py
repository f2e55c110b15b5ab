#!/usr/bin/python3
"""Independent PyTorch implementation of the five model families (gpt2, gptj, llama,
mistral, qwen2) written from the Hugging Face modelling semantics (pipeline.md §10), and
the fixture generator of the model runtime's tests.

    torch_reference.py <out_dir>

writes, for each case, a tiny random checkpoint in Hugging Face layout
(<out_dir>/<case>/config.json + model.safetensors or shards + index) and the reference
results <out_dir>/<case>.ref.safetensors, computed by this file in float64 (names "f64.*")
and float32 ("f32.*") from the stored weights:

* logits.<p>            [len, vocab]    logits of prompt p, no intervention
* block.<l>.<p>         [len, d]        output of block l
* key.<l>.<p>           [len, d_ff]     input of block l's FFN output projection
* loss                  [1]             NLL + KL with the interventions
* grad.<k>              [sites, d]      d loss / d delta_k (autograd)
* ilogits.<p>           [len, vocab]    logits with the interventions

and the inputs: tokens.<p> (I64), delta.<k> [sites, d] (F64), delta_sites.<k> [sites, 2]
(I64), delta_layer.<k> [1] (I64), nll [n, 4] (prompt, position, token, weight; F64),
kl_sites [m, 2] (I64), kl_weight [m] (F64), kl_ref [m, vocab] (F64).

The benchmark imports this module (build_model / forward / write_checkpoint).
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.float64: "F64", torch.int64: "I64"}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            b = t.view(torch.int16).numpy().tobytes()
        else:
            b = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---------------------------------------------------------------- architecture


class Arch:
    """The switches of one family, from config.json (HF defaults where absent)."""

    def __init__(self, cfg):
        mt = cfg["model_type"]
        self.mt = mt
        if mt in ("gpt2", "gptj"):
            self.d = cfg["n_embd"]
            self.L = cfg["n_layer"]
            self.H = cfg["n_head"]
            self.KV = self.H
            self.hd = self.d // self.H
            self.ff = cfg.get("n_inner") or 4 * self.d
            self.V = cfg["vocab_size"]
            self.eps = cfg.get("layer_norm_epsilon", 1e-5)
            self.act = cfg.get("activation_function", "gelu_new")
            self.tied = cfg.get("tie_word_embeddings", mt == "gpt2")
            self.rd = cfg.get("rotary_dim") if mt == "gptj" else 0
            self.maxpos = cfg["n_positions"]
        else:
            self.d = cfg["hidden_size"]
            self.L = cfg["num_hidden_layers"]
            self.H = cfg["num_attention_heads"]
            self.KV = cfg.get("num_key_value_heads") or self.H
            self.hd = cfg.get("head_dim") or self.d // self.H
            self.ff = cfg["intermediate_size"]
            self.V = cfg["vocab_size"]
            self.eps = cfg["rms_norm_eps"]
            self.act = cfg.get("hidden_act", "silu")
            self.tied = cfg.get("tie_word_embeddings", False)
            self.rd = self.hd
            self.theta = cfg.get("rope_theta", 10000.0)
            self.scaling = cfg.get("rope_scaling")
            self.maxpos = cfg["max_position_embeddings"]
            self.qkv_bias = mt == "qwen2" or cfg.get("attention_bias", False)


def act_fn(name, x):
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "gelu":
        return F.gelu(x)
    if name in ("silu", "swish"):
        return F.silu(x)
    raise ValueError(name)


def llama_inv_freq(a, dtype):
    """HF's default / linear / llama3 rotary frequencies."""
    inv = 1.0 / (a.theta ** (torch.arange(0, a.hd, 2, dtype=torch.int64).to(dtype) / a.hd))
    s = a.scaling
    if not s:
        return inv, 1.0
    kind = s.get("rope_type", s.get("type"))
    if kind == "linear":
        return inv, float(s["factor"])  # positions / factor
    if kind == "llama3":
        factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
        old = s["original_max_position_embeddings"]
        low_wl, high_wl = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        out = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        return torch.where(medium, smoothed, out), 1.0
    raise ValueError(kind)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rotate_every_two(x):
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def attention(q, k, v, H, KV, hd):
    """q [B, T, H*hd], k, v [B, T, KV*hd] (rotary already applied) -> [B, T, H*hd]; causal."""
    B, T = q.shape[0], q.shape[1]
    q = q.view(B, T, H, hd).transpose(1, 2)
    k = k.view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, dim=1)
    v = v.view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, dim=1)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
    p = torch.softmax(s, dim=-1)
    return (p @ v).transpose(1, 2).reshape(B, T, H * hd)


def forward(a, W, tokens, deltas=None):
    """One prompt (a list of ids) or a batch of prompts of one length (a list of lists).
    W: tensor name -> tensor (compute dtype, HF names, GPT-2 without prefix).
    deltas: {layer: [(position, vector) or (prompt, position, vector), ...]} added to block
    outputs. Returns logits [T, V], block outputs [L] of [T, d], keys [L] of [T, ff] (with a
    leading batch dimension for a batch)."""
    deltas = deltas or {}
    tok = torch.tensor(tokens, dtype=torch.int64)
    single = tok.dim() == 1
    if single:
        tok = tok[None]
    B, T = tok.shape
    pos = torch.arange(T)
    blocks, keys = [], []
    if a.mt == "gpt2":
        x = W["wte.weight"][tok] + W["wpe.weight"][pos]
    elif a.mt == "gptj":
        x = W["transformer.wte.weight"][tok]
    else:
        x = W["model.embed_tokens.weight"][tok]
    dt = x.dtype

    if a.mt == "gptj":
        inv = 1.0 / (10000 ** (torch.arange(0, a.rd, 2, dtype=torch.int64).to(dt) / a.rd))
        ang = pos.to(dt)[:, None] * inv[None, :]
        sin = torch.sin(ang).repeat_interleave(2, dim=-1)
        cos = torch.cos(ang).repeat_interleave(2, dim=-1)
    elif a.mt != "gpt2":
        inv, div = llama_inv_freq(a, dt)
        ang = (pos.to(dt) / div)[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = torch.cos(emb), torch.sin(emb)

    def rope_gptj(t, heads):
        t = t.view(B, T, heads, a.hd)
        r, p = t[..., :a.rd], t[..., a.rd:]
        r = r * cos[None, :, None, :] + rotate_every_two(r) * sin[None, :, None, :]
        return torch.cat((r, p), dim=-1).reshape(B, T, heads * a.hd)

    def rope_half(t, heads):
        t = t.view(B, T, heads, a.hd)
        t = t * cos[None, :, None, :] + rotate_half(t) * sin[None, :, None, :]
        return t.reshape(B, T, heads * a.hd)

    def lin(x, name, bias=True):
        y = x @ W[name + ".weight"].T
        if bias and (name + ".bias") in W:
            y = y + W[name + ".bias"]
        return y

    def conv1d(x, name):
        return x @ W[name + ".weight"] + W[name + ".bias"]

    def rms(x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + a.eps) * w

    for l in range(a.L):
        if a.mt == "gpt2":
            p = "h.%d." % l
            h = F.layer_norm(x, (a.d,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], a.eps)
            qkv = conv1d(h, p + "attn.c_attn")
            q, k, v = qkv.split(a.d, dim=-1)
            x = x + conv1d(attention(q, k, v, a.H, a.KV, a.hd), p + "attn.c_proj")
            h = F.layer_norm(x, (a.d,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], a.eps)
            key = act_fn(a.act, conv1d(h, p + "mlp.c_fc"))
            x = x + conv1d(key, p + "mlp.c_proj")
        elif a.mt == "gptj":
            p = "transformer.h.%d." % l
            h = F.layer_norm(x, (a.d,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], a.eps)
            q = rope_gptj(lin(h, p + "attn.q_proj"), a.H)
            k = rope_gptj(lin(h, p + "attn.k_proj"), a.KV)
            v = lin(h, p + "attn.v_proj")
            att = lin(attention(q, k, v, a.H, a.KV, a.hd), p + "attn.out_proj")
            key = act_fn(a.act, lin(h, p + "mlp.fc_in"))
            x = x + att + lin(key, p + "mlp.fc_out")
        else:
            p = "model.layers.%d." % l
            h = rms(x, W[p + "input_layernorm.weight"])
            q = rope_half(lin(h, p + "self_attn.q_proj"), a.H)
            k = rope_half(lin(h, p + "self_attn.k_proj"), a.KV)
            v = lin(h, p + "self_attn.v_proj")
            x = x + lin(attention(q, k, v, a.H, a.KV, a.hd), p + "self_attn.o_proj")
            h = rms(x, W[p + "post_attention_layernorm.weight"])
            key = act_fn(a.act, lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj")
            x = x + lin(key, p + "mlp.down_proj")
        keys.append(key)
        blocks.append(x)
        if l in deltas:
            add = torch.zeros_like(x)
            for entry in deltas[l]:
                b, position, vec = entry if len(entry) == 3 else (0,) + tuple(entry)
                add = add.index_put((torch.tensor([b]), torch.tensor([position])), vec[None, :], accumulate=True)
            x = x + add
    if a.mt == "gpt2":
        hf = F.layer_norm(x, (a.d,), W["ln_f.weight"], W["ln_f.bias"], a.eps)
        logits = hf @ W["wte.weight"].T
    elif a.mt == "gptj":
        hf = F.layer_norm(x, (a.d,), W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], a.eps)
        logits = hf @ W["lm_head.weight"].T + W["lm_head.bias"]
    else:
        hf = rms(x, W["model.norm.weight"])
        head = W["model.embed_tokens.weight"] if a.tied else W["lm_head.weight"]
        logits = hf @ head.T
    if single:
        return logits[0], [b[0] for b in blocks], [k[0] for k in keys]
    return logits, blocks, keys


# ---------------------------------------------------------------- random checkpoints


def build_model(cfg, gen, std=0.15):
    """Random weights (float32) of every tensor of the family, HF names (GPT-2 without prefix)."""
    a = Arch(cfg)
    W = {}

    def r(*shape, s=std):
        return torch.randn(*shape, generator=gen) * s

    def norm(n):
        return 1.0 + r(n, s=0.1)

    d, ff, V = a.d, a.ff, a.V
    qd, kvd = a.H * a.hd, a.KV * a.hd
    if a.mt == "gpt2":
        W["wte.weight"] = r(V, d, s=0.5)
        W["wpe.weight"] = r(a.maxpos, d, s=0.2)
        for l in range(a.L):
            p = "h.%d." % l
            W[p + "ln_1.weight"], W[p + "ln_1.bias"] = norm(d), r(d, s=0.05)
            W[p + "attn.c_attn.weight"], W[p + "attn.c_attn.bias"] = r(d, 3 * d), r(3 * d, s=0.05)
            W[p + "attn.c_proj.weight"], W[p + "attn.c_proj.bias"] = r(d, d), r(d, s=0.05)
            W[p + "ln_2.weight"], W[p + "ln_2.bias"] = norm(d), r(d, s=0.05)
            W[p + "mlp.c_fc.weight"], W[p + "mlp.c_fc.bias"] = r(d, ff), r(ff, s=0.05)
            W[p + "mlp.c_proj.weight"], W[p + "mlp.c_proj.bias"] = r(ff, d), r(d, s=0.05)
        W["ln_f.weight"], W["ln_f.bias"] = norm(d), r(d, s=0.05)
    elif a.mt == "gptj":
        W["transformer.wte.weight"] = r(V, d, s=0.5)
        for l in range(a.L):
            p = "transformer.h.%d." % l
            W[p + "ln_1.weight"], W[p + "ln_1.bias"] = norm(d), r(d, s=0.05)
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                W[p + "attn." + n + ".weight"] = r(d, d)
            W[p + "mlp.fc_in.weight"], W[p + "mlp.fc_in.bias"] = r(ff, d), r(ff, s=0.05)
            W[p + "mlp.fc_out.weight"], W[p + "mlp.fc_out.bias"] = r(d, ff), r(d, s=0.05)
        W["transformer.ln_f.weight"], W["transformer.ln_f.bias"] = norm(d), r(d, s=0.05)
        W["lm_head.weight"], W["lm_head.bias"] = r(V, d), r(V, s=0.05)
    else:
        W["model.embed_tokens.weight"] = r(V, d, s=0.5)
        for l in range(a.L):
            p = "model.layers.%d." % l
            W[p + "input_layernorm.weight"] = norm(d)
            W[p + "self_attn.q_proj.weight"] = r(qd, d)
            W[p + "self_attn.k_proj.weight"] = r(kvd, d)
            W[p + "self_attn.v_proj.weight"] = r(kvd, d)
            W[p + "self_attn.o_proj.weight"] = r(d, qd)
            if a.qkv_bias:
                W[p + "self_attn.q_proj.bias"] = r(qd, s=0.1)
                W[p + "self_attn.k_proj.bias"] = r(kvd, s=0.1)
                W[p + "self_attn.v_proj.bias"] = r(kvd, s=0.1)
            W[p + "post_attention_layernorm.weight"] = norm(d)
            W[p + "mlp.gate_proj.weight"] = r(ff, d)
            W[p + "mlp.up_proj.weight"] = r(ff, d)
            W[p + "mlp.down_proj.weight"] = r(d, ff)
        W["model.norm.weight"] = norm(d)
        if not a.tied:
            W["lm_head.weight"] = r(V, d)
    return a, W


def write_checkpoint(path, cfg, W, dtype, prefix="", shards=1, extra=None):
    """Writes config.json and the weights rounded to `dtype`; returns the stored weights
    as float64 (what a reader sees)."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    stored = {k: v.to(dtype) for k, v in W.items()}
    named = {prefix + k: v for k, v in stored.items()}
    if extra:
        named.update(extra)
    names = list(named)
    if shards == 1:
        write_safetensors(os.path.join(path, "model.safetensors"), named)
    else:
        per = (len(names) + shards - 1) // shards
        wm = {}
        for s in range(shards):
            fn = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
            part = {n: named[n] for n in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(path, fn), part)
            wm.update({n: fn for n in part})
        with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=1)
    return {k: v.to(torch.float64) for k, v in stored.items()}


# ---------------------------------------------------------------- cases

CASES = {
    # GPT-2: Conv1D layout, tied head, learned positions, causal-mask buffers to ignore.
    "gpt2": (dict(model_type="gpt2", vocab_size=67, n_positions=32, n_embd=24, n_layer=3, n_head=4,
                  n_inner=40, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                  tie_word_embeddings=True, attn_pdrop=0.1), torch.float32, "", 1),
    # GPT-2 in F16 with the `transformer.` prefix and the exact (erf) GELU.
    "gpt2_f16": (dict(model_type="gpt2", vocab_size=53, n_positions=24, n_embd=16, n_layer=2, n_head=2,
                      activation_function="gelu", layer_norm_epsilon=1e-5), torch.float16, "transformer.", 1),
    # GPT-J: parallel block, interleaved rotary on part of each head, LM head with bias; sharded.
    "gptj": (dict(model_type="gptj", vocab_size=61, n_positions=32, n_embd=32, n_layer=3, n_head=4,
                  rotary_dim=4, n_inner=48, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                  tie_word_embeddings=False), torch.float32, "", 3),
    # Llama: BF16, grouped-query attention, rope_scaling llama3 (all three frequency bands).
    "llama": (dict(model_type="llama", vocab_size=71, hidden_size=32, intermediate_size=44,
                   num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                   max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                     high_freq_factor=4.0, original_max_position_embeddings=64),
                   hidden_act="silu", tie_word_embeddings=False), torch.bfloat16, "", 1),
    # Mistral: F16, one key/value head, linear rope scaling, a sliding window longer than the prompts.
    "mistral": (dict(model_type="mistral", vocab_size=59, hidden_size=32, intermediate_size=40,
                     num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1,
                     max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=10000.0,
                     rope_scaling=dict(type="linear", factor=2.0), sliding_window=48,
                     hidden_act="silu", tie_word_embeddings=False), torch.float16, "", 1),
    # Qwen2: q/k/v biases, tied embeddings, explicit head_dim.
    "qwen2": (dict(model_type="qwen2", vocab_size=73, hidden_size=32, intermediate_size=36,
                   num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                   max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=1000000.0,
                   tie_word_embeddings=True, use_sliding_window=False, sliding_window=4096,
                   hidden_act="silu"), torch.float32, "", 1),
}

PROMPT_LENGTHS = [7, 4, 10]
# (layer, [(prompt, position), ...]): two layers, several positions.
INTERVENTIONS = [(0, [(0, 3), (1, 1), (2, 6)]), (1, [(0, 5), (2, 8), (2, 6)])]
NLL = [(0, 5, 0.5), (0, 6, 0.5), (1, 2, 1.0), (1, 3, 1.0), (2, 8, 0.25), (2, 9, 0.25), (2, 1, 0.3)]
KL = [(1, 1, 0.0625), (2, 6, 0.125)]


def make_case(out, name, seed):
    cfg, dtype, prefix, shards = CASES[name]
    gen = torch.Generator().manual_seed(seed)
    a, W = build_model(cfg, gen)
    extra = None
    if name == "gpt2":
        extra = {"h.%d.attn.bias" % l: torch.ones(1, 1, a.maxpos, a.maxpos).tril() for l in range(a.L)}
    stored = write_checkpoint(os.path.join(out, name), cfg, W, dtype, prefix, shards, extra)

    prompts = [torch.randint(0, a.V, (n,), generator=gen).tolist() for n in PROMPT_LENGTHS]
    deltas = [torch.randn(len(s), a.d, generator=gen, dtype=torch.float64) * 0.5 for _, s in INTERVENTIONS]
    nll = [(p, t, int(torch.randint(0, a.V, (1,), generator=gen)), w) for p, t, w in NLL]
    kl_ref = torch.log_softmax(torch.randn(len(KL), a.V, generator=gen, dtype=torch.float64), dim=-1)

    ref = {}
    for p, toks in enumerate(prompts):
        ref["tokens.%d" % p] = torch.tensor(toks, dtype=torch.int64)
    for k, (layer, sites) in enumerate(INTERVENTIONS):
        ref["delta.%d" % k] = deltas[k]
        ref["delta_sites.%d" % k] = torch.tensor(sites, dtype=torch.int64)
        ref["delta_layer.%d" % k] = torch.tensor([layer], dtype=torch.int64)
    ref["nll"] = torch.tensor([[p, t, tok, w] for p, t, tok, w in nll], dtype=torch.float64)
    ref["kl_sites"] = torch.tensor([[p, t] for p, t, _ in KL], dtype=torch.int64)
    ref["kl_weight"] = torch.tensor([w for _, _, w in KL], dtype=torch.float64)
    ref["kl_ref"] = kl_ref

    for dt, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        Wd = {k: v.to(dt) for k, v in stored.items()}
        for p, toks in enumerate(prompts):
            logits, blocks, keys = forward(a, Wd, toks)
            ref["%s.logits.%d" % (tag, p)] = logits.to(torch.float64)
            for l in range(a.L):
                ref["%s.block.%d.%d" % (tag, l, p)] = blocks[l].to(torch.float64)
                ref["%s.key.%d.%d" % (tag, l, p)] = keys[l].to(torch.float64)
        dl = [deltas[k].to(dt).clone().requires_grad_(True) for k in range(len(INTERVENTIONS))]
        loss = torch.zeros((), dtype=dt)
        for p, toks in enumerate(prompts):
            dd = {}
            for k, (layer, sites) in enumerate(INTERVENTIONS):
                for j, (sp, pos) in enumerate(sites):
                    if sp == p:
                        dd.setdefault(layer, []).append((pos, dl[k][j]))
            logits, _, _ = forward(a, Wd, toks, dd)
            lp = torch.log_softmax(logits, dim=-1)
            ref["%s.ilogits.%d" % (tag, p)] = logits.detach().to(torch.float64)
            for q, t, tok, w in nll:
                if q == p:
                    loss = loss - w * lp[t, tok]
            for m, (q, t, w) in enumerate(KL):
                if q == p:
                    loss = loss + w * (lp[t].exp() * (lp[t] - kl_ref[m].to(dt))).sum()
        loss.backward()
        ref["%s.loss" % tag] = loss.detach().reshape(1).to(torch.float64)
        for k in range(len(INTERVENTIONS)):
            ref["%s.grad.%d" % (tag, k)] = dl[k].grad.to(torch.float64)
    write_safetensors(os.path.join(out, name + ".ref.safetensors"), ref)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for i, name in enumerate(CASES):
        make_case(out, name, 1234 + i)
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(CASES) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
