"""Bad input gives the right exception with the library's message; EditId semantics."""

import pickle

import numpy as np
import pytest

import seqedit
from conftest import make_c0


@pytest.fixture
def editor(small_problem):
    p = small_problem
    return seqedit.SequentialEditor(p["w0"], p["c0"], seqedit.Objective.memit(1.0)), p


def test_wrong_shapes(editor, rng):
    ed, p = editor
    with pytest.raises(ValueError, match=r"seqedit: K has 23 rows but .*24"):
        ed.apply(rng.standard_normal((23, 2)), rng.standard_normal((10, 2)))
    with pytest.raises(ValueError, match=r"seqedit: V is 10 x 3 but 10 x 2"):
        ed.apply(rng.standard_normal((24, 2)), rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match=r"C0"):
        seqedit.SequentialEditor(p["w0"], p["c0"][:20, :20], seqedit.Objective.memit(1.0))
    with pytest.raises(ValueError, match=r"must be a matrix"):
        ed.apply(np.zeros((24, 2, 1)), np.zeros((10, 2)))
    assert ed.steps == 0


def test_dtypes_and_nan(editor, rng):
    ed, p = editor
    with pytest.raises(ValueError, match=r"not a real number type"):
        ed.apply(np.zeros((24, 1), dtype=complex), np.zeros((10, 1)))
    k = rng.standard_normal((24, 2))
    k[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"seqedit: K contains a non-finite value \(nan\) at \(3, 1\)"):
        ed.apply(k, rng.standard_normal((10, 2)))
    with pytest.raises(ValueError, match=r"dtype must be float32 or float64"):
        seqedit.SequentialEditor(p["w0"], p["c0"], seqedit.Objective.memit(1.0), dtype=np.int32)
    assert ed.steps == 0


def test_bad_options():
    with pytest.raises(ValueError, match=r"Objective::lambda must be finite and >= 0, got -1"):
        seqedit.Objective.memit(-1.0)
    with pytest.raises(ValueError, match=r"Rect ratio p must be in \(0, 1\], got p = 1.5"):
        seqedit.Rect(1.5)
    rng = np.random.default_rng(1)
    c0 = make_c0(rng, 8)
    w0 = rng.standard_normal((3, 8))
    with pytest.raises(ValueError, match=r"history must be 'aligned', 'latest_only' or 'none', got 'newest'"):
        seqedit.SequentialEditor(w0, c0, seqedit.Objective.memit(1.0), history="newest")
    with pytest.raises(ValueError, match=r"compensation = Analytic needs history = Aligned"):
        seqedit.SequentialEditor(w0, c0, seqedit.Objective.memit(1.0), history="none", compensation="analytic")
    with pytest.raises(ValueError, match=r"must be symmetric"):
        seqedit.NullSpaceProjector(np.asfortranarray(rng.standard_normal((8, 8))))


def test_numerical_error_leaves_nothing(rng):
    c0 = np.zeros((6, 6), order="F")
    w0 = rng.standard_normal((3, 6))
    with pytest.raises(seqedit.NumericalError, match=r"not numerically positive definite|singular|definite"):
        seqedit.SequentialEditor(w0, c0, seqedit.Objective(0.0, 0.0))
    assert issubclass(seqedit.NumericalError, seqedit.Error)
    assert issubclass(seqedit.FormatError, ValueError)


def test_foreign_and_repeated_ids(editor, rng):
    ed, p = editor
    other = seqedit.SequentialEditor(p["w0"], p["c0"], seqedit.Objective.memit(1.0))
    ids = ed.apply(rng.standard_normal((24, 2)), rng.standard_normal((10, 2)))
    oids = other.apply(rng.standard_normal((24, 1)), rng.standard_normal((10, 1)))
    w = np.array(ed.weights)
    with pytest.raises(ValueError, match=r"belongs to another editor"):
        ed.retract(oids)
    with pytest.raises(ValueError, match=r"is listed twice"):
        ed.retract([ids[0], ids[0]])
    ed.retract(ids[:1])
    with pytest.raises(ValueError, match=r"unknown or already retracted"):
        ed.retract(ids[:1])
    with pytest.raises(TypeError):
        ed.retract([(ids[1].editor, ids[1].serial)])
    assert ed.steps == 2
    assert not np.array_equal(w, ed.weights)


def test_logic_error_for_latest_only(small_problem, rng):
    p = small_problem
    ed = seqedit.SequentialEditor(p["w0"], p["c0"], seqedit.Objective.memit(1.0), history="latest_only")
    ids = ed.apply(rng.standard_normal((24, 2)), rng.standard_normal((10, 2)))
    with pytest.raises(RuntimeError, match=r"retract needs History::Aligned"):
        ed.retract(ids)


def test_edit_ids(editor, rng):
    ed, _ = editor
    ids = ed.apply(rng.standard_normal((24, 3)), rng.standard_normal((10, 3)))
    assert [i.serial for i in ids] == [1, 2, 3]
    assert all(i.editor == ed.tag for i in ids)
    assert ids[0] < ids[1] and ids[0] != ids[1]
    assert len({ids[0], ids[1], seqedit.EditId(ed.tag, 1)}) == 2
    assert str(ids[1]) == f"edit #2 of editor {ed.tag:x}"
    assert repr(ids[2]) == f"EditId(editor=0x{ed.tag:016x}, serial=3)"
    back = pickle.loads(pickle.dumps(ids))
    assert back == ids
    ed.retract(back[1:2])
    assert [i.serial for i in ed.journal] == [1, 3]


def test_malformed_state_file(tmp_path, editor, rng):
    ed, _ = editor
    ed.apply(rng.standard_normal((24, 2)), rng.standard_normal((10, 2)))
    path = tmp_path / "s.safetensors"
    seqedit.save_state(ed, path)
    raw = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(raw[:8], "little")  # first byte of the tensor data
    raw[start + 3] ^= 0x40
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(seqedit.FormatError, match=r"bad.safetensors: checksum mismatch"):
        seqedit.load_state(bad)
    (tmp_path / "trunc.safetensors").write_bytes(bytes(raw[:40]))
    with pytest.raises(seqedit.FormatError, match=r"trunc.safetensors"):
        seqedit.load_state(tmp_path / "trunc.safetensors")
    with pytest.raises(seqedit.IoError, match=r"missing.safetensors"):
        seqedit.load_state(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match=r"reserved"):
        seqedit.save_state(ed, path, {"seqedit.x": "1"})
