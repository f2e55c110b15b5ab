#!/usr/bin/python3
"""Model runtime benchmark, side by side with the PyTorch implementation of the tests.

    bench_model.py --exe <bench_model> --out <dir> [--rounds 2] [--quick]

Writes two random checkpoints into <dir> (once; reused while their stamp file exists):
  gpt2_medium  GPT-2 medium shape (d 1024, 24 layers, 16 heads, vocab 50257), F32, Conv1D
  llama_scaled one Llama-3-8B block stack scaled to fit: d 2048, d_ff 7168, 16 heads with 4
               key/value heads of 128, 4 layers, vocab 32000, BF16, rope_scaling llama3
and a batch of prompts (2 x 32 tokens). Then, in alternating rounds, runs `bench_model`
(C++) and this script's torch timing in a subprocess (so each has its own peak memory), both
with 2 threads, and keeps the best time of each. Torch computes in float32 from float32
copies of the weights (its CPU kernels for BF16 are not what a user would choose); the C++
runtime computes in float32 from the stored dtype. Results: <dir>/model_bench.md and .json.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model"))
import torch_reference as ref  # noqa: E402

MODELS = {
    "gpt2_medium": (dict(model_type="gpt2", vocab_size=50257, n_positions=1024, n_embd=1024, n_layer=24,
                         n_head=16, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                         tie_word_embeddings=True), torch.float32),
    "llama_scaled": (dict(model_type="llama", vocab_size=32000, hidden_size=2048, intermediate_size=7168,
                          num_hidden_layers=4, num_attention_heads=16, num_key_value_heads=4, head_dim=128,
                          max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0,
                          rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                            high_freq_factor=4.0, original_max_position_embeddings=8192),
                          hidden_act="silu", tie_word_embeddings=False), torch.bfloat16),
}
PROMPTS, LENGTH = 2, 32
NP_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = buf[b:e]
        if info["dtype"] == "BF16":
            t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.frombuffer(raw, dtype=NP_DTYPES[info["dtype"]]).copy())
        out[name] = t.reshape(info["shape"]).to(torch.float32)
    return out


def peak_rss_bytes():
    """VmHWM: the peak resident memory of this process image (getrusage's ru_maxrss would
    include the parent's peak from before the fork)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make(out, name):
    path = os.path.join(out, name)
    stamp = os.path.join(path, "stamp")
    if os.path.exists(stamp):
        return path
    cfg, dtype = MODELS[name]
    gen = torch.Generator().manual_seed(42)
    a, W = ref.build_model(cfg, gen, std=0.02)
    ref.write_checkpoint(path, cfg, W, dtype)
    toks = torch.randint(0, a.V, (PROMPTS, LENGTH), generator=gen).tolist()
    with open(os.path.join(path, "tokens.txt"), "w") as f:
        for p in toks:
            f.write(" ".join(map(str, p)) + "\n")
    open(stamp, "w").close()
    return path


def torch_timing(path):
    """Runs in a subprocess: loads the checkpoint, times forward and forward + δ-gradient."""
    torch.set_num_threads(2)
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    a = ref.Arch(cfg)
    W = read_safetensors(os.path.join(path, "model.safetensors"))
    toks = [list(map(int, l.split())) for l in open(os.path.join(path, "tokens.txt")) if l.strip()]
    P, n = len(toks), len(toks[0])
    L, s = a.L // 3, n // 3 - 1
    nxt = torch.tensor([p[1:] for p in toks])
    gen = torch.Generator().manual_seed(1)
    kl_ref = torch.log_softmax(torch.randn(a.V, generator=gen), dim=-1)

    def fwd():
        with torch.no_grad():
            logits, _, _ = ref.forward(a, W, toks)
            lp = torch.log_softmax(logits[:, :-1], dim=-1)
            return lp.gather(-1, nxt[..., None])

    def grad():
        delta = (torch.randn(P, a.d, generator=gen) * 0.1).requires_grad_(True)
        logits, _, _ = ref.forward(a, W, toks, {L: [(p, s, delta[p]) for p in range(P)]})
        lp = torch.log_softmax(logits, dim=-1)
        nll = -lp[:, s:n - 1].gather(-1, nxt[:, s:, None]).mean()
        q = lp[0, s]
        loss = nll + 0.0625 * (q.exp() * (q - kl_ref)).sum()
        loss.backward()
        return delta.grad

    res = {}
    for key, fn in (("forward", fwd), ("forward_gradient", grad)):
        fn()  # warm-up
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        res[key] = best
    res["peak_rss_bytes"] = peak_rss_bytes()
    res["tokens"] = P * n
    print(json.dumps(res))


def run_cpp(exe, path):
    out = subprocess.run([exe, path, os.path.join(path, "tokens.txt"), "--benchmark_format=json",
                          "--benchmark_min_time=0"], check=True, capture_output=True, text=True).stdout
    # Google Benchmark's JSON, then our line
    last = out.strip().splitlines()[-1]
    extra = json.loads(last)
    body = json.loads(out[:out.rindex(last)])
    times = {b["name"].split("/")[0]: b["real_time"] / 1000.0 for b in body["benchmarks"]}  # ms -> s
    times.update(extra)
    return times


def make_table(results):
    lines = ["| model | tokens | torch fwd tok/s | C++ fwd tok/s | ratio | torch fwd+grad tok/s | C++ fwd+grad tok/s | ratio |"
             " C++ full (δ at 2n/3) ms | C++ incremental ms | speed-up | weights MB | C++ peak RSS MB | torch peak RSS MB |",
             "|---" * 14 + "|"]
    for name, r in results.items():
        t, c = r["torch"], r["cpp"]
        T = t["tokens"]
        lines.append("| %s | %d | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.0f | %.0f | %.2fx | %.0f | %.0f | %.0f |" % (
            name, T, T / t["forward"], T / c["forward"], t["forward"] / c["forward"],
            T / t["forward_gradient"], T / c["forward_gradient"], t["forward_gradient"] / c["forward_gradient"],
            1000 * c["full_late"], 1000 * c["incremental_late"], c["full_late"] / c["incremental_late"],
            c["weight_bytes"] / 2**20, c["peak_rss_bytes"] / 2**20, t["peak_rss_bytes"] / 2**20))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe")
    ap.add_argument("--out")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--torch-timing")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--table", help="print the table of an earlier run's model_bench.json")
    args = ap.parse_args()
    if args.table:
        with open(args.table) as f:
            print(make_table(json.load(f)), end="")
        return 0
    if args.torch_timing:
        torch_timing(args.torch_timing)
        return 0
    os.makedirs(args.out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    results = {}
    for name in args.models.split(","):
        path = make(args.out, name)
        best_c, best_t = {}, {}
        for r in range(args.rounds):
            t = json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-timing", path],
                                          check=True, capture_output=True, text=True, env=env).stdout)
            c = run_cpp(args.exe, path)
            for k, v in t.items():
                best_t[k] = min(best_t.get(k, float("inf")), v) if k not in ("peak_rss_bytes", "tokens") else v
            for k, v in c.items():
                if k in ("forward", "forward_gradient", "full_late", "incremental_late"):
                    best_c[k] = min(best_c.get(k, float("inf")), v)
                else:
                    best_c[k] = v
            print("%s round %d: torch %s | C++ %s" % (name, r + 1, t, c), flush=True)
        results[name] = {"torch": best_t, "cpp": best_c}
    with open(os.path.join(args.out, "model_bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    table = make_table(results)
    with open(os.path.join(args.out, "model_bench.md"), "w") as f:
        f.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
