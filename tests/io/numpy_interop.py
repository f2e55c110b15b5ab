#!/usr/bin/env python3
"""numpy side of the interoperability tests (driven by test_io_numpy).

usage: numpy_interop.py generate <dir>   write files with numpy
       numpy_interop.py check <dir>      verify the files seqedit wrote (exit 1 on mismatch)
Values are k * 0.1 - 1.0 for element k in C order, computed in float64 and rounded once.
"""
import sys

import numpy as np


def val(rows, cols, dtype):
    k = np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)
    return (k * 0.1 - 1.0).astype(dtype)


def generate(d):
    for name, dt in (("f8", "<f8"), ("f4", "<f4"), ("f2", "<f2")):
        np.save(f"{d}/c_{name}.npy", val(3, 5, dt))
    np.save(f"{d}/c_i8.npy", np.arange(15, dtype="<i8").reshape(3, 5) - 4)
    np.save(f"{d}/fortran_f8.npy", np.asfortranarray(val(4, 3, "<f8")))
    np.save(f"{d}/be_f8.npy", val(2, 3, ">f8"))
    np.save(f"{d}/be_f4.npy", val(2, 3, ">f4"))
    np.save(f"{d}/vec_f8.npy", val(1, 6, "<f8").ravel())
    np.save(f"{d}/scalar_f8.npy", np.float64(2.5))
    for version in ((2, 0), (3, 0)):
        with open(f"{d}/v{version[0]}_f8.npy", "wb") as f:
            np.lib.format.write_array(f, val(3, 5, "<f8"), version=version)
    arrays = {"a": val(3, 4, "<f8"), "b": val(2, 2, "<f4"), "n": np.int64(7)}
    np.savez(f"{d}/plain.npz", **arrays)
    np.savez_compressed(f"{d}/compressed.npz", **arrays)
    # MEMIT-style statistics: raw sum of k k^T over tokens, and the token count.
    m = np.array([[(i + 1) * (j + 1) * 2000.0 for j in range(6)] for i in range(6)])
    stats = {
        "mom2.mom2": m.astype(np.float32),
        "mom2.count": np.int64(1000),
        "mom2.constructor": np.array("util.runningstats.SecondMoment", dtype="<U32"),
        "sample_size": np.float64(np.nan),
    }
    np.savez(f"{d}/transformer.h.17.mlp.c_proj_float32_mom2_100000.npz", **stats)
    np.savez_compressed(f"{d}/stats_compressed.npz", **stats)


def check(d):
    ok = True
    for name, dt in (("f8", "<f8"), ("f4", "<f4"), ("f2", "<f2")):
        a = np.load(f"{d}/seqedit_{name}.npy")
        want = val(3, 5, dt)
        if a.dtype != np.dtype(dt) or a.shape != (3, 5) or not a.flags.c_contiguous:
            print(f"seqedit_{name}.npy: dtype {a.dtype} shape {a.shape}")
            ok = False
        elif a.tobytes() != want.tobytes():
            print(f"seqedit_{name}.npy: values differ\n{a}\n{want}")
            ok = False
    return ok


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("generate", "check"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "generate":
        generate(sys.argv[2])
    else:
        sys.exit(0 if check(sys.argv[2]) else 1)
