#!/usr/bin/env python3
"""One editor step at the GPT-2 XL layer shape (d_k 6400, d_v 1600, 100 edits per step),
called from Python and from C++ in the same run, and against the reference code's per-step
torch.linalg.solve on the same data.

* Python: wall time of ``SequentialEditor.apply(K, V)`` (argument conversion, GIL release,
  wrapper), Fortran-ordered float inputs (no copy) and C-ordered ones (converted once).
* C++: the same step timed inside the extension around ``SequentialEditor::apply`` only.
  Python and C++ steps alternate on the one editor (every aligned step costs the same).
* torch: the reference's step, A = lambda C0 + sum K K^T re-formed and solved with
  torch.linalg.solve for the d_v right-hand sides (LU, O(d_k^3)), same dtype, same threads.

Usage: bench_python.py [--dtype float64|float32] [--repeats 5] [--dk 6400 --dv 1600 --n 100]
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

import seqedit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--dk", type=int, default=6400)
    ap.add_argument("--dv", type=int, default=1600)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--torch-repeats", type=int, default=2)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    dt = np.dtype(a.dtype)
    rng = np.random.default_rng(0)
    lam = 20000.0
    # C0 = E[k k^T] from 2 d_k pseudo tokens (positive definite).
    k0 = rng.standard_normal((a.dk, 2 * a.dk), dtype=np.float32).astype(dt)
    c0 = np.asfortranarray(k0 @ k0.T / k0.shape[1])
    del k0
    w0 = np.asfortranarray(0.02 * rng.standard_normal((a.dv, a.dk)).astype(dt))
    t0 = time.perf_counter()
    ed = seqedit.SequentialEditor(w0, c0, seqedit.Objective.memit(lam))
    t_build = time.perf_counter() - t0

    def batch():
        return (np.asfortranarray(rng.standard_normal((a.dk, a.n)).astype(dt)),
                np.asfortranarray(rng.standard_normal((a.dv, a.n)).astype(dt)))

    py_f, py_c, cpp = [], [], []
    ks, vs = [], []
    for _ in range(a.repeats):
        k, v = batch()
        ks.append(k)
        vs.append(v)
        t0 = time.perf_counter()
        ed.apply(k, v)
        py_f.append(time.perf_counter() - t0)
        k, v = batch()
        ks.append(k)
        vs.append(v)
        cpp.append(ed._e._timed_apply(k, v))
        k, v = batch()
        ks.append(k)
        vs.append(v)
        kc, vc = np.ascontiguousarray(k), np.ascontiguousarray(v)
        t0 = time.perf_counter()
        ed.apply(kc, vc)
        py_c.append(time.perf_counter() - t0)

    # The reference per-step solve, on the same data (all batches so far, t = 3 repeats).
    tdt = torch.float64 if dt == np.float64 else torch.float32
    tc0 = torch.from_numpy(c0)
    tw0 = torch.from_numpy(w0)
    K = torch.from_numpy(np.hstack(ks))
    V = torch.from_numpy(np.hstack(vs))
    ref = []
    for _ in range(a.torch_repeats):
        t0 = time.perf_counter()
        A = lam * tc0 + K @ K.T
        R = V - tw0 @ K
        delta = torch.linalg.solve(A, K @ R.T).T
        ref.append(time.perf_counter() - t0)
        del A, R
    err = float(torch.linalg.norm(torch.from_numpy(np.asarray(ed.cumulative_update())) - delta) /
                torch.linalg.norm(delta))

    m_pf, m_pc, m_cpp, m_ref = (statistics.median(x) for x in (py_f, py_c, cpp, ref))
    res = {
        "shape": {"d_k": a.dk, "d_v": a.dv, "n": a.n, "dtype": a.dtype},
        "machine": {"cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0], "python": platform.python_version(),
                    "torch_threads": torch.get_num_threads()},
        "editor_construction_s": t_build,
        "step_python_fortran_s": py_f, "step_cpp_s": cpp, "step_python_c_order_s": py_c, "torch_solve_step_s": ref,
        "median": {"python_fortran": m_pf, "cpp": m_cpp, "python_c_order": m_pc, "torch_solve": m_ref},
        "python_overhead_fortran": m_pf / m_cpp - 1.0,
        "python_overhead_c_order": m_pc / m_cpp - 1.0,
        "speedup_vs_torch_solve": m_ref / m_pf,
        "editor_vs_torch_solve_rel_diff": err,
    }
    print(f"layer shape d_k={a.dk}, d_v={a.dv}, n={a.n}, {a.dtype}; load {res['machine']['load_avg_1min']:.2f}")
    print(f"  editor construction           {t_build:8.3f} s")
    print(f"  step from C++   (median of {a.repeats})  {m_cpp:8.4f} s")
    print(f"  step from Python, Fortran in  {m_pf:8.4f} s   overhead {100 * res['python_overhead_fortran']:+.2f}%")
    print(f"  step from Python, C order in  {m_pc:8.4f} s   overhead {100 * res['python_overhead_c_order']:+.2f}%")
    print(f"  per-step torch.linalg.solve   {m_ref:8.4f} s   seqedit is {res['speedup_vs_torch_solve']:.1f}x faster")
    print(f"  |D_seqedit - D_torch| / |D_torch| = {err:.2e}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
