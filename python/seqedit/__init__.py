"""seqedit: exact, resumable, undoable sequential editing of a linear layer.

The editor keeps the cumulative update of a sequence of edit batches equal to the one-time
(closed-form) solution over all edits so far (math.md §3), can retract edits exactly
(math.md §7) and saves its complete state to one file that the C++ library and the
``seqedit`` command-line tool read as well.

Shapes are in the math orientation, as in C++: W is d_v x d_k (the layer computes
v = W k), K is d_k x n with one column per edit, V and R are d_v x n, C0 is d_k x d_k.

Copy rules (see ``seqedit._convert``): float arrays of the object's dtype with contiguous
columns (Fortran order) are read without a copy; a C-ordered C0 is read as its transpose
(C0 is symmetric); anything else is converted once; ``strict=True`` refuses to convert.
Long calls release the GIL; Ctrl-C interrupts the long ones (projector, construction,
refresh, one-time solve, state loading) within about 0.1 s.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from . import _seqedit as _ext
from ._convert import as_matrix, resolve_dtype, to_output, want_torch

__version__: str = _ext.__version__

Error = _ext.Error
NumericalError = _ext.NumericalError
FormatError = _ext.FormatError
IoError = _ext.IoError

ProgressCallback = Callable[[str, float], Any]

__all__ = [
    "EditId", "Error", "FormatError", "IoError", "Journal", "NullSpaceProjector", "NumericalError", "Objective",
    "OneTimeEditor", "Prune", "Rect", "SequentialEditor", "Encoding", "Model", "Tokenizer", "background_jobs", "load_state",
    "save_state", "state_info", "wait_background", "edit_facts", "retract_facts", "verify_run",
]


def _sfx(dtype: np.dtype) -> str:
    return "f64" if dtype == np.float64 else "f32"


def background_jobs() -> int:
    """Number of interrupted computations still finishing in the background.

    A Ctrl-C (or an exception raised by a progress callback) returns control at once, but the
    compiled computation has no cancellation point: it runs to its end in its worker thread
    and its result is discarded.
    """
    return int(_ext.background_jobs())


def wait_background() -> None:
    """Waits until every interrupted computation has finished (see ``background_jobs``)."""
    _ext.wait_background()


@dataclasses.dataclass(frozen=True, order=True)
class EditId:
    """Identifier of one applied edit column.

    ``editor`` is the 64-bit random tag of the editor that applied it (kept when the state is
    saved and loaded), ``serial`` counts that editor's edits from 1. Ids compare, hash and
    pickle by value; an editor refuses ids of another editor (ValueError).
    """

    editor: int
    serial: int

    def __str__(self) -> str:
        return f"edit #{self.serial} of editor {self.editor:x}"

    def __repr__(self) -> str:
        return f"EditId(editor=0x{self.editor:016x}, serial={self.serial})"


def _id_pairs(ids: Union[EditId, Sequence[EditId]]) -> List[tuple]:
    if isinstance(ids, EditId):
        ids = [ids]
    out = []
    for i in ids:
        if not isinstance(i, EditId):
            raise TypeError(f"seqedit: expected EditId objects, got {type(i).__name__}")
        out.append((i.editor, i.serial))
    return out


class Objective:
    """Weights of the one-time-editing objective (math.md §2)

        min_Δ Σ_s ‖(W0 + Δ) K_s − V_s‖² + λ ‖Δ K0‖² + α ‖Δ‖²   subject to Δ = Δ P.

    Parameters
    ----------
    lam : float
        λ ≥ 0, weight of the retention term λ tr(Δ C0 Δᵀ) (MEMIT's ``mom2_update_weight``).
    alpha : float
        α ≥ 0, ridge weight.

    Raises
    ------
    ValueError
        If a weight is negative, NaN or infinite (the message names the field).
    """

    __slots__ = ("lam", "alpha")

    def __init__(self, lam: float = 0.0, alpha: float = 0.0) -> None:
        _ext.Objective_f64(float(lam), float(alpha))  # the library's own check and message
        self.lam = float(lam)
        self.alpha = float(alpha)

    @classmethod
    def memit(cls, lam: float, alpha: float = 0.0) -> "Objective":
        """MEMIT (math.md §2): retention weight λ (15000 GPT-J/Llama, 20000 GPT-2 XL), ridge α."""
        return cls(lam, alpha)

    @classmethod
    def alphaedit(cls, alpha: float = 10.0) -> "Objective":
        """AlphaEdit (math.md §2, §8): no retention term (projected away), ridge α (its ``L2``)."""
        return cls(0.0, alpha)

    def _native(self, dtype: np.dtype) -> Any:
        return getattr(_ext, "Objective_" + _sfx(dtype))(self.lam, self.alpha)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Objective) and (self.lam, self.alpha) == (other.lam, other.alpha)

    def __hash__(self) -> int:
        return hash((self.lam, self.alpha))

    def __repr__(self) -> str:
        return f"Objective(lam={self.lam!r}, alpha={self.alpha!r})"

    def __reduce__(self) -> Any:
        return (Objective, (self.lam, self.alpha))


class Prune:
    """PRUNE regulariser (math.md §5): singular values of a step update above σ_max(W_{t-1})
    are shrunk logarithmically, σ ↦ ln σ − ln σ_max + σ_max. No hyperparameter."""

    name = "prune"

    def _native(self, dtype: np.dtype) -> Any:
        return getattr(_ext, "Prune_" + _sfx(dtype))()

    def __call__(self, delta: Any, w_ref: Any, *, dtype: Any = None) -> np.ndarray:
        """R_p(Δ) for a step update Δ (d_v x d_k) and the weights it is added to."""
        dt = resolve_dtype(dtype, delta)
        return self._native(dt)(as_matrix(delta, dt, "delta"), as_matrix(w_ref, dt, "w_ref"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prune)

    def __hash__(self) -> int:
        return hash("prune")

    def __repr__(self) -> str:
        return "Prune()"


class Rect:
    """RECT regulariser (math.md §5): keeps the entries of a step update with the top ``p``
    share of relative change |Δ_ij / (W_ij + 1e-8)|, zeroes the others.

    Parameters
    ----------
    p : float
        Ratio of entries kept, in (0, 1] (0.2 with compensation, 0.4 without, in the reference).
    """

    name = "rect"

    def __init__(self, p: float = 0.2) -> None:
        _ext.Rect_f64(float(p))  # the library's check and message
        self.p = float(p)

    def _native(self, dtype: np.dtype) -> Any:
        return getattr(_ext, "Rect_" + _sfx(dtype))(self.p)

    def __call__(self, delta: Any, w_ref: Any, *, dtype: Any = None) -> np.ndarray:
        """R_p(Δ) = mask ⊙ Δ for a step update Δ and the weights it is added to."""
        dt = resolve_dtype(dtype, delta)
        return self._native(dt)(as_matrix(delta, dt, "delta"), as_matrix(w_ref, dt, "w_ref"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rect) and self.p == other.p

    def __hash__(self) -> int:
        return hash(("rect", self.p))

    def __repr__(self) -> str:
        return f"Rect(p={self.p!r})"


Regulariser = Union[Prune, Rect]


class NullSpaceProjector:
    """Orthogonal projector P = U Uᵀ onto the approximate null space of C0 (math.md §8).

    C0 (d_k x d_k, symmetric PSD, not scaled) is eigen-decomposed; U holds the orthonormal
    eigenvectors with eigenvalue strictly below ``threshold``. Cost O(d_k³).

    Parameters
    ----------
    C0 : array_like or torch.Tensor
        d_k x d_k retention second moment. A C-ordered C0 is read as its transpose (no copy).
    threshold : float
        Absolute eigenvalue threshold (AlphaEdit: 2e-2).
    dtype : float32 or float64, optional
        Working precision; default: that of C0 (float64 unless C0 is float32).
    strict : bool
        Refuse to convert C0 (ValueError) instead of copying it.
    progress : callable(stage: str, fraction: float), optional
        Called in the calling thread with the stages of the computation.

    Raises
    ------
    ValueError
        C0 not square, not symmetric, NaN/Inf, bad threshold (the library's message).
    KeyboardInterrupt
        On Ctrl-C, within about 0.1 s (the computation finishes in the background).
    """

    def __init__(self, C0: Any, threshold: float = 2e-2, *, dtype: Any = None, strict: bool = False,
                 progress: Optional[ProgressCallback] = None) -> None:
        self.dtype = resolve_dtype(dtype, C0)
        c0 = as_matrix(C0, self.dtype, "C0", strict=strict, symmetric=True, vector_ok=False)
        self._p = getattr(_ext, "NullSpaceProjector_" + _sfx(self.dtype))(c0, float(threshold), progress)

    @classmethod
    def from_basis(cls, U: Any, *, tolerance: Optional[float] = None, dtype: Any = None,
                   strict: bool = False) -> "NullSpaceProjector":
        """A projector from a given d_k x r basis with orthonormal columns
        (max |UᵀU − I| ≤ tolerance, default 100 ε d_k; else ValueError)."""
        self = cls.__new__(cls)
        self.dtype = resolve_dtype(dtype, U)
        u = as_matrix(U, self.dtype, "basis", strict=strict)
        self._p = getattr(_ext, "NullSpaceProjector_" + _sfx(self.dtype)).from_basis(
            u, -1.0 if tolerance is None else float(tolerance))
        return self

    @property
    def rank(self) -> int:
        """r, the dimension of range(P)."""
        return int(self._p.rank)

    @property
    def dim(self) -> int:
        """d_k."""
        return int(self._p.dim)

    @property
    def threshold(self) -> float:
        """The eigenvalue threshold used (negative when built from a basis)."""
        return float(self._p.threshold)

    @property
    def basis(self) -> np.ndarray:
        """U (d_k x r), a read-only view valid while the projector lives."""
        return self._p.basis

    @property
    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues of C0, ascending, as a d_k x 1 array (empty from a basis)."""
        return self._p.eigenvalues

    def matrix(self) -> np.ndarray:
        """The dense P = U Uᵀ (d_k x d_k). For tests and small problems."""
        return self._p.matrix()

    def apply(self, X: Any, *, strict: bool = False) -> np.ndarray:
        """P X = U (Uᵀ X) without forming P."""
        return self._p.apply(as_matrix(X, self.dtype, "X", strict=strict))

    def __repr__(self) -> str:
        return f"NullSpaceProjector(dim={self.dim}, rank={self.rank}, dtype={self.dtype})"


class OneTimeEditor:
    """One-time editing: all edits at once, in closed form (math.md §2)

        Δ* = B P A⁻¹,   B = (V − W0 K) Kᵀ,   A = P(λ C0 + K Kᵀ)P + α I,

    (with a projector in the reduced form Δ* = B U (Uᵀ(λC0 + KKᵀ)U + αI)⁻¹ Uᵀ). Each solve
    factors its system from scratch: the reference the sequential editor is measured against.

    Parameters
    ----------
    C0 : array_like or torch.Tensor
        d_k x d_k. Read in place when of the working dtype in either memory order.
    objective : Objective
    projector : NullSpaceProjector, optional
    dtype, strict, progress
        As for ``NullSpaceProjector``.
    """

    def __init__(self, C0: Any, objective: Objective, projector: Optional[NullSpaceProjector] = None, *,
                 dtype: Any = None, strict: bool = False, progress: Optional[ProgressCallback] = None) -> None:
        if not isinstance(objective, Objective):
            raise TypeError("seqedit: objective must be a seqedit.Objective")
        self.dtype = resolve_dtype(dtype if dtype is not None else (projector.dtype if projector else None), C0)
        if projector is not None and projector.dtype != self.dtype:
            raise ValueError(f"seqedit: the projector is {projector.dtype} but the editor works in {self.dtype}")
        self.objective = objective
        self.projector = projector
        c0 = as_matrix(C0, self.dtype, "C0", strict=strict, symmetric=True, vector_ok=False)
        self._o = getattr(_ext, "OneTimeEditor_" + _sfx(self.dtype))(
            c0, objective._native(self.dtype), projector._p if projector else None, progress)

    @property
    def key_dim(self) -> int:
        """d_k."""
        return int(self._o.key_dim)

    def solve(self, W0: Any, K: Any, V: Any, *, strict: bool = False, output: Optional[str] = None,
              progress: Optional[ProgressCallback] = None) -> Any:
        """Δ* for weights W0 (d_v x d_k), keys K (d_k x n) and values V (d_v x n).

        Returns a new d_v x d_k array (a torch tensor if ``output="torch"``, or by default when
        W0 is a torch tensor). Raises ValueError for wrong shapes / NaN, NumericalError when
        the system is singular; KeyboardInterrupt on Ctrl-C.
        """
        d = self._o.solve(as_matrix(W0, self.dtype, "W0", strict=strict, vector_ok=False),
                          as_matrix(K, self.dtype, "K", strict=strict),
                          as_matrix(V, self.dtype, "V", strict=strict), progress)
        return to_output(d, want_torch(output, W0))

    def solve_residual(self, K: Any, R: Any, *, strict: bool = False, output: Optional[str] = None,
                       progress: Optional[ProgressCallback] = None) -> Any:
        """Δ* for residuals R = V − W0 K given directly (d_v x n); see ``solve``."""
        d = self._o.solve_residual(as_matrix(K, self.dtype, "K", strict=strict),
                                   as_matrix(R, self.dtype, "R", strict=strict), progress)
        return to_output(d, want_torch(output, R))


class Journal:
    """The live edits of an editor (a snapshot taken when ``SequentialEditor.journal`` is read):
    ids in order of application, and their keys (d_k x N) and values (d_v x N)."""

    def __init__(self, ids: List[EditId], editor: "SequentialEditor") -> None:
        self.ids = ids
        self._editor = editor

    def keys(self) -> Any:
        """Keys of the live edits (d_k x N, a copy), column j belongs to ``ids[j]``."""
        return self._editor._out(self._editor._e.journal_keys())

    def values(self) -> Any:
        """Values of the live edits (d_v x N, a copy)."""
        return self._editor._out(self._editor._e.journal_values())

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[EditId]:
        return iter(self.ids)

    def __contains__(self, item: object) -> bool:
        return item in self.ids

    def __repr__(self) -> str:
        return f"Journal({len(self.ids)} live edits)"


class SequentialEditor:
    """Sequential editor aligned with one-time editing (math.md §3, §4, §6, §7).

    Each step applies Δ̃_t = R_t K_tᵀ P A_t⁻¹ with A_t = A_{t−1} + (PK_t)(PK_t)ᵀ and
    R_t = V_t − W_{t−1} K_t, so that after every step W_t − W0 = Δ*_t, the one-time solution
    over all edits so far. It keeps the r x r inverse M_t⁻¹ (r = rank P, d_k without a
    projector), never past keys' systems; a step costs O(d_k² n).

    Parameters
    ----------
    W0 : array_like or torch.Tensor
        d_v x d_k initial weights (copied into the editor).
    C0 : array_like or torch.Tensor
        d_k x d_k retention second moment (read in place when possible, not kept).
    objective : Objective
    history : {"aligned", "latest_only", "none"}
        "aligned" (default): the OTE over all edits (math.md §3); "latest_only" and "none"
        reproduce the counterexamples of math.md §4 (no retract/replace).
    compensation : {"none", "analytic"}
        "analytic": Algorithm 1 (math.md §6), W_t = W0 + Δ*_t + e_t exactly; needs a
        regulariser to matter and history="aligned".
    projector : NullSpaceProjector, optional
        AlphaEdit's null-space projector (math.md §8).
    regulariser : Prune or Rect, optional
        Post-processing regulariser R_p (math.md §5).
    drift_threshold : float
        When > 0, every step ends with a drift estimate of the kept inverse
        (``drift_estimate``) and ``refresh_needed`` turns true once it exceeds this value.
    dtype : float32 or float64, optional
        Default: the dtype of W0 (float64 unless W0 is float32).
    strict : bool
        Refuse to convert any input of this call (ValueError) instead of copying it.
    output : {"numpy", "torch"}, optional
        Type of returned matrices; default torch if W0 is a torch tensor, else numpy.
    progress : callable(stage: str, fraction: float), optional

    Raises
    ------
    ValueError
        Wrong shapes, NaN/Inf, unknown history/compensation names, bad options.
    NumericalError
        M_0 = Uᵀ λC0 U + αI is not numerically positive definite.
    KeyboardInterrupt
        Ctrl-C during construction (within about 0.1 s).

    Notes
    -----
    ``weights`` is a read-only view of W_t, valid for the editor's lifetime and always showing
    the current weights (it changes with every step: copy it, ``numpy.array(ed.weights)``, to
    keep a snapshot). The library keeps W0 and D_t = W_t − W0; the bindings keep W_t in a
    buffer of their own, made on the first read of ``weights`` (d_v x d_k more memory) and
    updated in place after each step (one d_v x d_k addition). Reading the view while another
    thread runs ``apply`` on the same editor may show a half-updated matrix.
    ``weights_is_view`` is False only with library versions that moved W_t between buffers
    (then ``weights`` is a copy).

    Every method either succeeds or raises and leaves the editor unchanged. Calls on one
    editor from several threads are serialised (each releases the GIL while it runs).
    """

    def __init__(self, W0: Any, C0: Any, objective: Objective, *, history: str = "aligned",
                 compensation: str = "none", projector: Optional[NullSpaceProjector] = None,
                 regulariser: Optional[Regulariser] = None, drift_threshold: float = 0.0, dtype: Any = None,
                 strict: bool = False, output: Optional[str] = None,
                 progress: Optional[ProgressCallback] = None) -> None:
        if not isinstance(objective, Objective):
            raise TypeError("seqedit: objective must be a seqedit.Objective")
        if regulariser is not None and not isinstance(regulariser, (Prune, Rect)):
            raise TypeError("seqedit: regulariser must be seqedit.Prune(), seqedit.Rect(p) or None")
        self.dtype = resolve_dtype(dtype, W0)
        if projector is not None and projector.dtype != self.dtype:
            raise ValueError(f"seqedit: the projector is {projector.dtype} but the editor works in {self.dtype}")
        self._torch = want_torch(output, W0)
        w0 = as_matrix(W0, self.dtype, "W0", strict=strict, vector_ok=False)
        c0 = as_matrix(C0, self.dtype, "C0", strict=strict, symmetric=True, vector_ok=False)
        cls = self._cls(self.dtype, regulariser)
        self._e = cls(w0, c0, objective.lam, objective.alpha, str(history), str(compensation),
                      projector._p if projector else None,
                      regulariser._native(self.dtype) if regulariser is not None else None,
                      float(drift_threshold), progress)
        self._regulariser = regulariser

    @staticmethod
    def _cls(dtype: np.dtype, regulariser: Optional[Regulariser]) -> Any:
        kind = "none" if regulariser is None else regulariser.name
        return getattr(_ext, f"SequentialEditor_{_sfx(dtype)}_{kind}")

    @classmethod
    def _wrap(cls, native: Any, dtype: np.dtype, regulariser: Optional[Regulariser], torch_out: bool) -> "SequentialEditor":
        self = cls.__new__(cls)
        self.dtype = dtype
        self._e = native
        self._regulariser = regulariser
        self._torch = torch_out
        return self

    def _out(self, a: np.ndarray) -> Any:
        return to_output(a, self._torch)

    def _ids(self, serials: List[int]) -> List[EditId]:
        tag = int(self._e.tag)
        return [EditId(tag, int(s)) for s in serials]

    # ------------------------------------------------------------------ steps
    def apply(self, K: Any, V: Any, *, strict: bool = False) -> List[EditId]:
        """One step with keys K (d_k x n) and wanted values V (d_v x n) (math.md §3).

        Returns one EditId per column. Runs without the GIL. Cost O(d_k² n + d_v d_k n).
        """
        return self._ids(self._e.apply(as_matrix(K, self.dtype, "K", strict=strict),
                                       as_matrix(V, self.dtype, "V", strict=strict)))

    def apply_residual(self, K: Any, R: Any, *, strict: bool = False) -> List[EditId]:
        """One step with keys K and residuals R = V − W_{t−1} K under the current weights
        (multi-layer MEMIT, math.md §9)."""
        return self._ids(self._e.apply_residual(as_matrix(K, self.dtype, "K", strict=strict),
                                                as_matrix(R, self.dtype, "R", strict=strict)))

    def replace(self, ids: Union[EditId, Sequence[EditId]], K: Any, V: Any, *, strict: bool = False) -> List[EditId]:
        """New edits (K, V) superseding the earlier edits ``ids`` (math.md §7, Prop. 3.5):
        afterwards D equals the OTE over the journal without ``ids`` and with the new edits."""
        return self._ids(self._e.replace(_id_pairs(ids), as_matrix(K, self.dtype, "K", strict=strict),
                                         as_matrix(V, self.dtype, "V", strict=strict)))

    def replace_residual(self, ids: Union[EditId, Sequence[EditId]], K: Any, R: Any, *,
                         strict: bool = False) -> List[EditId]:
        """``replace`` with residuals under the current weights."""
        return self._ids(self._e.replace_residual(_id_pairs(ids), as_matrix(K, self.dtype, "K", strict=strict),
                                                  as_matrix(R, self.dtype, "R", strict=strict)))

    def retract(self, ids: Union[EditId, Sequence[EditId]]) -> None:
        """Removes earlier edits exactly (math.md §7): afterwards D equals the OTE over the
        remaining journal. Raises ValueError for unknown, repeated or foreign ids, and
        NumericalError (editor unchanged) if the downdate would lose definiteness."""
        self._e.retract(_id_pairs(ids))

    def find_matching(self, K: Any, tol: float = 0.0) -> List[List[EditId]]:
        """For each column k of K, the live edits whose key k_j matches it:
        ‖k_j − k‖ ≤ tol · max(‖k_j‖, ‖k‖) (tol = 0: bit-for-bit equal)."""
        found = self._e.find_matching(as_matrix(K, self.dtype, "K"), float(tol))
        return [self._ids(f) for f in found]

    def refresh(self, C0: Any, *, strict: bool = False, progress: Optional[ProgressCallback] = None) -> "SequentialEditor":
        """Rebuilds M_t⁻¹ from C0 and the journal from scratch (O(d_k³)); weights unchanged.

        On Ctrl-C, KeyboardInterrupt is raised within about 0.1 s, but the rebuild itself
        cannot be stopped: it completes in the background (changing only M_t⁻¹, never the
        weights or the journal) and the editor's other methods wait for it.
        """
        self._e.refresh(as_matrix(C0, self.dtype, "C0", strict=strict, symmetric=True, vector_ok=False), progress)
        return self

    # ------------------------------------------------------------------ state
    @property
    def weights(self) -> Any:
        """W_t (d_v x d_k), read-only; a view for the editor's lifetime or a copy (see Notes)."""
        return self._out(self._e.weights)

    @property
    def weights_is_view(self) -> bool:
        """True if ``weights`` is a view of the editor's memory (no regulariser, history not
        "latest_only")."""
        return bool(self._e.weights_is_view)

    @property
    def initial_weights(self) -> Any:
        """W0 (d_v x d_k), a read-only view valid while the editor lives."""
        return self._out(self._e.initial_weights)

    def cumulative_update(self) -> Any:
        """D_t = W_t − W0 (a new array)."""
        return self._out(self._e.cumulative_update())

    def _need(self, name: str) -> Any:
        f = getattr(self._e, name, None)
        if f is None:
            raise RuntimeError(f"seqedit: {name} is not offered by the library this module was built with")
        return f

    def drift_estimate(self) -> float:
        """max_y ‖X (M_t y) − y‖ / ‖y‖ over four fixed probe vectors: the relative error of the
        kept inverse X ≈ M_t⁻¹ (NaN for a state written before drift monitoring, until
        ``refresh``). Cost O(r² + d_k N)."""
        return float(self._need("drift_estimate")())

    @property
    def refresh_needed(self) -> bool:
        """True once a monitored drift estimate exceeded ``drift_threshold``; ``refresh`` resets it."""
        return bool(self._need("refresh_needed"))

    def last_step_info(self) -> Dict[str, Any]:
        """What the last step saw: ``added``, ``removed`` (columns), ``capacitance_rcond``,
        ``amplification`` (1 / min |eig S|, the downdate's error amplification) and ``drift``
        (NaN unless monitored)."""
        return dict(self._need("last_step_info")())

    def system_inverse(self) -> Any:
        """M_t⁻¹ (r x r, full symmetric copy)."""
        return self._out(self._e.system_inverse())

    def deviation(self) -> Any:
        """e_t, the latest deviation R_p(Δ_t) − Δ_t (empty without analytic compensation)."""
        return self._out(self._e.deviation())

    @property
    def journal(self) -> Journal:
        """The live edits (ids, keys, values)."""
        return Journal(self._ids(self._e.journal_serials()), self)

    @property
    def steps(self) -> int:
        """Number of successful apply/replace/retract calls."""
        return int(self._e.steps)

    @property
    def key_dim(self) -> int:
        """d_k."""
        return int(self._e.key_dim)

    @property
    def value_dim(self) -> int:
        """d_v."""
        return int(self._e.value_dim)

    @property
    def reduced_dim(self) -> int:
        """r = rank P (d_k without projector)."""
        return int(self._e.reduced_dim)

    @property
    def tag(self) -> int:
        """The random 64-bit tag carried by this editor's EditIds."""
        return int(self._e.tag)

    @property
    def history(self) -> str:
        return str(self._e.history)

    @property
    def compensation(self) -> str:
        return str(self._e.compensation)

    @property
    def objective(self) -> Objective:
        return Objective(float(self._e.lam), float(self._e.alpha))

    @property
    def regulariser(self) -> Optional[Regulariser]:
        return self._regulariser

    @property
    def has_projector(self) -> bool:
        return bool(self._e.has_projector)

    def __repr__(self) -> str:
        return (f"SequentialEditor(d_v={self.value_dim}, d_k={self.key_dim}, dtype={self.dtype}, "
                f"history={self.history!r}, compensation={self.compensation!r}, "
                f"regulariser={self._regulariser!r}, steps={self.steps})")


def save_state(editor: SequentialEditor, path: Union[str, "os.PathLike[str]"],
               metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes the complete state of ``editor`` to ``path`` (one safetensors file, atomically),
    the same file the C++ library (``seqedit::io::save_editor_state``) and the ``seqedit``
    tool write. ``metadata`` entries are stored too; their keys must not be "format" nor
    start with "seqedit." (ValueError). A state continued by the tool needs the tool's
    ``cli.*`` entries (see the README)."""
    editor._e.save(os.fspath(path), {str(k): str(v) for k, v in (metadata or {}).items()})


def state_info(path: Union[str, "os.PathLike[str]"], *, verify: bool = False) -> Dict[str, Any]:
    """The header of a state file (scalar, sizes, history, regulariser, steps, tag, serials,
    metadata) without loading the matrices; ``verify=True`` also checks the checksum."""
    return dict(_ext.state_info(os.fspath(path), bool(verify)))


def _regulariser_from_description(desc: str) -> Optional[Regulariser]:
    if desc == "none":
        return None
    if desc == "prune":
        return Prune()
    if desc.startswith("rect p="):
        return Rect(float(desc[len("rect p="):]))
    raise FormatError(f"seqedit: state file regulariser '{desc}' is not none, prune or rect p=<ratio>")


def load_state(path: Union[str, "os.PathLike[str]"], regulariser: Optional[Regulariser] = None, *,
               output: Optional[str] = None, progress: Optional[ProgressCallback] = None) -> SequentialEditor:
    """Loads an editor saved by ``save_state`` (or by C++ / the ``seqedit`` tool), fully
    validated (shapes, checksum). The dtype is the file's; the regulariser is the one the
    state was written with unless given (then it must match, else ValueError). The loaded
    editor continues bit for bit. Raises FormatError for a malformed file, IoError if it
    cannot be read."""
    p = os.fspath(path)
    info = _ext.state_info(p, False)
    dtype = np.dtype(np.float64) if info["scalar"] == "float64" else np.dtype(np.float32)
    reg = regulariser if regulariser is not None else _regulariser_from_description(str(info["regulariser"]))
    cls = SequentialEditor._cls(dtype, reg)
    native = cls.load(p, reg._native(dtype) if reg is not None else None, progress)
    return SequentialEditor._wrap(native, dtype, reg, want_torch(output) if output else False)


# ---------------------------------------------------------------------- tokenizers

@dataclasses.dataclass(frozen=True)
class Encoding:
    """The result of ``Tokenizer.encode``: token ids, the byte span [begin, end) of each token
    in the UTF-8 input, the token strings as in the vocabulary, and 1 for special tokens."""

    ids: List[int]
    offsets: List[tuple]
    tokens: List[str]
    special_tokens_mask: List[int]

    def __len__(self) -> int:
        return len(self.ids)


class Tokenizer:
    """A Hugging Face ``tokenizer.json`` tokenizer (seqedit::text, pipeline.md): added tokens,
    normalizer, pre-tokenizer, model (BPE, WordPiece), post-processor, decoder, with the ids
    of the reference implementation.

    Parameters
    ----------
    path : str or os.PathLike
        A ``tokenizer.json`` file. See also ``from_json``, ``from_gpt2_files`` and
        ``from_checkpoint``.

    Raises
    ------
    FormatError
        Malformed or unsupported file (the message names the JSON path).
    IoError
        The file cannot be read.
    RuntimeError
        The extension was built without seqedit::text.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self._t = self._native().from_file(os.fspath(path))

    @staticmethod
    def _native() -> Any:
        t = getattr(_ext, "Tokenizer", None)
        if t is None:
            raise RuntimeError("seqedit: this build has no tokenizers (the seqedit::text library was not built)")
        return t

    @classmethod
    def _wrap(cls, native: Any) -> "Tokenizer":
        self = cls.__new__(cls)
        self._t = native
        return self

    @classmethod
    def from_json(cls, text: str, origin: str = "tokenizer.json") -> "Tokenizer":
        """Parses ``tokenizer.json`` text; ``origin`` names it in error messages."""
        return cls._wrap(cls._native().from_json(text, origin))

    @classmethod
    def from_gpt2_files(cls, vocab_json: Union[str, "os.PathLike[str]"],
                        merges_txt: Union[str, "os.PathLike[str]"]) -> "Tokenizer":
        """GPT-2's vocab.json + merges.txt with GPT-2's byte-level pipeline."""
        return cls._wrap(cls._native().from_gpt2_files(os.fspath(vocab_json), os.fspath(merges_txt)))

    @classmethod
    def from_checkpoint(cls, dir: Union[str, "os.PathLike[str]"]) -> "Tokenizer":
        """A checkpoint folder: tokenizer.json when present, else vocab.json + merges.txt."""
        return cls._wrap(cls._native().from_checkpoint(os.fspath(dir)))

    def encode(self, text: Union[str, bytes], add_special_tokens: bool = True) -> Encoding:
        """Text (str, or UTF-8 bytes) -> Encoding. Raises ValueError for invalid UTF-8, a NUL
        byte or a text longer than 1 MiB (naming the byte offset or the length)."""
        ids, offsets, tokens, mask = self._t.encode(text, bool(add_special_tokens))
        return Encoding(list(ids), [tuple(o) for o in offsets], list(tokens), list(mask))

    def encode_ids(self, text: Union[str, bytes], add_special_tokens: bool = True) -> List[int]:
        """Only the ids of ``encode``."""
        return list(self._t.encode_ids(text, bool(add_special_tokens)))

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """Ids -> text through the decoder (invalid UTF-8 from partial byte tokens becomes
        U+FFFD). ValueError for an id outside [0, vocab_size)."""
        return bytes(self._t.decode([int(i) for i in ids], bool(skip_special_tokens))).decode("utf-8", "replace")

    def token_to_id(self, token: str) -> Optional[int]:
        """The id of a token string (vocabulary or added token), or None."""
        r = self._t.token_to_id(token)
        return None if r is None else int(r)

    def id_to_token(self, id: int) -> str:
        """The token string of an id (ValueError if there is none)."""
        return bytes(self._t.id_to_token(int(id))).decode("utf-8", "replace")

    @property
    def vocab_size(self) -> int:
        """One more than the largest id."""
        return int(self._t.vocab_size)

    def is_special(self, id: int) -> bool:
        """True for the id of a special added token."""
        return bool(self._t.is_special(int(id)))

    @property
    def origin(self) -> str:
        """Where the tokenizer was read from."""
        return str(self._t.origin)


# ---------------------------------------------------------------------- model runtime

class Model:
    """A decoder-only transformer checkpoint (GPT-2, GPT-J, Llama, Mistral, Qwen2) run on the
    CPU by seqedit::model (pipeline.md §10): forward passes over batches of token-id prompts
    with the captures the fact pipeline uses, and in-memory replacement of the FFN output
    projections (the matrices the editors change).

    Conventions (as in C++): positions are 0-based token indices; "at position t" is the
    state after reading tokens 0..t, so its next-token distribution predicts token t + 1;
    layers are 0-based blocks, "the output of block l" is HF's ``hidden_states[l + 1]``.
    Prompts of one call may have different lengths (no padding is involved). Arrays are
    returned one column per site, in the math orientation of the editors (keys d_k x n).

    Parameters
    ----------
    dir : str or os.PathLike
        The checkpoint folder (config.json + safetensors, single or sharded). The weights are
        memory-mapped in their stored dtype.
    dtype : numpy dtype, optional
        float32 (default, the production type) or float64 (an exact reference).

    Raises
    ------
    FormatError
        Malformed or unsupported config.json or safetensors (the message names the file and
        the field).
    IoError
        A file cannot be read.
    RuntimeError
        The extension was built without seqedit::model.

    Notes
    -----
    Calls release the GIL; the runtime's OpenMP threads follow ``OMP_NUM_THREADS``. One
    Model may be used from several threads; its passes run one at a time.
    """

    def __init__(self, dir: Union[str, "os.PathLike[str]"], dtype: Any = np.float32) -> None:
        self.dtype = resolve_dtype(dtype)
        cls = getattr(_ext, "Model_" + _sfx(self.dtype), None)
        if cls is None:
            raise RuntimeError("seqedit: this build has no model runtime (the seqedit::model library was not built)")
        self._m = cls.load(os.fspath(dir))

    @property
    def config(self) -> Dict[str, Any]:
        """The parsed config.json: model_type, vocab_size, d_model, n_layer, n_head, n_kv_head,
        head_dim, d_ff (the key dimension d_k), max_positions, sliding_window,
        tie_word_embeddings."""
        return dict(self._m.config())

    @property
    def dir(self) -> str:
        """The checkpoint folder."""
        return str(self._m.dir)

    @staticmethod
    def _prompts(prompts: Sequence[Sequence[int]]) -> List[List[int]]:
        return [[int(t) for t in p] for p in prompts]

    @staticmethod
    def _sites(sites: Sequence[Sequence[int]]) -> List[tuple]:
        return [(int(s[0]), int(s[1])) for s in sites]

    def run(self, prompts: Sequence[Sequence[int]], *, logprobs: Sequence[Sequence[int]] = (),
            distributions: Sequence[Sequence[int]] = (), logits: Sequence[Sequence[int]] = (),
            key_layers: Sequence[int] = (), key_sites: Sequence[Sequence[int]] = (),
            residual_layers: Sequence[int] = (), residual_sites: Sequence[Sequence[int]] = ()) -> Dict[str, Any]:
        """One forward pass with every capture the runtime offers.

        Parameters
        ----------
        prompts : list of lists of int
            Token ids, one list per prompt (each at least one token).
        logprobs : list of (prompt, position, token)
            log p(token | prompt[0..position]).
        distributions, logits : list of (prompt, position)
            Full next-token log-softmax / raw LM-head outputs at those sites.
        key_layers, key_sites
            The input of the FFN output projection (the key, pipeline.md §4) of each layer at
            every site.
        residual_layers, residual_sites
            The output of each block at every site, before any intervention (MEMIT's h, §5).

        Returns
        -------
        dict
            ``logprobs`` (list of float), ``distributions`` and ``logits`` (vocab x sites),
            ``keys`` (list per key layer of d_k x sites), ``residuals`` (list per residual
            layer of d x sites). ValueError for a site or token out of range.
        """
        return dict(self._m.run(self._prompts(prompts), [(int(q[0]), int(q[1]), int(q[2])) for q in logprobs],
                                self._sites(distributions), self._sites(logits), [int(x) for x in key_layers],
                                self._sites(key_sites), [int(x) for x in residual_layers], self._sites(residual_sites)))

    def keys(self, prompts: Sequence[Sequence[int]], layer: int, sites: Sequence[Sequence[int]]) -> np.ndarray:
        """The keys of block ``layer`` at ``sites``: d_k x len(sites)."""
        return self.run(prompts, key_layers=[layer], key_sites=sites)["keys"][0]

    def hidden(self, prompts: Sequence[Sequence[int]], layer: int, sites: Sequence[Sequence[int]]) -> np.ndarray:
        """The output of block ``layer`` at ``sites``: d_model x len(sites)."""
        return self.run(prompts, residual_layers=[layer], residual_sites=sites)["residuals"][0]

    def logprobs(self, prompts: Sequence[Sequence[int]], queries: Sequence[Sequence[int]]) -> np.ndarray:
        """log p(token | prompt[0..position]) for each (prompt, position, token)."""
        return np.asarray(self.run(prompts, logprobs=queries)["logprobs"], dtype=np.float64)

    def next_token_logprobs(self, prompts: Sequence[Sequence[int]], sites: Sequence[Sequence[int]]) -> np.ndarray:
        """The next-token log-softmax at each site: vocab_size x len(sites)."""
        return self.run(prompts, distributions=sites)["distributions"]

    def ffn_output(self, layer: int) -> np.ndarray:
        """W of block ``layer`` (d_model x d_k, the editors' orientation), as the model uses it now."""
        return self._m.ffn_output(int(layer))

    def set_ffn_output(self, layer: int, W: Any) -> None:
        """Uses W (d_model x d_k) for block ``layer`` from now on (in memory; the files are
        never written). W is copied; ValueError for a wrong shape or a non-finite entry."""
        self._m.set_ffn_output(int(layer), as_matrix(W, self.dtype, "W", vector_ok=False))

    def reset_ffn_output(self, layer: int) -> None:
        """Back to the checkpoint's own W of block ``layer``."""
        self._m.reset_ffn_output(int(layer))


# ---------------------------------------------------------------------- fact pipeline

_Path = Union[str, "os.PathLike[str]"]


def _facts_ext(name: str) -> Any:
    fn = getattr(_ext, name, None)
    if fn is None:
        raise RuntimeError("seqedit: this build has no fact pipeline (the seqedit::facts library was not built)")
    return fn


def _opt_path(p: Optional[_Path]) -> Optional[str]:
    return None if p is None else os.fspath(p)


def edit_facts(model: _Path, requests: _Path, *, stats: _Path, method: str, hparams: Optional[_Path] = None,
               preset: Optional[str] = None, history: str = "aligned", compensation: bool = True, batch: int = 100,
               cases: Optional[Sequence[int]] = None, context_templates: Optional[_Path] = None,
               state: Optional[_Path] = None, out: Optional[_Path] = None, in_place: bool = False,
               save_every: int = 0, skip_applied: bool = False,
               log: Optional[Callable[[str], Any]] = None) -> Dict[str, Any]:
    """Applies counterfactual requests to a checkpoint in sequential batches and writes the
    edited checkpoint: ``seqedit edit-facts`` as a call (pipeline.md §6, the same files and
    the same bytes as the tool).

    Parameters
    ----------
    model : str or os.PathLike
        Checkpoint folder (config.json, safetensors, tokenizer.json).
    requests : str or os.PathLike
        CounterFact JSON, MEMIT's zsRE JSON or JSON Lines requests (pipeline.md §1).
    stats : str or os.PathLike
        Folder of the ``<module>_<dtype>_mom2_*.npz`` statistics of the edited layers
        (``seqedit stats``); C0 = mom2 / count (pipeline.md §7).
    method : str
        ``"memit"``, ``"alphaedit"``, ``"memit-prune"`` or ``"memit-rect"``.
    hparams, preset :
        A MEMIT / AlphaEdit hparams JSON file, or a preset name (``"gpt2-xl"``, ``"gpt-j"``,
        ``"llama3-8b"``): exactly one (pipeline.md §9).
    history : str
        ``"aligned"`` (default), ``"none"`` (naive) or ``"latest"`` (Memorize-the-Latest).
    compensation : bool
        PRUNE / RECT under aligned history: Algorithm 1 compensation (default True).
    batch : int
        Requests per batch (default 100).
    cases : (first, last), optional
        Only the requests with case ids in [first, last].
    context_templates : str or os.PathLike, optional
        JSON list of templates, each with one ``{}``; default: generated by the model
        (pipeline.md §3).
    state : str or os.PathLike, optional
        Run-state folder: continued if it holds a run (the same hyper-parameters, method and
        history), else created. Needed by ``retract_facts`` and ``verify_run``.
    out, in_place :
        A new folder for the edited checkpoint, or ``in_place=True`` to rewrite the edited
        shards of ``model``: exactly one.
    save_every : int
        With ``state``: also write the checkpoint and the state after every ``save_every``
        batches (default 0: only at the end). The first save creates ``out``, later ones
        rewrite that folder in place. A stopped run keeps its last save and continues with
        ``model`` = the folder written, ``in_place=True``, the same ``state`` and
        ``skip_applied=True``, bit-identically to the run without the stop.
    skip_applied : bool
        Continuing a run: skip the requests whose case id the run already holds (default
        False: such a request raises ValueError).
    log : callable, optional
        Called with each progress line (per batch, request and layer).

    Returns
    -------
    dict
        ``requests``, ``skipped``, ``saves`` (times the checkpoint was written), ``batches``,
        ``cases_in_run``, ``layers``, ``checkpoint`` (the folder written) and ``seconds``.

    Raises
    ------
    ValueError
        Contradicting or invalid options, requests or hyper-parameters, a state of another
        run or checkpoint (the message names the option, record or field).
    FormatError, IoError
        A malformed or unreadable file.
    NumericalError
        A singular or indefinite system in an editor.
    KeyboardInterrupt
        Ctrl-C, at the next progress line.

    Notes
    -----
    Runs with the GIL released (the callback gets it back for each line). Without
    ``save_every``, nothing is written before the last batch is applied: a run that raises
    (Ctrl-C included) leaves the checkpoint and the state as they were; with it, as its last
    save left them.
    """
    rng = None if cases is None else (int(cases[0]), int(cases[1]))
    return dict(_facts_ext("edit_facts")(
        os.fspath(model), os.fspath(requests), os.fspath(stats), str(method), _opt_path(hparams),
        None if preset is None else str(preset), str(history), bool(compensation), int(batch), rng,
        _opt_path(context_templates), _opt_path(state), _opt_path(out), bool(in_place), int(save_every),
        bool(skip_applied), log))


def retract_facts(state: _Path, cases: Sequence[int], *, model: Optional[_Path] = None,
                  out: Optional[_Path] = None, in_place: bool = False,
                  log: Optional[Callable[[str], Any]] = None) -> Dict[str, Any]:
    """Removes facts by case id from every edited layer of a run, exactly: each layer's update
    becomes the one-time solution of its remaining columns (``seqedit retract --state``).

    Parameters
    ----------
    state : str or os.PathLike
        The run-state folder of ``edit_facts``.
    cases : sequence of int
        Case ids applied in the run.
    model : str or os.PathLike, optional
        The checkpoint; default: the one the state was last written to.
    out, in_place :
        A new folder for the checkpoint, or ``in_place=True``: exactly one.
    log : callable, optional
        Called with each progress line.

    Returns
    -------
    dict
        ``retracted``, ``remaining`` and ``checkpoint``.

    Raises
    ------
    ValueError
        A case id not in the run, a run without aligned history, contradicting outputs.
    NumericalError
        A downdate refused as indefinite (nothing is written).
    """
    return dict(_facts_ext("retract_facts")(os.fspath(state), [int(c) for c in cases], _opt_path(model),
                                            _opt_path(out), bool(in_place), log))


def verify_run(state: _Path, stats: Optional[_Path] = None, tolerance: float = -1.0) -> Dict[str, Any]:
    """Checks every layer of a run against the one-time solution of its journal (math.md
    section 3; ``seqedit verify --state``).

    Parameters
    ----------
    state : str or os.PathLike
        The run-state folder.
    stats : str or os.PathLike, optional
        The statistics folder; default: the one the run recorded.
    tolerance : float
        Bound on each layer's relative deviation; < 0: the default (1e-8).

    Returns
    -------
    dict
        ``layers`` (per layer: ``layer``, ``live_edits``, ``deviation``,
        ``compensated_deviation`` or None, ``drift``, ``ok``), ``tolerance`` and ``ok``.
    """
    return dict(_facts_ext("verify_run")(os.fspath(state), _opt_path(stats), float(tolerance)))
