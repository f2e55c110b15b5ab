"""Editor states cross between Python and the `seqedit` command-line tool bit for bit:
a state saved from Python is continued by the tool, and a state written by the tool is
continued from Python, with the same weights as continuing in the other one."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import seqedit
import seqedit.io as sio
from conftest import make_c0

DK, DV = 32, 12
TENSOR = "transformer.h.0.mlp.c_proj.weight"  # GPT-2 Conv1D: stored [d_k, d_v] = W^T


def cli():
    path = os.environ.get("SEQEDIT_CLI")
    assert path and os.path.exists(path), "SEQEDIT_CLI must name the built `seqedit` tool (set by CTest)"
    return path


def make_model(folder, w):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    sio.save_safetensors(folder / "model.safetensors", {TENSOR: np.ascontiguousarray(w.T)}, {"format": "pt"})


def cli_meta():
    return {"cli.method": "memit", "cli.layer": "0", "cli.tensor": TENSOR, "cli.orientation": "in-out",
            "cli.model_type": "gpt2", "cli.version": seqedit.__version__}


def run(*args):
    r = subprocess.run([cli(), *map(str, args)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"seqedit {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def problem(tmp_path):
    rng = np.random.default_rng(7)
    c0 = make_c0(rng, DK)
    w0 = np.asfortranarray(rng.standard_normal((DV, DK)))
    batches = []
    for i in range(3):
        k, v = rng.standard_normal((DK, 4)), rng.standard_normal((DV, 4))
        path = tmp_path / f"batch{i}.npz"
        np.savez(path, K=k, V=v)
        batches.append((k, v, path))
    return c0, w0, batches


def test_python_state_continued_by_tool(tmp_path, problem):
    c0, w0, batches = problem
    ed = seqedit.SequentialEditor(w0, c0, seqedit.Objective.memit(15000.0))
    ed.apply(*batches[0][:2])
    state = tmp_path / "s.safetensors"
    seqedit.save_state(ed, state, cli_meta())
    model = tmp_path / "model"
    make_model(model, np.asarray(ed.weights))
    run("edit", "--model", model, "--layer", 0, "--method", "memit", "--state", state, batches[1][2], batches[2][2])
    ed.apply(*batches[1][:2])
    ed.apply(*batches[2][:2])
    tool = seqedit.load_state(state)
    assert tool.steps == 3
    assert np.array_equal(tool.weights, ed.weights), "the tool's continuation differs from Python's"
    assert np.array_equal(tool.system_inverse(), ed.system_inverse())
    assert tool.journal.ids == ed.journal.ids
    ck = sio.Checkpoint(model)
    assert ck.ffn_output(0) == (TENSOR, "in-out")
    assert np.array_equal(ck.load(TENSOR, "in-out"), ed.weights)


def test_tool_state_continued_by_python(tmp_path, problem):
    c0, w0, batches = problem
    model = tmp_path / "model"
    make_model(model, w0)
    np.save(tmp_path / "c0.npy", c0)
    state = tmp_path / "s.safetensors"
    run("edit", "--model", model, "--layer", 0, "--c0", tmp_path / "c0.npy", "--method", "memit", "--lambda", 3.0,
        "--state", state, batches[0][2])
    # Python continues; the tool continues a copy of the same state.
    shutil.copytree(model, tmp_path / "model2")
    shutil.copy(state, tmp_path / "s2.safetensors")
    ed = seqedit.load_state(state)
    assert ed.steps == 1 and ed.objective == seqedit.Objective(3.0, 0.0)
    info = seqedit.state_info(state, verify=True)
    assert info["checksum_verified"] and info["extra_metadata"]["cli.method"] == "memit"
    ed.apply(*batches[1][:2])
    run("edit", "--model", tmp_path / "model2", "--layer", 0, "--method", "memit", "--state", tmp_path / "s2.safetensors",
        batches[1][2])
    tool = seqedit.load_state(tmp_path / "s2.safetensors")
    assert np.array_equal(tool.weights, ed.weights)
    # and the tool's first step equals Python's own from scratch, bit for bit
    fresh = seqedit.SequentialEditor(w0, c0, seqedit.Objective.memit(3.0))
    fresh.apply(*batches[0][:2])
    fresh.apply(*batches[1][:2])
    assert np.array_equal(fresh.weights, ed.weights)
    # Python saves it back with the tool's metadata; the tool retracts batch 0 from it.
    seqedit.save_state(ed, state, info["extra_metadata"])
    sio.Checkpoint(model).save(TENSOR, "in-out", np.asarray(ed.weights))
    run("retract", "--state", state, "--ids", 1, 2, 3, 4, "--model", model, "--layer", 0)
    ed.retract(ed.journal.ids[:4])
    assert np.array_equal(seqedit.load_state(state).weights, ed.weights)


def test_state_round_trip_in_python(tmp_path, problem):
    c0, w0, batches = problem
    for reg, comp in ((None, "none"), (seqedit.Rect(0.3), "analytic"), (seqedit.Prune(), "analytic")):
        ed = seqedit.SequentialEditor(w0.astype(np.float32), c0.astype(np.float32), seqedit.Objective.memit(2.0, 1.0),
                                      regulariser=reg, compensation=comp)
        ed.apply(*batches[0][:2])
        path = tmp_path / f"s_{comp}_{reg!r}.safetensors"
        seqedit.save_state(ed, path)
        back = seqedit.load_state(path)
        assert back.dtype == np.float32 and back.regulariser == reg and back.compensation == comp
        ed.apply(*batches[1][:2])
        back.apply(*batches[1][:2])
        assert np.array_equal(back.weights, ed.weights)
        if reg is not None:
            with pytest.raises(ValueError, match=r"written with regulariser"):
                seqedit.load_state(path, seqedit.Rect(0.5) if isinstance(reg, seqedit.Prune) else seqedit.Prune())
