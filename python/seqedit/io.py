"""The loader: safetensors files, Hugging Face checkpoints, MEMIT statistics, npy/npz.

The same code as the C++ part ``seqedit::io`` (include/seqedit/io): every reader validates
what it reads and raises ``seqedit.FormatError`` naming the file (and tensor or key) for
malformed content, ``seqedit.IoError`` when the operating system refuses; every writer
replaces its file atomically (temporary file, fsync, rename).

Matrices are returned in the math orientation as Fortran-ordered float64 or float32 arrays
(``dtype=``), ready to be passed to the editor without a copy.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _seqedit as _ext
from ._convert import as_matrix, resolve_dtype

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["Checkpoint", "load_mom2_stats", "load_npy", "load_npz", "load_safetensors", "npz_keys",
           "read_matrix", "replace_tensor", "safetensors_header", "save_npy", "save_safetensors"]

_NP_OF = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8"}


def _dtype_name(dtype: Any) -> str:
    return str(resolve_dtype(dtype))


def safetensors_header(path: PathLike) -> Tuple[Dict[str, str], List[Tuple[str, str, List[int]]]]:
    """(metadata, [(name, dtype, shape), ...]) of a safetensors file; dtypes are "F64",
    "F32", "F16", "BF16", "I64". Only the header is read (and fully validated)."""
    meta, tensors = _ext.safetensors_header(os.fspath(path))
    return dict(meta), [(str(n), str(d), [int(s) for s in sh]) for n, d, sh in tensors]


def load_safetensors(path: PathLike) -> Dict[str, np.ndarray]:
    """All tensors of a safetensors file as numpy arrays in their stored dtype and shape
    (C order, as stored); BF16 tensors become float32 (exactly)."""
    p = os.fspath(path)
    _, tensors = _ext.safetensors_header(p)
    out: Dict[str, np.ndarray] = {}
    for name, dt, shape in tensors:
        raw = _ext.safetensors_read_raw(p, name)
        if dt == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=_NP_OF[dt]).copy()
        out[str(name)] = arr.reshape([int(s) for s in shape])
    return out


def read_matrix(path: PathLike, name: str, dtype: Any = np.float64) -> np.ndarray:
    """One tensor (rank 0, 1 or 2; any float dtype of the file) as a matrix of ``dtype``."""
    return _ext.safetensors_read_matrix(os.fspath(path), str(name), _dtype_name(dtype))


def save_safetensors(path: PathLike, tensors: Dict[str, Any], metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes ``tensors`` (name -> array of float64, float32, float16 or int64, any rank,
    stored in C order) to a new safetensors file, atomically."""
    items = []
    kinds = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
             np.dtype("int64"): "I64"}
    for name, t in tensors.items():
        a = np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t)
        if a.dtype not in kinds:
            raise ValueError(f"seqedit: tensor '{name}' has dtype {a.dtype}; safetensors_write takes float64, "
                             "float32, float16 or int64")
        le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        items.append((str(name), kinds[a.dtype], [int(s) for s in a.shape], le.tobytes()))
    _ext.safetensors_write(os.fspath(path), items, {str(k): str(v) for k, v in (metadata or {}).items()})


def replace_tensor(path: PathLike, name: str, value: Any) -> None:
    """Replaces the 2-D (or 1-D) tensor ``name`` of a safetensors file by ``value`` in the file's
    own dtype and shape; every other byte stays identical; atomic."""
    a = np.asarray(value)
    dt = np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)
    _ext.safetensors_replace(os.fspath(path), str(name), as_matrix(a, dt, "value"))


class Checkpoint:
    """A Hugging Face checkpoint folder (config.json + model.safetensors or shards).

    ``ffn_output(layer)`` names the edited tensor by family (gpt2, gptj, llama, mistral,
    qwen2) with its orientation: "in-out" (stored [d_k, d_v] = Wᵀ, GPT-2 Conv1D) or
    "out-in" (stored [d_v, d_k] = W). ``load``/``save`` take and give W (d_v x d_k).
    """

    def __init__(self, dir: PathLike) -> None:
        self._c = _ext.Checkpoint(os.fspath(dir))

    @property
    def dir(self) -> str:
        return str(self._c.dir)

    @property
    def model_type(self) -> str:
        """config.json's model_type ("" without config.json)."""
        return str(self._c.model_type)

    @property
    def sharded(self) -> bool:
        return bool(self._c.sharded)

    def has_tensor(self, name: str) -> bool:
        return bool(self._c.has_tensor(name))

    def shard_of(self, name: str) -> str:
        """Path of the shard holding ``name`` (FormatError if none does)."""
        return str(self._c.shard_of(name))

    def ffn_output(self, layer: int) -> Tuple[str, str]:
        """(tensor name, orientation) of the FFN output projection of ``layer`` (0-based)."""
        t, o = self._c.ffn_output(int(layer))
        return str(t), str(o)

    def load(self, tensor: str, orientation: str, dtype: Any = np.float64) -> np.ndarray:
        """W (d_v x d_k) from ``tensor`` stored in ``orientation``."""
        return self._c.load(str(tensor), str(orientation), _dtype_name(dtype))

    def save(self, tensor: str, orientation: str, W: Any) -> None:
        """Writes W (d_v x d_k) back into its shard in the stored dtype and orientation;
        every other byte stays identical; atomic."""
        a = np.asarray(W)
        dt = np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)
        self._c.save(str(tensor), str(orientation), as_matrix(a, dt, "W", vector_ok=False))


def load_mom2_stats(path: PathLike, dtype: Any = np.float64) -> np.ndarray:
    """C0 = mom2.mom2 / mom2.count from a MEMIT/AlphaEdit statistics npz (math.md §10)."""
    return _ext.load_mom2_stats(os.fspath(path), _dtype_name(dtype))


def load_npy(path: PathLike, dtype: Any = np.float64) -> np.ndarray:
    """A .npy array of rank 0-2 (<f8, <f4, <f2, <i8 or big-endian forms) as a matrix."""
    return _ext.npy_read(os.fspath(path), _dtype_name(dtype))


def save_npy(path: PathLike, M: Any, dtype: str = "F64") -> None:
    """Writes a matrix as a 2-D .npy file (C order) with dtype "F64", "F32" or "F16"; atomic."""
    a = np.asarray(M)
    dt = np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)
    _ext.npy_write(os.fspath(path), as_matrix(a, dt, "M"), str(dtype))


def npz_keys(path: PathLike) -> List[str]:
    """Member names of an npz archive (without ".npy")."""
    return [str(k) for k in _ext.npz_keys(os.fspath(path))]


def load_npz(path: PathLike, dtype: Any = np.float64, keys: Optional[List[str]] = None) -> Dict[str, np.ndarray]:
    """Numeric members of an npz archive (rank 0-2) as matrices of ``dtype``."""
    p = os.fspath(path)
    names = npz_keys(p) if keys is None else list(keys)
    return {k: _ext.npz_read(p, k, _dtype_name(dtype)) for k in names}
