"""OTE-SE equivalence from Python against numpy's own closed form (math.md sections 3, 6):
after every one of 20 steps, W_t - W0 equals Delta*_t (plus e_t with Algorithm 1)."""

import numpy as np
import pytest

import seqedit
from conftest import make_c0, ote_numpy, rel

STEPS = 20
DK, DV, N = 40, 12, 3

# float64: 1e-10 relative; float32: 400 epsilon (measured up to 1.5e-6 = 12 epsilon; the
# reference is computed in float64 from the float32 inputs).
TOL = {np.float64: 1e-10, np.float32: 400 * float(np.finfo(np.float32).eps)}


def make_problem(method, dtype, rng):
    null = 14 if method == "alphaedit" else 0
    c0 = make_c0(rng, DK, null_dims=null)
    scale = 0.05 if method in ("prune", "rect") else 1.0  # small W: PRUNE's sigma_max bound is active
    w0 = np.asfortranarray(scale * rng.standard_normal((DV, DK)))
    kwargs = {}
    if method == "memit":
        obj = seqedit.Objective.memit(2.0)
    elif method == "alphaedit":
        obj = seqedit.Objective.alphaedit(0.5)
        kwargs["projector"] = seqedit.NullSpaceProjector(c0.astype(dtype), 2e-2)
        assert kwargs["projector"].rank == null
    elif method == "prune":
        obj = seqedit.Objective.memit(2.0, 1.0)
        kwargs.update(regulariser=seqedit.Prune(), compensation="analytic")
    else:
        obj = seqedit.Objective.memit(2.0, 1.0)
        kwargs.update(regulariser=seqedit.Rect(0.2), compensation="analytic")
    batches = [(rng.standard_normal((DK, N)), 3.0 * rng.standard_normal((DV, N))) for _ in range(STEPS)]
    return c0, w0, obj, kwargs, batches


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ["memit", "alphaedit", "prune", "rect"])
def test_sequential_equals_one_time(method, dtype, rng):
    c0, w0, obj, kwargs, batches = make_problem(method, dtype, rng)
    c0d, w0d = c0.astype(dtype), w0.astype(dtype)
    ed = seqedit.SequentialEditor(w0d, c0d, obj, **kwargs)
    assert ed.dtype == np.dtype(dtype)
    basis = kwargs["projector"].basis if "projector" in kwargs else None
    compensated = "compensation" in kwargs
    worst, dev_seen = 0.0, 0.0
    ks, vs = [], []
    for k, v in batches:
        kd, vd = k.astype(dtype), v.astype(dtype)
        ed.apply(kd, vd)
        ks.append(kd)
        vs.append(vd)
        dstar = ote_numpy(c0d, w0d, np.hstack(ks), np.hstack(vs), obj.lam, obj.alpha, basis)
        d = np.asarray(ed.weights, dtype=np.float64) - w0d
        if compensated:
            e = ed.deviation()
            assert e.shape == (DV, DK)
            dev_seen = max(dev_seen, float(np.linalg.norm(e)) / float(np.linalg.norm(dstar)))
            d = d - e
        worst = max(worst, rel(d, dstar))
    print(f"{method} {np.dtype(dtype)}: max_t |D_t - D*_t (- e_t)| / |D*_t| = {worst:.3e}")
    assert worst <= TOL[dtype]
    assert ed.steps == STEPS
    assert len(ed.journal) == STEPS * N
    if compensated:
        # The regulariser really acted (else the compensation test would prove nothing).
        assert dev_seen > 1e-3


def test_naive_postprocessing_drifts(rng):
    """Without compensation a regulariser's deviations accumulate (math.md section 5): the
    equivalence above is a property of Algorithm 1, not of any regularised editor."""
    c0, w0, obj, kwargs, batches = make_problem("rect", np.float64, rng)
    kwargs["compensation"] = "none"
    ed = seqedit.SequentialEditor(w0, c0, obj, **kwargs)
    for k, v in batches:
        ed.apply(k, v)
    j = ed.journal
    dstar = ote_numpy(c0, w0, j.keys(), j.values(), obj.lam, obj.alpha)
    assert rel(ed.cumulative_update(), dstar) > 1e-2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_time_editor_matches_numpy(dtype, rng):
    c0 = make_c0(rng, DK, null_dims=10).astype(dtype)
    w0 = rng.standard_normal((DV, DK)).astype(dtype)
    k = rng.standard_normal((DK, 7)).astype(dtype)
    v = rng.standard_normal((DV, 7)).astype(dtype)
    ote = seqedit.OneTimeEditor(c0, seqedit.Objective.memit(1.5, 0.25))
    ref = ote_numpy(c0, w0, k, v, 1.5, 0.25)
    assert rel(ote.solve(w0, k, v), ref) <= TOL[dtype]
    r = v - w0 @ k
    assert rel(ote.solve_residual(k, r), ref) <= 10 * TOL[dtype]
    p = seqedit.NullSpaceProjector(c0)
    assert p.rank == 10
    pm = p.matrix()
    assert rel(pm @ pm, pm) <= 100 * np.finfo(dtype).eps * DK
    ote_p = seqedit.OneTimeEditor(c0, seqedit.Objective.alphaedit(0.5), p)
    assert rel(ote_p.solve(w0, k, v), ote_numpy(c0, w0, k, v, 0.0, 0.5, p.basis)) <= TOL[dtype]


def test_retraction_equals_one_time_of_remaining(rng):
    c0 = make_c0(rng, DK)
    w0 = np.asfortranarray(rng.standard_normal((DV, DK)))
    obj = seqedit.Objective.memit(2.0)
    ed = seqedit.SequentialEditor(w0, c0, obj)
    batches = [(rng.standard_normal((DK, N)), rng.standard_normal((DV, N))) for _ in range(6)]
    ids = [ed.apply(k, v) for k, v in batches]
    ed.retract(ids[1] + [ids[4][0]])
    keep_k = np.hstack([batches[0][0], batches[2][0], batches[3][0], batches[4][0][:, 1:], batches[5][0]])
    keep_v = np.hstack([batches[0][1], batches[2][1], batches[3][1], batches[4][1][:, 1:], batches[5][1]])
    err = rel(ed.cumulative_update(), ote_numpy(c0, w0, keep_k, keep_v, 2.0, 0.0))
    print(f"retraction: |D - D*(remaining)| / |D*| = {err:.3e}")
    assert err <= 1e-10
    assert len(ed.journal) == 6 * N - N - 1
    info = ed.last_step_info()
    assert (info["added"], info["removed"]) == (0, N + 1) and info["amplification"] >= 1.0
    assert ed.drift_estimate() < 1e-12  # ||X M_t y - y|| / ||y|| of the kept inverse X
    # replace: supersede batch 0 with new values for the same keys
    newv = rng.standard_normal((DV, N))
    ed.replace(ids[0], batches[0][0], newv)
    keep_k = np.hstack([keep_k[:, N:], batches[0][0]])
    keep_v = np.hstack([keep_v[:, N:], newv])
    assert rel(ed.cumulative_update(), ote_numpy(c0, w0, keep_k, keep_v, 2.0, 0.0)) <= 1e-10
    # find_matching locates the new edits by their keys
    found = ed.find_matching(batches[0][0])
    assert [len(f) for f in found] == [1] * N
    assert all(f[0] in ed.journal for f in found)
