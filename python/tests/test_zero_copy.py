"""Copy rules: Fortran arrays of the working dtype are read in place, a C-ordered C0 as its
transpose, anything else converted once; strict=True refuses conversions. The peak memory
of building an editor from a 4096 x 4096 float64 Fortran C0 shows no second copy of C0."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import seqedit
from seqedit._convert import as_matrix

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)


def test_conversion_rules():
    rng = np.random.default_rng(0)
    f = np.asfortranarray(rng.standard_normal((5, 7)))
    assert as_matrix(f, F64, "W") is f
    cols = f[:, 1:6:2]  # column slice of a Fortran array: unit row stride, outer stride 10
    assert np.shares_memory(as_matrix(cols, F64, "K", strict=True), f)
    s = rng.standard_normal((6, 6))
    s = s + s.T  # C-ordered symmetric
    t = as_matrix(s, F64, "C0", symmetric=True, strict=True)
    assert np.shares_memory(t, s) and np.array_equal(t, s)
    c = np.ascontiguousarray(f)
    conv = as_matrix(c, F64, "W")
    assert not np.shares_memory(conv, c) and conv.flags.f_contiguous and np.array_equal(conv, c)
    with pytest.raises(ValueError, match=r"strict=True: W .* is not in Fortran order"):
        as_matrix(c, F64, "W", strict=True)
    with pytest.raises(ValueError, match=r"strict=True: C0 has dtype float32 but the computation runs in float64"):
        as_matrix(s.astype(np.float32), F64, "C0", symmetric=True, strict=True)
    v = rng.standard_normal(5)
    assert np.shares_memory(as_matrix(v, F64, "V", strict=True), v)


def test_strict_editor_refuses_conversion():
    rng = np.random.default_rng(1)
    c0 = np.eye(8)
    w0 = rng.standard_normal((3, 8))  # C order, not symmetric
    with pytest.raises(ValueError, match=r"strict=True: W0"):
        seqedit.SequentialEditor(w0, c0, seqedit.Objective.memit(1.0), strict=True)
    ed = seqedit.SequentialEditor(np.asfortranarray(w0), c0, seqedit.Objective.memit(1.0), strict=True)
    with pytest.raises(ValueError, match=r"strict=True: K has dtype float32"):
        ed.apply(np.ones((8, 1), np.float32), np.ones((3, 1)), strict=True)
    assert ed.steps == 0


@pytest.mark.parametrize("config", [dict(), dict(regulariser=seqedit.Rect(0.5), compensation="analytic"),
                                    dict(history="latest_only"), dict(regulariser=seqedit.Prune())])
def test_weights_view(config):
    rng = np.random.default_rng(2)
    w0 = np.asfortranarray(rng.standard_normal((4, 8)))
    ed = seqedit.SequentialEditor(w0, np.eye(8), seqedit.Objective.memit(1.0, 1.0), **config)
    assert ed.weights_is_view
    w = ed.weights
    assert not w.flags.writeable and np.shares_memory(w, ed.weights)
    with pytest.raises(ValueError):
        w[0, 0] = 1.0
    for _ in range(3):
        ed.apply(rng.standard_normal((8, 2)), rng.standard_normal((4, 2)))
        assert np.array_equal(w, w0 + ed.cumulative_update())  # the view follows the editor
    ids = ed.journal.ids
    if ed.history == "aligned":
        ed.retract(ids[:2])
        assert np.array_equal(w, w0 + ed.cumulative_update())
    assert np.array_equal(ed.initial_weights, w0) and not ed.initial_weights.flags.writeable
    snapshot = np.array(w)
    del ed
    assert np.array_equal(w, snapshot)  # the view keeps the editor alive


PEAK = textwrap.dedent("""
    import sys, numpy as np, seqedit
    def hwm():  # peak resident set size (kB) since the last reset
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    d = 4096
    c0 = np.zeros((d, d), order="F")
    c0[np.diag_indices(d)] = 1.0
    c0 += 1e-3
    src = c0 if sys.argv[1] == "fortran" else c0.astype(np.float32)  # float32: one conversion
    w0 = np.zeros((2, d), order="F")
    u = np.zeros((d, 8), order="F")
    u[np.arange(8), np.arange(8)] = 1.0
    proj = seqedit.NullSpaceProjector.from_basis(u)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak to the current resident set size
    base = hwm()
    ed = seqedit.SequentialEditor(w0, src, seqedit.Objective.memit(1.0, 1.0), projector=proj, dtype=np.float64)
    print((hwm() - base) * 1024 / c0.nbytes)
""")


def test_editor_from_fortran_c0_makes_no_copy_of_it():
    # With a rank-8 projector the editor's own memory is tiny (U^T C0 U is 8 x 8, W is 2 x d),
    # so the growth of the peak RSS while it is built is what reading C0 costs: nothing for
    # a Fortran float64 C0, one C0 (134 MB) when a float32 C0 has to be converted.
    # (Without a projector the editor itself needs two d_k x d_k matrices at its peak:
    # the system, factored and inverted in place, and its inverse.)
    def growth(kind):
        r = subprocess.run([sys.executable, "-c", PEAK, kind], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ))
        assert r.returncode == 0, r.stderr
        return float(r.stdout.strip())
    g = growth("fortran")
    print(f"peak RSS growth while building the editor: {g:.3f} x C0 (4096 x 4096 Fortran float64)")
    assert g < 0.5  # a copy of C0 would add 1.0
    gc = growth("float32")
    print(f"... from a float32 C0 (converted once): {gc:.3f} x C0")
    assert gc > g + 0.8
