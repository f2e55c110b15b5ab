#!/usr/bin/python3
"""Fact-pipeline benchmark, side by side with the PyTorch computation of the tests.

    bench_facts.py --exe <bench_facts> --out <dir> [--requests 1] [--corpus-lines 50] [--models demo,gpt2_medium]

Models: the shipped demo model (examples/facts/demo_model) and a random checkpoint of GPT-2
medium's shape (d 1024, 24 layers, 16 heads, vocabulary 50257, F32; written once into <dir>,
reused while its stamp file exists), both read with the demo's tokenizer (its ids are a
subset of either vocabulary) and the demo's context templates. For each of the first N
requests of the demo, `bench_facts` (C++) times keys, z (cached prefix and full passes) and the
multi-layer MEMIT update; this script times the same computations in PyTorch as the tests
compute them (tests/facts/torch_compute.py: every compute_z iteration runs the whole forward
pass, as MEMIT does), then the retention statistics over the demo corpus (tokens/s). Both
sides use 2 threads; wall-clock and process CPU seconds are recorded (the machine may be
shared). Results: <dir>/facts_bench.md and facts_bench.json.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "facts"))
sys.path.insert(0, os.path.join(ROOT, "tests", "model"))
import torch_compute  # noqa: E402
import torch_reference as ref  # noqa: E402

DEMO = os.path.join(ROOT, "examples", "facts", "demo_model")
THREADS = 2
MEDIUM = dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=1024, n_layer=24, n_head=16,
              activation_function="gelu_new", layer_norm_epsilon=1e-5, tie_word_embeddings=True)
# MEMIT's GPT-2 XL values, with the five layers centred on a quarter of the depth (the
# documented default for checkpoints without a preset).
MEDIUM_HPARAMS = {"layers": [4, 5, 6, 7, 8], "fact_token": "subject_last", "v_num_grad_steps": 20, "v_lr": 0.5,
                  "v_loss_layer": 23, "v_weight_decay": 0.5, "kl_factor": 0.0625, "clamp_norm_factor": 0.75,
                  "mom2_update_weight": 20000, "rewrite_module_tmp": "transformer.h.{}.mlp.c_proj",
                  "layer_module_tmp": "transformer.h.{}", "ln_f_module": "transformer.ln_f",
                  "lm_head_module": "transformer.wte", "mom2_n_samples": 100000, "mom2_dtype": "float32"}


def clocks():
    return time.perf_counter(), time.process_time()


def since(t):
    w, c = clocks()
    return {"wall": w - t[0], "cpu": c - t[1]}


def make_medium(out):
    path = os.path.join(out, "gpt2_medium")
    stamp = os.path.join(path, "stamp")
    if not os.path.exists(stamp):
        gen = torch.Generator().manual_seed(42)
        _, W = ref.build_model(MEDIUM, gen, std=0.02)
        ref.write_checkpoint(path, MEDIUM, W, torch.float32, prefix="transformer.")
        with open(os.path.join(path, "hparams.json"), "w") as f:
            json.dump(MEDIUM_HPARAMS, f, indent=1)
        open(stamp, "w").close()
    return path, os.path.join(path, "hparams.json")


def forward_keys(model, ids, layers):
    """Block outputs and the FFN output-projection inputs at `layers` (no δ), as GPT2.forward."""
    P, c = model.P, model.cfg
    d, H, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
    x = torch.tensor(ids)
    T = len(ids)
    h = P["transformer.wte.weight"][x] + P["transformer.wpe.weight"][:T]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    keys, outs = {}, []
    for i in range(c["n_layer"]):
        p = f"transformer.h.{i}."
        a = F.layer_norm(h, (d,), P[p + "ln_1.weight"], P[p + "ln_1.bias"], eps)
        q, k, v = (a @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]).split(d, dim=1)
        q, k, v = (t.view(T, H, d // H).transpose(0, 1) for t in (q, k, v))
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(d // H)).masked_fill(~mask, float("-inf")).softmax(-1)
        h = h + (att @ v).transpose(0, 1).reshape(T, d) @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"]
        m = F.layer_norm(h, (d,), P[p + "ln_2.weight"], P[p + "ln_2.bias"], eps)
        m = m @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"]
        m = 0.5 * m * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (m + 0.044715 * torch.pow(m, 3.0))))
        if i in layers:
            keys[i] = m
        h = h + m @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"]
        outs.append(h)
        if i >= max(layers):
            break
    return keys, outs


def torch_keys(model, spec, layer):
    """compute_ks (pipeline.md §4): the key averaged within groups, then over groups."""
    ks = []
    with torch.no_grad():
        for r in spec["rows"]:
            ks.append(forward_keys(model, r["ids"], [layer])[0][layer][r["s"]])
    pos, groups = 0, []
    for n in spec["groups"]:
        groups.append(torch.stack(ks[pos:pos + n]).mean(0))
        pos += n
    return torch.stack(groups).mean(0).double()


def torch_update(model, spec, z):
    """MEMIT's multi-layer update for one request (pipeline.md §6), C0 = I as on the C++ side:
    per layer, keys and the block-L output on the current weights, R = (z − c) / (m − i),
    Δ = R Kᵀ (λ C0 + K Kᵀ)⁻¹ in float64, W += Δ."""
    layers, L = spec["layers"], spec["layer"]
    lam = spec["hparams"]["mom2_update_weight"]
    saved = {}
    for i, l in enumerate(layers):
        name = f"transformer.h.{l}.mlp.c_proj.weight"
        if name not in saved:
            saved[name] = model.P[name].clone()
        k = torch_keys(model, spec, l)[:, None]  # d_k x 1
        with torch.no_grad():
            _, outs = forward_keys(model, spec["bare"]["ids"], [L])
        cur = outs[L][spec["bare"]["s"]].double()
        R = ((z - cur) / (len(layers) - i))[:, None]  # d x 1
        dk = k.shape[0]
        adj = torch.linalg.solve(lam * torch.eye(dk, dtype=torch.float64) + k @ k.T, k)
        upd = R @ adj.T  # d x d_k in math orientation; Conv1D stores [d_k, d]
        model.P[name] = model.P[name] + upd.T.float()
    for name, w in saved.items():
        model.P[name] = w


def torch_stats(model, layers, tok_ids):
    sums = {l: None for l in layers}
    n = 0
    with torch.no_grad():
        for ids in tok_ids:
            keys, _ = forward_keys(model, ids, layers)
            for l in layers:
                k = keys[l].double()
                s = k.T @ k
                sums[l] = s if sums[l] is None else sums[l] + s
            n += len(ids)
    return n


def torch_side(ckpt, rows_path, corpus_ids_path):
    torch.set_num_threads(THREADS)
    model = torch_compute.GPT2(ckpt)
    rows = json.load(open(rows_path))
    out = {"requests": []}
    for spec in rows:
        r = {}
        t = clocks()
        torch_keys(model, spec, spec["key_layer"])
        r["keys"] = since(t)
        zspec = {k: v for k, v in spec.items() if k != "key_layer"}
        t = clocks()
        res = torch_compute.compute(model, zspec)
        r["z"] = since(t)
        r["z_iterations"] = len(res["losses"])
        z = torch.tensor(res["z"], dtype=torch.float64)
        t = clocks()
        torch_update(model, spec, z)
        r["update"] = since(t)
        out["requests"].append(r)
    tok_ids = json.load(open(corpus_ids_path))
    t = clocks()
    n = torch_stats(model, rows[0]["layers"], tok_ids)
    out["stats"] = dict(since(t), tokens=n)
    print(json.dumps(out))


def mean(xs):
    return sum(xs) / len(xs)


def table(results):
    lines = ["| model | phase | torch wall s | C++ wall s | speed-up | torch CPU s | C++ CPU s |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        t, c = r["torch"], r["cpp"]
        for phase, cphase in (("keys", "keys"), ("z", "z"), ("update", "update")):
            tw = mean([x[phase]["wall"] for x in t["requests"]])
            cw = mean([x[cphase]["wall"] for x in c["requests"]])
            tc = mean([x[phase]["cpu"] for x in t["requests"]])
            cc = mean([x[cphase]["cpu"] for x in c["requests"]])
            label = phase if phase != "z" else "z (%d iterations)" % c["requests"][0]["z_iterations"]
            lines.append("| %s | %s | %.3f | %.3f | %.2fx | %.3f | %.3f |" % (name, label, tw, cw, tw / cw, tc, cc))
        zf = mean([x["z_full"]["wall"] for x in c["requests"]])
        zi = mean([x["z"]["wall"] for x in c["requests"]])
        lines.append("| %s | C++ z, full passes / cached prefix | | %.3f / %.3f | %.2fx | | |" % (name, zf, zi, zf / zi))
        ts, cs = t["stats"], c["stats"]
        lines.append("| %s | stats tokens/s (%d tokens, %d layers) | %.0f | %.0f | %.2fx | %.3f | %.3f |" % (
            name, cs["tokens"], len(cs["layers"]), ts["tokens"] / ts["wall"], cs["tokens"] / cs["wall"],
            (cs["tokens"] / cs["wall"]) / (ts["tokens"] / ts["wall"]), ts["cpu"], cs["cpu"]))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe")
    ap.add_argument("--out")
    ap.add_argument("--requests", type=int, default=1)
    ap.add_argument("--models", default="demo,gpt2_medium")
    ap.add_argument("--corpus-lines", type=int, default=50)
    ap.add_argument("--torch-side", nargs=3)
    args = ap.parse_args()
    if args.torch_side:
        torch_side(*args.torch_side)
        return 0
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), OPENBLAS_NUM_THREADS=str(THREADS),
               MKL_NUM_THREADS=str(THREADS))
    with open(os.path.join(DEMO, "corpus.txt")) as f:
        lines = [l for l in f.read().splitlines() if l.strip()][:args.corpus_lines]
    corpus = os.path.join(args.out, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("\n".join(lines) + "\n")
    results = {}
    for name in args.models.split(","):
        if name == "demo":
            ckpt, hparams = DEMO, os.path.join(ROOT, "examples", "facts", "demo_hparams.json")
        else:
            ckpt, hparams = make_medium(args.out)
        rows = os.path.join(args.out, name + "_rows.json")
        times = os.path.join(args.out, name + "_cpp.json")
        ids = os.path.join(args.out, name + "_corpus_ids.json")
        subprocess.run([args.exe, ckpt, DEMO, hparams, os.path.join(DEMO, "requests.json"), corpus,
                        str(args.requests), rows, times, ids], check=True, env=env)
        cpp = json.load(open(times))
        t = json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-side", ckpt, rows, ids],
                                      check=True, capture_output=True, text=True, env=env).stdout)
        results[name] = {"cpp": cpp, "torch": t}
        print(name, json.dumps(results[name]), flush=True)
    with open(os.path.join(args.out, "facts_bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    md = table(results)
    with open(os.path.join(args.out, "facts_bench.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
