"""torch CPU tensors in, tensors out, and no copy of a float64 Fortran-layout tensor.
torch is a reference dependency of these tests: they fail without it."""

import numpy as np
import pytest
import torch

import seqedit
from conftest import make_c0, ote_numpy, rel
from seqedit._convert import as_matrix


def test_fortran_tensor_read_in_place():
    t = torch.randn(9, 5, dtype=torch.float64).T  # 5 x 9 with column-major strides
    assert t.stride() == (1, 5)
    a = as_matrix(t, np.dtype(np.float64), "K", strict=True)
    assert a.__array_interface__["data"][0] == t.data_ptr()
    c = torch.randn(5, 9, dtype=torch.float64)  # row-major: converted (or refused)
    with pytest.raises(ValueError, match=r"strict=True"):
        as_matrix(c, np.dtype(np.float64), "K", strict=True)


def test_tensors_in_and_out():
    rng = np.random.default_rng(11)
    dk, dv = 20, 6
    c0 = make_c0(rng, dk)
    w0 = rng.standard_normal((dv, dk))
    k, v = rng.standard_normal((dk, 4)), rng.standard_normal((dv, 4))
    tw0 = torch.tensor(w0, requires_grad=True)  # autograd leaf: read through detach()
    ed = seqedit.SequentialEditor(tw0, torch.tensor(c0), seqedit.Objective.memit(1.5))
    ids = ed.apply(torch.tensor(k), torch.tensor(v))
    assert len(ids) == 4
    w = ed.weights
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float64 and w.shape == (dv, dk)
    assert rel(w.numpy() - w0, ote_numpy(c0, w0, k, v, 1.5, 0.0)) < 1e-10
    assert isinstance(ed.cumulative_update(), torch.Tensor)
    # numpy in, torch out on request; float32 tensors give a float32 editor
    ed32 = seqedit.SequentialEditor(torch.tensor(w0, dtype=torch.float32), c0, seqedit.Objective.memit(1.5))
    assert ed32.dtype == np.float32 and ed32.weights.dtype == torch.float32
    ote = seqedit.OneTimeEditor(c0, seqedit.Objective.memit(1.5))
    d = ote.solve(w0, k, v, output="torch")
    assert isinstance(d, torch.Tensor)
    assert isinstance(ote.solve(torch.tensor(w0), k, v), torch.Tensor)
    assert isinstance(ote.solve(torch.tensor(w0), k, v, output="numpy"), np.ndarray)


def test_bfloat16_converted_and_meta_refused():
    t = torch.randn(4, 3).to(torch.bfloat16)
    a = as_matrix(t, np.dtype(np.float32), "K")
    assert a.dtype == np.float32 and np.array_equal(a, t.float().numpy())
    with pytest.raises(ValueError, match=r"strict=True"):
        as_matrix(t, np.dtype(np.float32), "K", strict=True)
    with pytest.raises(ValueError, match=r"device 'meta'"):
        as_matrix(torch.empty(3, 3, device="meta"), np.dtype(np.float64), "K")
