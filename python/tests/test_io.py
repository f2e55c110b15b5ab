"""The loader from Python against numpy's own readers and writers."""

import json
import zipfile

import numpy as np
import pytest

import seqedit
import seqedit.io as sio


def test_safetensors_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    tensors = {"a": rng.standard_normal((3, 5)), "b": rng.standard_normal(4).astype(np.float32),
               "c": np.arange(6, dtype=np.int64).reshape(2, 3), "h": rng.standard_normal((2, 2)).astype(np.float16)}
    path = tmp_path / "t.safetensors"
    sio.save_safetensors(path, tensors, {"note": "x"})
    meta, heads = sio.safetensors_header(path)
    assert meta["note"] == "x"
    assert {n: (d, s) for n, d, s in heads} == {"a": ("F64", [3, 5]), "b": ("F32", [4]), "c": ("I64", [2, 3]),
                                                 "h": ("F16", [2, 2])}
    back = sio.load_safetensors(path)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)
    m = sio.read_matrix(path, "a", np.float32)
    assert m.dtype == np.float32 and m.flags.f_contiguous and np.array_equal(m, tensors["a"].astype(np.float32))
    # replace a tensor in place: every other byte identical
    before = path.read_bytes()
    newa = rng.standard_normal((3, 5))
    sio.replace_tensor(path, "a", newa)
    assert np.array_equal(sio.load_safetensors(path)["a"], newa)
    after = path.read_bytes()
    assert len(after) == len(before)
    with pytest.raises(ValueError):
        sio.replace_tensor(path, "a", rng.standard_normal((5, 3)))
    path.write_bytes(before[:-3])
    with pytest.raises(seqedit.FormatError, match=r"t.safetensors"):
        sio.load_safetensors(path)


def test_npy_npz_and_stats(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 3))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "f.npy", np.asfortranarray(a.astype(np.float32)))
    assert np.array_equal(sio.load_npy(tmp_path / "a.npy"), a)
    assert np.array_equal(sio.load_npy(tmp_path / "f.npy", np.float32), a.astype(np.float32))
    sio.save_npy(tmp_path / "b.npy", a, "F32")
    assert np.array_equal(np.load(tmp_path / "b.npy"), a.astype(np.float32))
    k = rng.standard_normal((6, 50))
    mom2 = k @ k.T
    np.savez(tmp_path / "stats.npz", **{"mom2.mom2": mom2.astype(np.float32), "mom2.count": np.int64(50),
                                        "mom2.constructor": np.array("x", dtype="<U32"), "sample_size": np.int64(50)})
    c0 = sio.load_mom2_stats(tmp_path / "stats.npz")
    assert np.allclose(c0, mom2.astype(np.float32).astype(np.float64) / 50, rtol=0, atol=1e-12)
    assert set(sio.npz_keys(tmp_path / "stats.npz")) == {"mom2.mom2", "mom2.count", "mom2.constructor", "sample_size"}
    z = sio.load_npz(tmp_path / "stats.npz", keys=["mom2.mom2"])
    assert np.array_equal(z["mom2.mom2"], mom2.astype(np.float32).astype(np.float64))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(seqedit.FormatError):
        sio.load_mom2_stats(tmp_path / "bad.npz")


def test_checkpoint(tmp_path):
    rng = np.random.default_rng(6)
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    w = rng.standard_normal((4, 9)).astype(np.float32)
    sio.save_safetensors(d / "model.safetensors", {"model.layers.2.mlp.down_proj.weight": w,
                                                  "other": np.ones(3, np.float32)})
    ck = sio.Checkpoint(d)
    assert ck.model_type == "llama" and not ck.sharded
    t, o = ck.ffn_output(2)
    assert (t, o) == ("model.layers.2.mlp.down_proj.weight", "out-in")
    assert np.array_equal(ck.load(t, o, np.float32), w)
    ck.save(t, o, 2 * w.astype(np.float64))
    assert np.array_equal(sio.load_safetensors(d / "model.safetensors")[t], 2 * w)
    with pytest.raises(seqedit.FormatError, match=r"layer 5 not found"):
        ck.ffn_output(5)
    with pytest.raises(ValueError, match=r"orientation must be"):
        ck.load(t, "sideways")
