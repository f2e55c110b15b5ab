"""Array conversion rules shared by every entry point of the package.

Inputs are read by the compiled core as column-major (Fortran-order) matrices of the
object's scalar type (float32 or float64):

* an array (or CPU ``torch.Tensor``) of that dtype whose rows are contiguous (unit stride
  along axis 0, e.g. Fortran order, or a column slice of one) is read in place, no copy;
* a C-ordered square matrix given where a symmetric one is expected (C0) is read as its
  transpose, which is the same memory: no copy;
* anything else (other dtype, C order for a non-symmetric argument, negative or odd
  strides) is converted once, into a temporary Fortran-ordered array that lives for the
  duration of the call; ``strict=True`` refuses that conversion with a ValueError.

torch tensors are handled without importing torch: a CPU tensor is viewed through
``Tensor.numpy()`` (shared memory, no copy); any object exposing ``__array_interface__`` /
``__array__`` or ``__dlpack__`` is accepted the same way.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Optional, Tuple

import numpy as np

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def is_torch(x: Any) -> bool:
    """True if ``x`` is a ``torch.Tensor`` (checked by type, torch is not imported)."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach") and hasattr(x, "numpy")


def resolve_dtype(dtype: Any, *candidates: Any) -> np.dtype:
    """The working dtype: ``dtype`` if given (float32/float64, numpy or torch spelling),
    else float32 if the first array-like candidate is float32, else float64."""
    if dtype is not None:
        name = str(dtype)
        if name.startswith("torch."):
            name = name[len("torch."):]
        try:
            d = np.dtype(name if name in ("float32", "float64") else dtype)
        except TypeError as e:
            raise ValueError(f"seqedit: dtype must be float32 or float64, got {dtype!r}") from e
        if d not in _FLOATS:
            raise ValueError(f"seqedit: dtype must be float32 or float64, got {dtype!r}")
        return d
    for c in candidates:
        if c is None:
            continue
        d = getattr(c, "dtype", None)
        if d is None:
            continue
        name = str(d)
        if name in ("float32", "torch.float32"):
            return np.dtype(np.float32)
        return np.dtype(np.float64)
    return np.dtype(np.float64)


def _to_ndarray(x: Any, name: str, strict: bool) -> Tuple[np.ndarray, bool]:
    """(array, copied) without changing dtype or layout where possible."""
    if isinstance(x, np.ndarray):
        return x, False
    if is_torch(x):
        dev = getattr(getattr(x, "device", None), "type", "cpu")
        if dev != "cpu":
            raise ValueError(
                f"seqedit: {name} is a torch tensor on device '{x.device}'; seqedit works on CPU memory "
                f"(pass {name}.cpu())")
        t = x.detach()
        if getattr(t, "is_sparse", False):
            raise ValueError(f"seqedit: {name} is a sparse torch tensor; pass a dense one")
        try:
            return t.numpy(), False
        except (TypeError, RuntimeError):
            # e.g. bfloat16, which numpy has no dtype for: one conversion.
            if strict:
                raise ValueError(
                    f"seqedit: strict=True: {name} is a torch tensor of dtype {t.dtype} that numpy cannot view; "
                    "converting it would copy") from None
            return t.double().numpy(), True
    if hasattr(x, "__array_interface__") or hasattr(x, "__array__") or hasattr(x, "__array_struct__"):
        return np.asarray(x), False
    if hasattr(x, "__dlpack__"):
        return np.from_dlpack(x), False
    if strict:
        raise ValueError(f"seqedit: strict=True: {name} is a {type(x).__name__}, not an array; converting would copy")
    try:
        return np.asarray(x, dtype=np.float64), True
    except (TypeError, ValueError) as e:
        raise ValueError(f"seqedit: {name} cannot be read as a matrix: {e}") from e


def _columns_contiguous(a: np.ndarray) -> bool:
    """Unit stride down the rows and a positive outer stride of at least the row count."""
    if a.ndim != 2:
        return False
    rows, cols = a.shape
    item = a.itemsize
    rs, cs = a.strides
    if rows > 1 and rs != item:
        return False
    if cols > 1 and (cs <= 0 or cs % item != 0 or cs // item < rows):
        return False
    return True


def as_matrix(x: Any, dtype: np.dtype, name: str, *, strict: bool = False, symmetric: bool = False,
              vector_ok: bool = True) -> np.ndarray:
    """``x`` as a 2-D array of ``dtype`` that the core reads in place (see the module doc).

    Parameters
    ----------
    x : array_like or torch.Tensor
        The input. A 1-D input is one column (d x 1) when ``vector_ok``.
    dtype : numpy.dtype
        float32 or float64, the scalar type of the object receiving ``x``.
    name : str
        Name used in error messages (``K``, ``C0``, ...).
    strict : bool
        Refuse (ValueError) instead of converting.
    symmetric : bool
        ``x`` is symmetric (C0): a C-ordered square array is read as its transpose.

    Returns
    -------
    numpy.ndarray
        The same memory as ``x`` when no conversion was needed.
    """
    a, copied = _to_ndarray(x, name, strict)
    if a.ndim == 1 and vector_ok:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"seqedit: {name} must be a matrix (2-D), got an array of shape {a.shape}")
    if a.dtype.kind not in "fiub":
        raise ValueError(f"seqedit: {name} has dtype {a.dtype}, which is not a real number type")
    if a.dtype != dtype:
        if strict:
            raise ValueError(
                f"seqedit: strict=True: {name} has dtype {a.dtype} but the computation runs in {dtype}; "
                "converting it would copy")
        return np.asfortranarray(a, dtype=dtype)
    if _columns_contiguous(a):
        return a
    if symmetric and a.shape[0] == a.shape[1] and _columns_contiguous(a.T):
        return a.T
    if strict:
        raise ValueError(
            f"seqedit: strict=True: {name} (shape {a.shape}, strides {a.strides}) is not in Fortran order"
            + ("" if symmetric else " (only a symmetric argument such as C0 may be C-ordered)")
            + "; converting it would copy")
    del copied
    return np.asfortranarray(a)


def want_torch(output: Optional[str], *like: Any) -> bool:
    """Whether results are returned as torch tensors: ``output`` is "torch" or "numpy";
    None means torch when the (first given) reference input is a torch tensor."""
    if output is None:
        for x in like:
            if x is not None:
                return is_torch(x)
        return False
    if output not in ("numpy", "torch"):
        raise ValueError(f"seqedit: output must be 'numpy' or 'torch', got {output!r}")
    return output == "torch"


def to_output(a: np.ndarray, torch_out: bool) -> Any:
    """``a`` as a numpy array or as a torch tensor sharing its memory."""
    if not torch_out:
        return a
    torch = sys.modules.get("torch")
    if torch is None:
        import torch  # noqa: F811  (imported only when tensors are asked for)
    if not a.flags.writeable:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # read-only views: torch cannot mark them
            return torch.from_numpy(a)
    return torch.from_numpy(a)
