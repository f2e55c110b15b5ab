#!/usr/bin/env python3
"""End-to-end test of the `seqedit` tool.

Writes a small GPT-2-layout checkpoint (config.json model_type gpt2,
h.N.mlp.c_proj.weight stored [d_k, d_v] F32, plus other tensors), MEMIT-format statistics
(mom2.mom2 raw sum, mom2.count) and edit batches, then runs `seqedit edit` twice with a state
file, and checks: the edited tensor equals the library's in-memory result
(cli_e2e_reference) to float round-off, every other byte of the checkpoint is unchanged,
`verify` passes, `retract` works, other methods run and verify, `inspect` reads every kind of
file, and bad inputs exit non-zero with a "seqedit: error:" message and leave the files alone.

Usage: test_cli_e2e.py --seqedit PATH --reference PATH --workdir DIR
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

D_V, D_K, N_LAYERS = 8, 24, 2
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


# ---------------------------------------------------------------- safetensors in numpy

DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<f2"): "F16"}


def write_safetensors(path, tensors, metadata=None):
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs, off = [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8"}[info["dtype"]]
        out[name] = (np.frombuffer(raw[8 + n + b:8 + n + e], dtype=dt).reshape(info["shape"]), 8 + n + b, 8 + n + e)
    return raw, out


# ---------------------------------------------------------------- helpers

class Tool:
    def __init__(self, exe):
        self.exe = exe

    def run(self, *args):
        p = subprocess.run([self.exe] + [str(a) for a in args], capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr


def tree_bytes(d):
    return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))}


def make_inputs(work, rng):
    model = os.path.join(work, "model")
    os.makedirs(model)
    with open(os.path.join(model, "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "n_layer": N_LAYERS, "n_embd": D_V}, f)
    tensors = {"wte.weight": rng.standard_normal((50, D_V)).astype(np.float32)}
    for layer in range(N_LAYERS):
        tensors[f"h.{layer}.attn.c_attn.weight"] = rng.standard_normal((D_V, 3 * D_V)).astype(np.float32)
        tensors[f"h.{layer}.mlp.c_fc.weight"] = rng.standard_normal((D_V, D_K)).astype(np.float32)
        tensors[f"h.{layer}.mlp.c_proj.weight"] = (0.3 * rng.standard_normal((D_K, D_V))).astype(np.float32)  # W^T
        tensors[f"h.{layer}.ln_2.weight"] = np.ones(D_V, dtype=np.float16)
    tensors["ln_f.bias"] = np.zeros(D_V, dtype=np.float32)
    write_safetensors(os.path.join(model, "model.safetensors"), tensors)

    # MEMIT statistics: raw sum of k k^T over `count` tokens, float32, as MEMIT saves them.
    count = 5000
    x = rng.standard_normal((count, D_K)) * np.linspace(0.5, 2.0, D_K)
    stats = os.path.join(work, "stats.npz")
    np.savez(stats, **{"mom2.mom2": (x.T @ x).astype(np.float32), "mom2.count": np.array(count, dtype=np.int64),
                       "mom2.constructor": np.array("Mom2Stat", dtype="<U32"),
                       "sample_size": np.array(count, dtype=np.int64)})

    # C0 with a null space (eigenvalues 1e-3 below AlphaEdit's 2e-2 threshold) for alphaedit.
    q, _ = np.linalg.qr(rng.standard_normal((D_K, D_K)))
    ev = np.where(np.arange(D_K) < D_K // 2, 1e-3, 1.0 + np.arange(D_K) / D_K)
    c0_null = os.path.join(work, "c0_null.npy")
    np.save(c0_null, (q * ev) @ q.T)

    b1 = os.path.join(work, "b1.npz")
    np.savez(b1, K=rng.standard_normal((D_K, 3)).astype(np.float32), V=rng.standard_normal((D_V, 3)).astype(np.float32))
    b2 = os.path.join(work, "b2.safetensors")
    write_safetensors(b2, {"K": rng.standard_normal((D_K, 4)), "V": rng.standard_normal((D_V, 4))})
    b3 = os.path.join(work, "b3_residual.npz")  # residuals R instead of values V
    np.savez(b3, K=rng.standard_normal((D_K, 2)), R=0.5 * rng.standard_normal((D_V, 2)))
    return model, stats, c0_null, b1, b2, b3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqedit", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(20260101)
    tool = Tool(args.seqedit)
    model, stats, c0_null, b1, b2, b3 = make_inputs(work, rng)
    pristine = os.path.join(work, "model_pristine")
    shutil.copytree(model, pristine)
    for name in ["model_alpha", "model_prune", "model_rect", "model_bad"]:
        shutil.copytree(model, os.path.join(work, name))
    state = os.path.join(work, "layer0.state.safetensors")
    shard = os.path.join(model, "model.safetensors")
    tname = "h.0.mlp.c_proj.weight"

    # ------------------------------------------------------------ help
    for sub in [[], ["inspect"], ["edit"], ["retract"], ["verify"]]:
        rc, out, _ = tool.run(*sub, "--help")
        check(rc == 0 and "Usage" in out, "seqedit %s --help" % " ".join(sub))
    rc, out, _ = tool.run("edit", "--help")
    check("Batch files" in out and "memit-rect" in out, "edit --help documents the batch format and the methods")

    # ------------------------------------------------------------ two edits with a state file
    rc, out, err = tool.run("edit", "--model", model, "--layer", 0, "--stats", stats, "--method", "memit",
                            "--state", state, b1)
    print(out + err)
    check(rc == 0, "edit #1 (fresh, memit) succeeds")
    check("ids 1-3" in out, "edit #1 prints the ids of its edits")
    rc, out, err = tool.run("edit", "--model", model, "--layer", 0, "--stats", stats, "--method", "memit",
                            "--state", state, b2, b3)
    print(out + err)
    check(rc == 0, "edit #2 (resumed from the state, two batches, the second with residuals R) succeeds")
    check("ids 4-7" in out and "ids 8-9" in out and "resumed" in err, "edit #2 resumes and continues the ids")

    ref_npy = os.path.join(work, "reference.npy")
    p = subprocess.run([args.reference, pristine, "0", stats, ref_npy, b1, b2, b3], capture_output=True, text=True)
    check(p.returncode == 0, "cli_e2e_reference runs (" + p.stderr.strip() + ")")
    w_ref = np.load(ref_npy)
    raw, tensors = read_safetensors(shard)
    w_tool = tensors[tname][0].astype(np.float64).T
    err = np.abs(w_tool - w_ref).max() / np.abs(w_ref).max()
    check(err <= 2 ** -23, "edited tensor equals the library's result to float round-off (rel. max error %.3g)" % err)
    check(np.array_equal(tensors[tname][0], w_ref.T.astype(np.float32)),
          "edited tensor is exactly the library's result rounded once to float32")
    w0 = read_safetensors(os.path.join(pristine, "model.safetensors"))[1][tname][0]
    check(not np.array_equal(w0, tensors[tname][0]), "the tensor did change")

    raw0 = open(os.path.join(pristine, "model.safetensors"), "rb").read()
    b, e = tensors[tname][1], tensors[tname][2]
    check(len(raw) == len(raw0) and raw[:b] == raw0[:b] and raw[e:] == raw0[e:],
          "every other byte of the shard (header and other tensors) is unchanged")
    check(open(os.path.join(model, "config.json"), "rb").read() == open(os.path.join(pristine, "config.json"), "rb").read(),
          "config.json unchanged")

    rc, out, err = tool.run("verify", "--state", state, "--stats", stats)
    print(out + err)
    check(rc == 0 and "OK" in out, "verify passes after two edits")
    drift = [l for l in out.splitlines() if "drift estimate" in l]
    drift_value = float(drift[0].split("=")[1]) if drift and "unknown" not in drift[0] else None
    check(drift_value is not None and 0 <= drift_value < 1e-10,
          "verify prints the editor's drift estimate (%s)" % (drift[0].strip() if drift else "missing"))

    for path in [state, model, stats, b1, b2, c0_null, shard]:
        rc, out, err = tool.run("inspect", path)
        check(rc == 0 and len(out) > 0, "inspect " + os.path.basename(path))
        if path == state:
            print(out)
            check("9 live edits" in out and "1-9" in out, "inspect STATE shows the journal ids")
            line = [l for l in out.splitlines() if "drift estimate" in l]
            check(line and "unknown" not in line[0], "inspect STATE shows the saved drift estimate")
        if path == model:
            check("layer 1:" in out and "h.1.mlp.c_proj.weight" in out, "inspect DIR lists each layer's FFN tensor")
        if path == stats:
            check("MEMIT statistics" in out, "inspect recognises MEMIT statistics")

    # ------------------------------------------------------------ retract
    rc, out, err = tool.run("retract", "--state", state, "--ids", 1, 2, 3, 8, 9, "--model", model, "--layer", 0)
    print(out + err)
    check(rc == 0, "retract ids 1 2 3 8 9 succeeds")
    p = subprocess.run([args.reference, pristine, "0", stats, ref_npy, b2], capture_output=True, text=True)
    w_ref2 = np.load(ref_npy)
    w_tool2 = read_safetensors(shard)[1][tname][0].astype(np.float64).T
    err2 = np.abs(w_tool2 - w_ref2).max() / np.abs(w_ref2).max()
    check(err2 <= 1e-5, "after retracting batches 1 and 3 the tensor equals batch 2 alone (rel. max error %.3g)" % err2)
    rc, out, err = tool.run("verify", "--state", state, "--stats", stats)
    check(rc == 0, "verify passes after the retraction")
    rc, out, err = tool.run("retract", "--state", state, "--ids", 2, "--model", model, "--layer", 0)
    check(rc != 0 and "seqedit: error:" in err and "not in the journal" in err, "retracting a retracted id fails clearly")

    # ------------------------------------------------------------ other methods
    for method, mdir, extra in [("alphaedit", "model_alpha", ["--c0", c0_null]),
                                ("memit-prune", "model_prune", ["--stats", stats]),
                                ("memit-rect", "model_rect", ["--stats", stats])]:
        st = os.path.join(work, method + ".state.safetensors")
        mpath = os.path.join(work, mdir)
        ok = True
        for batch in [b1, b2]:
            rc, out, err = tool.run("edit", "--model", mpath, "--layer", 1, "--method", method, "--state", st, *extra, batch)
            ok = ok and rc == 0
            if rc != 0:
                print(out + err)
        check(ok, "edit --method %s twice" % method)
        rc, out, err = tool.run("verify", "--state", st, *extra)
        print(out + err)
        check(rc == 0, "verify passes for " + method)
        rc, out, err = tool.run("retract", "--state", st, "--ids", 4, "--model", mpath, "--layer", 1)
        check(rc == 0, "retract works for " + method)
    rc, out, err = tool.run("edit", "--model", os.path.join(work, "model_alpha"), "--layer", 1, "--method", "alphaedit",
                            "--state", os.path.join(work, "alpha_f.state.safetensors"), "--scalar", "float", "--c0", c0_null, b1)
    check(rc == 0, "edit --scalar float")
    rc, out, err = tool.run("verify", "--state", os.path.join(work, "alpha_f.state.safetensors"), "--c0", c0_null)
    check(rc == 0, "verify passes for a float state")

    # ------------------------------------------------------------ resuming: options checked against the state
    # float32 memit-rect resumed with --p 0.2: the state records p as given (a double), so the
    # float working precision must not enter the comparison.
    rect_f = os.path.join(work, "rect_f.state.safetensors")
    mrect = os.path.join(work, "model_rect")
    rect_args = ["edit", "--model", mrect, "--layer", 0, "--method", "memit-rect", "--scalar", "float",
                 "--state", rect_f]
    rc1, _, err1 = tool.run(*rect_args, "--stats", stats, "--p", 0.2, b1)
    rc2, out2, err2 = tool.run(*rect_args, "--p", 0.2, b2)
    print(err1 + out2 + err2)
    check(rc1 == 0 and rc2 == 0 and "resumed" in err2, "float32 memit-rect resumed with --p 0.2")
    rc, out, err = tool.run("verify", "--state", rect_f, "--stats", stats)
    check(rc == 0, "verify passes for the resumed float32 memit-rect state")
    rc, _, err = tool.run(*rect_args, "--p", 0.3, b1)
    check(rc != 0 and "--p 0.2" in err and "0.3" in err, "resuming with another --p is refused, naming both values")
    rc, _, err = tool.run(*rect_args, "--lambda", 15000, "--alpha", 1, "--compensation", "analytic", b1)
    check(rc == 0, "resuming with the state's own --lambda, --alpha, --compensation (float32) is accepted")
    rc, _, err = tool.run(*rect_args, "--lambda", 100, b1)
    check(rc != 0 and "--lambda 15000" in err, "resuming with another --lambda is refused")
    rc, _, err = tool.run(*rect_args, "--alpha", 2, b1)
    check(rc != 0 and "--alpha 1" in err, "resuming with another --alpha is refused")
    rc, _, err = tool.run(*rect_args, "--compensation", "none", b1)
    check(rc != 0 and "--compensation analytic" in err, "resuming with another --compensation is refused")
    rc, _, err = tool.run(*rect_args, "--stats", stats, b1)
    check(rc == 0 and "--stats is ignored" in err, "resuming with --stats reports it as ignored on stderr")
    rc, _, err = tool.run(*rect_args, "--c0", c0_null, b1)
    check(rc == 0 and "--c0 is ignored" in err, "resuming with --c0 reports it as ignored on stderr")
    alpha_st = os.path.join(work, "alpha_thr.state.safetensors")
    malpha = os.path.join(work, "model_alpha_thr")
    shutil.copytree(pristine, malpha)
    rc, _, err = tool.run("edit", "--model", malpha, "--layer", 1, "--method", "alphaedit", "--state", alpha_st,
                          "--c0", c0_null, b1)
    check(rc == 0, "edit --method alphaedit (new state for the --threshold cases)")
    rc, _, err = tool.run("edit", "--model", malpha, "--layer", 1, "--method", "alphaedit", "--state", alpha_st,
                          "--threshold", 0.5, b1)
    check(rc != 0 and "--threshold 0.02" in err, "resuming alphaedit with another --threshold is refused")
    rc, _, err = tool.run("edit", "--model", malpha, "--layer", 1, "--method", "alphaedit", "--state", alpha_st,
                          "--threshold", 0.02, b1)
    check(rc == 0, "resuming alphaedit with its own --threshold is accepted")

    # ------------------------------------------------------------ retract: a refused downdate, refreshed from C0
    # float32, C0 diagonal and one huge key per state: the Woodbury-updated inverse loses the key's direction to
    # cancellation (error ~ eps * |key|^2 / mu) while the true downdate eigenvalue is -mu/|key|^2, above the
    # editor's threshold; a fresh inverse from C0 is accurate there. Whether the updated inverse's error makes the
    # downdate look indefinite depends on the rounding, so several keys are tried.
    c0_diag = os.path.join(work, "c0_diag.npy")
    np.save(c0_diag, np.diag(np.linspace(50.0, 150.0, D_K)))
    refused = recovered = 0
    for i, scale in enumerate([700, 760, 820, 880, 940, 1000, 1060, 1120, 1180, 1240]):
        mdir = os.path.join(work, "model_refresh_%d" % i)
        shutil.copytree(pristine, mdir)
        st = os.path.join(work, "refresh_%d.state.safetensors" % i)
        k = np.zeros((D_K, 1), np.float32)
        k[i % D_K, 0] = scale
        bk = os.path.join(work, "refresh_%d.npz" % i)
        np.savez(bk, K=k, V=rng.standard_normal((D_V, 1)).astype(np.float32))
        rc, out, err = tool.run("edit", "--model", mdir, "--layer", 0, "--method", "memit", "--lambda", 1,
                                "--scalar", "float", "--c0", c0_diag, "--state", st, bk)
        if rc != 0:
            print(out + err)
            check(False, "edit for the refresh case %d" % i)
            continue
        st_before, model_before = open(st, "rb").read(), tree_bytes(mdir)
        rc, out, err = tool.run("retract", "--state", st, "--ids", 1, "--model", mdir, "--layer", 0)
        if rc == 0:
            continue
        refused += 1
        check("seqedit: error:" in err and "--stats" in err and "--c0" in err,
              "a refused downdate (key scale %g) names --stats/--c0" % scale)
        check(open(st, "rb").read() == st_before and tree_bytes(mdir) == model_before,
              "a refused downdate leaves the state and the checkpoint untouched")
        rc, out, err = tool.run("retract", "--state", st, "--ids", 1, "--model", mdir, "--layer", 0, "--c0", c0_diag)
        print(out + err)
        check(rc == 0 and "rebuilding the system from C0" in err,
              "retract --c0 refreshes and retries the refused downdate (key scale %g)" % scale)
        recovered += rc == 0
        # The problem's condition number along the key is kappa = (mu + scale^2) / mu; float32 round-off in
        # the residual R_o = V_o - W K_o bounds the accuracy of any retraction by about eps * kappa.
        mu = np.linspace(50.0, 150.0, D_K)[i % D_K]
        bound = 10 * 2.0 ** -23 * (mu + scale ** 2) / mu
        w_back = read_safetensors(os.path.join(mdir, "model.safetensors"))[1][tname][0]
        w_orig = read_safetensors(os.path.join(pristine, "model.safetensors"))[1][tname][0]
        dev = np.abs(w_back.astype(np.float64) - w_orig).max() / np.abs(w_orig).max()
        check(dev <= bound, "after the refreshed retraction the tensor is back to W0 (rel. max deviation %.3g, "
              "bound 10 eps kappa = %.3g)" % (dev, bound))
        rc, out, err = tool.run("verify", "--state", st, "--c0", c0_diag, "--tolerance", bound)
        check(rc == 0, "verify passes after the refreshed retraction (tolerance 10 eps kappa)")
    print("refresh cases: %d refused without C0, %d recovered with it" % (refused, recovered))
    check(refused > 0, "at least one of the ill-conditioned downdates is refused without C0 (%d of 10)" % refused)

    # ------------------------------------------------------------ bad inputs
    bad = os.path.join(work, "model_bad")
    bad_state = os.path.join(work, "bad.state.safetensors")
    np.savez(os.path.join(work, "bad_k.npz"), K=np.zeros((D_K + 1, 2), np.float32), V=np.zeros((D_V, 2), np.float32))
    np.savez(os.path.join(work, "bad_v.npz"), K=np.zeros((D_K, 2), np.float32), V=np.zeros((D_V, 3), np.float32))
    np.savez(os.path.join(work, "bad_t.npz"), K=np.zeros((2, D_K), np.float32), V=np.zeros((D_V, 2), np.float32))
    np.savez(os.path.join(work, "no_v.npz"), K=np.zeros((D_K, 2), np.float32))
    base = ["edit", "--model", bad, "--stats", stats, "--state", bad_state]
    cases = [
        ("missing batch file", base + ["--layer", 0, "--method", "memit", os.path.join(work, "nope.npz")], "nope.npz"),
        ("missing model folder", ["edit", "--model", os.path.join(work, "nomodel"), "--layer", 0, "--stats", stats,
                                  "--method", "memit", b1], "nomodel"),
        ("missing stats file", ["edit", "--model", bad, "--layer", 0, "--stats", os.path.join(work, "nostats.npz"),
                                "--method", "memit", b1], "nostats.npz"),
        ("wrong layer", base + ["--layer", 5, "--method", "memit", b1], "layer 5"),
        ("state in a missing folder", ["edit", "--model", bad, "--stats", stats, "--layer", 0, "--method", "memit",
                                       "--state", os.path.join(work, "nodir", "s.safetensors"), b1], "does not exist"),
        ("negative layer", base + ["--layer", -1, "--method", "memit", b1], "--layer"),
        ("unknown method", base + ["--layer", 0, "--method", "rome", b1], "unknown method 'rome'"),
        ("K with the wrong d_k", base + ["--layer", 0, "--method", "memit", os.path.join(work, "bad_k.npz")], "bad_k.npz"),
        ("V with the wrong number of columns", base + ["--layer", 0, "--method", "memit", os.path.join(work, "bad_v.npz")],
         "bad_v.npz"),
        ("transposed K", base + ["--layer", 0, "--method", "memit", os.path.join(work, "bad_t.npz")], "transposed"),
        ("batch without V or R", base + ["--layer", 0, "--method", "memit", os.path.join(work, "no_v.npz")], "neither"),
        ("no C0 for a new sequence", ["edit", "--model", bad, "--layer", 0, "--method", "memit", b1], "C0"),
        ("unknown option", base + ["--layer", 0, "--method", "memit", "--bogus", b1], "--bogus"),
        ("missing required option", ["edit", "--layer", 0, "--method", "memit", b1], "--model is required"),
        ("no subcommand", [], "subcommand"),
        ("bad --scalar", base + ["--layer", 0, "--method", "memit", "--scalar", "half", b1], "half"),
        ("state of another layer", ["edit", "--model", model, "--layer", 1, "--stats", stats, "--method", "memit",
                                    "--state", state, b1], "layer 0"),
        ("state of another method", ["edit", "--model", model, "--layer", 0, "--stats", stats, "--method", "memit-prune",
                                     "--state", state, b1], "--method memit"),
        ("verify without C0", ["verify", "--state", state], "--stats"),
        ("verify of a missing state", ["verify", "--state", os.path.join(work, "none.safetensors"), "--stats", stats],
         "none.safetensors"),
        ("inspect a missing file", ["inspect", os.path.join(work, "missing.safetensors")], "missing.safetensors"),
        ("retract from a non-state file", ["retract", "--state", b2, "--ids", 1, "--model", model, "--layer", 0],
         "not a seqedit state file"),
    ]
    before = tree_bytes(bad)
    state_before = open(state, "rb").read()
    model_before = tree_bytes(model)
    for what, argv, needle in cases:
        rc, out, err = tool.run(*argv)
        good = rc != 0 and "seqedit: error:" in err and needle in err
        lines = [l for l in err.splitlines() if l.startswith("seqedit: error:")]
        check(good, "bad input, %s: exit %d, %s" % (what, rc, lines[0] if lines else "no error message"))
    check(tree_bytes(bad) == before and not os.path.exists(bad_state), "failed runs leave the checkpoint untouched")
    check(open(state, "rb").read() == state_before and tree_bytes(model) == model_before,
          "failed runs leave the state file and its checkpoint untouched")

    # A checkpoint changed behind the state's back is refused, unless --force.
    raw, tensors = read_safetensors(shard)
    b, e = tensors[tname][1], tensors[tname][2]
    changed = bytearray(raw)
    changed[b:b + 4] = struct.pack("<f", 123.0)
    with open(shard, "wb") as f:
        f.write(bytes(changed))
    rc, out, err = tool.run("edit", "--model", model, "--layer", 0, "--method", "memit", "--state", state, b1)
    check(rc != 0 and "differs from the current weights" in err and "--force" in err,
          "edit refuses a checkpoint tensor that differs from the state")
    rc, out, err = tool.run("edit", "--model", model, "--layer", 0, "--method", "memit", "--state", state, "--force", b1)
    check(rc == 0, "edit --force continues from the state's weights")
    rc, out, err = tool.run("verify", "--state", state, "--stats", stats)
    check(rc == 0, "verify passes after --force")

    # verify fails (exit 1) on a state whose weights were tampered with in a valid way is
    # not constructible without rewriting the checksum; a too-small tolerance shows exit 1.
    rc, out, err = tool.run("verify", "--state", state, "--stats", stats, "--tolerance", 0)
    check(rc in (0, 1), "verify --tolerance 0 reports (exit %d)" % rc)

    print("\n%d failure(s)" % len(FAILURES))
    for f in FAILURES:
        print("  " + f)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
