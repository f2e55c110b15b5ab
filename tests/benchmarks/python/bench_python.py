#!/usr/bin/env python3
"""One editor step at the GPT-2 XL layer shape (d_k 6400, d_v 1600, 100 edits per step),
called from Python and from C++ in the same run, and against the reference code's per-step
torch.linalg.solve on the same data.

* Python: wall time of ``SequentialEditor.apply(K, V)`` (argument conversion, GIL release,
  wrapper), Fortran-ordered float inputs (no copy) and C-ordered ones (converted once).
* C++: the same step timed inside the extension around ``SequentialEditor::apply`` only.
  Python and C++ steps alternate on the one editor (every aligned step costs the same).
* torch: the reference's step, A = lambda C0 + sum K K^T re-formed and solved with
  torch.linalg.solve for the d_v right-hand sides (LU, O(d_k^3)), same dtype, and by default
  the extension's thread count (1: the module is built without OpenMP, so Eigen runs on one
  thread); --torch-threads changes it.

Every time is given as wall seconds and as CPU seconds of the process (user + system,
resource.getrusage) around the same call; min and median over the repeats.

Usage: bench_python.py [--dtype float64|float32] [--repeats 7] [--dk 6400 --dv 1600 --n 100]
                       [--torch-threads 1] [--json out.json]
"""

import argparse
import json
import os
import platform
import resource
import statistics
import time

import numpy as np
import torch

import seqedit


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def timed(fn):
    """(wall seconds, CPU seconds, result) of fn()."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    r = fn()
    return time.perf_counter() - t0, cpu_seconds() - c0, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--dk", type=int, default=6400)
    ap.add_argument("--dv", type=int, default=1600)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--torch-repeats", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=1)
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
    py_f_cpu, py_c_cpu, cpp_cpu = [], [], []
    ks, vs = [], []
    for _ in range(a.repeats):
        k, v = batch()
        ks.append(k)
        vs.append(v)
        w, c, _r = timed(lambda: ed.apply(k, v))
        py_f.append(w)
        py_f_cpu.append(c)
        k, v = batch()
        ks.append(k)
        vs.append(v)
        # Wall time inside C++ around SequentialEditor::apply; CPU time around the call.
        _w, c, inner = timed(lambda: ed._e._timed_apply(k, v))
        cpp.append(inner)
        cpp_cpu.append(c)
        k, v = batch()
        ks.append(k)
        vs.append(v)
        kc, vc = np.ascontiguousarray(k), np.ascontiguousarray(v)
        w, c, _r = timed(lambda: ed.apply(kc, vc))
        py_c.append(w)
        py_c_cpu.append(c)

    # The reference per-step solve, on the same data (all batches so far, t = 3 repeats).
    torch.set_num_threads(a.torch_threads)
    tc0 = torch.from_numpy(c0)
    tw0 = torch.from_numpy(w0)
    K = torch.from_numpy(np.hstack(ks))
    V = torch.from_numpy(np.hstack(vs))
    ref, ref_cpu = [], []

    def torch_step():
        A = lam * tc0 + K @ K.T
        R = V - tw0 @ K
        return torch.linalg.solve(A, K @ R.T).T

    for _ in range(a.torch_repeats):
        w, c, delta = timed(torch_step)
        ref.append(w)
        ref_cpu.append(c)
    err = float(torch.linalg.norm(torch.from_numpy(np.asarray(ed.cumulative_update())) - delta) /
                torch.linalg.norm(delta))

    m_pf, m_pc, m_cpp, m_ref = (statistics.median(x) for x in (py_f, py_c, cpp, ref))
    n_pf, n_pc, n_cpp, n_ref = (min(x) for x in (py_f, py_c, cpp, ref))
    cpu = {name: {"min": min(x), "median": statistics.median(x)}
           for name, x in (("python_fortran", py_f_cpu), ("cpp", cpp_cpu), ("python_c_order", py_c_cpu),
                           ("torch_solve", ref_cpu))}
    res = {
        "shape": {"d_k": a.dk, "d_v": a.dv, "n": a.n, "dtype": a.dtype},
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
        "editor_construction_s": t_build,
        "step_python_fortran_s": py_f, "step_cpp_s": cpp, "step_python_c_order_s": py_c, "torch_solve_step_s": ref,
        "step_python_fortran_cpu_s": py_f_cpu, "step_cpp_cpu_s": cpp_cpu, "step_python_c_order_cpu_s": py_c_cpu,
        "torch_solve_step_cpu_s": ref_cpu,
        "median": {"python_fortran": m_pf, "cpp": m_cpp, "python_c_order": m_pc, "torch_solve": m_ref},
        "min": {"python_fortran": n_pf, "cpp": n_cpp, "python_c_order": n_pc, "torch_solve": n_ref},
        "cpu": cpu,
        "python_overhead_fortran": m_pf / m_cpp - 1.0,
        "python_overhead_c_order": m_pc / m_cpp - 1.0,
        "python_overhead_fortran_min": n_pf / n_cpp - 1.0,
        "python_overhead_c_order_min": n_pc / n_cpp - 1.0,
        "speedup_vs_torch_solve": m_ref / m_pf,
        "speedup_vs_torch_solve_min": n_ref / n_pf,
        "editor_vs_torch_solve_rel_diff": err,
    }
    la = res["machine"]["load_avg"]
    print(f"layer shape d_k={a.dk}, d_v={a.dv}, n={a.n}, {a.dtype}; {os.cpu_count()} CPUs, load "
          f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"  editor construction           {t_build:8.3f} s")
    print(f"  {'':30s} wall min / median      CPU min / median   (steps: {a.repeats}, torch: {a.torch_repeats})")

    def row(label, wmin, wmed, key, extra=""):
        print(f"  {label:30s} {wmin:8.4f} / {wmed:8.4f} s   {cpu[key]['min']:8.4f} / {cpu[key]['median']:8.4f} s"
              f"{extra}")

    row("step from C++", n_cpp, m_cpp, "cpp")
    row("step from Python, Fortran in", n_pf, m_pf, "python_fortran",
        f"   overhead {100 * res['python_overhead_fortran_min']:+.2f}% (min) "
        f"{100 * res['python_overhead_fortran']:+.2f}% (median)")
    row("step from Python, C order in", n_pc, m_pc, "python_c_order",
        f"   overhead {100 * res['python_overhead_c_order_min']:+.2f}% (min) "
        f"{100 * res['python_overhead_c_order']:+.2f}% (median)")
    row("per-step torch.linalg.solve", n_ref, m_ref, "torch_solve",
        f"   seqedit is {res['speedup_vs_torch_solve_min']:.1f}x (min) "
        f"{res['speedup_vs_torch_solve']:.1f}x (median) faster")
    print(f"  |D_seqedit - D_torch| / |D_torch| = {err:.2e}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
