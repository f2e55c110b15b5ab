"""Shared problems for the Python tests: seeded random layers in the math orientation."""

import os
import sys

import numpy as np
import pytest

import seqedit


def make_c0(rng, dk, n_tokens=None, null_dims=0, dtype=np.float64):
    """Symmetric PSD C0 = Q diag(ev) Q^T; the lowest `null_dims` eigenvalues lie below 2e-2."""
    q, _ = np.linalg.qr(rng.standard_normal((dk, dk)))
    ev = rng.uniform(0.5, 2.0, dk)
    if null_dims:
        ev[:null_dims] = rng.uniform(1e-5, 1e-3, null_dims)
    c0 = (q * ev) @ q.T
    c0 = 0.5 * (c0 + c0.T)
    return np.asfortranarray(c0.astype(dtype))


def ote_numpy(c0, w0, keys, values, lam, alpha, basis=None):
    """The OTE closed form of math.md section 2 in float64 with numpy.linalg.solve:
    Delta* = B U (U^T (lam C0 + K K^T) U + alpha I)^-1 U^T (U = I without projector)."""
    c0, w0, keys, values = (np.asarray(x, dtype=np.float64) for x in (c0, w0, keys, values))
    b = (values - w0 @ keys) @ keys.T
    m = lam * c0 + keys @ keys.T
    if basis is None:
        a = m + alpha * np.eye(m.shape[0])
        return np.linalg.solve(a, b.T).T
    u = np.asarray(basis, dtype=np.float64)
    a = u.T @ m @ u + alpha * np.eye(u.shape[1])
    return (u @ np.linalg.solve(a, (b @ u).T)).T


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture
def small_problem(rng):
    dk, dv = 24, 10
    c0 = make_c0(rng, dk)
    w0 = np.asfortranarray(rng.standard_normal((dv, dk)))
    return dict(dk=dk, dv=dv, c0=c0, w0=w0)
