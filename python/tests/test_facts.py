"""seqedit.edit_facts / retract_facts / verify_run on the shipped demo checkpoint: the same
checkpoint bytes as the `seqedit edit-facts` tool, exact retraction, alignment of every layer,
Ctrl-C before anything is written or after a save (resumed with skip_applied), and the errors
of bad options."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

import seqedit
import seqedit.io

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "facts" / "demo_model"
HPARAMS = ROOT / "examples" / "facts" / "demo_hparams.json"
CASES = (0, 3)


def cli():
    path = os.environ.get("SEQEDIT_CLI")
    assert path and os.path.exists(path), "SEQEDIT_CLI must name the built `seqedit` tool (set by CTest)"
    return path


def edited_tensors():
    hp = json.loads(HPARAMS.read_text())
    return [hp["rewrite_module_tmp"].format(layer) + ".weight" for layer in hp["layers"]], hp


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Statistics of the edited layers (written once by `seqedit stats`) and a run of the tool."""
    d = tmp_path_factory.mktemp("facts")
    _, hp = edited_tensors()
    layers = ",".join(str(x) for x in hp["layers"])
    subprocess.run([cli(), "stats", "--model", str(DEMO), "--layers", layers, "--corpus", str(DEMO / "corpus.txt"),
                    "--tokens", "4096", "--out", str(d / "stats")], check=True, capture_output=True)
    subprocess.run([cli(), "edit-facts", "--model", str(DEMO), "--requests", str(DEMO / "requests.json"),
                    "--hparams", str(HPARAMS), "--stats", str(d / "stats"), "--method", "memit", "--batch", "2",
                    "--cases", "%d-%d" % CASES, "--state", str(d / "state_cli"), "--out", str(d / "out_cli")],
                   check=True, capture_output=True)
    return d


def run_python(work, name, **kw):
    lines = []
    res = seqedit.edit_facts(DEMO, DEMO / "requests.json", hparams=HPARAMS, stats=work / "stats", method="memit",
                             batch=2, cases=CASES, state=work / ("state_" + name), out=work / ("out_" + name),
                             log=lines.append, **kw)
    return res, lines


def test_same_bytes_as_the_tool(work):
    # In a fresh interpreter, as the tool runs: the thread count of Eigen's products decides
    # their rounding, and other tests of this process set torch's (the same OpenMP) to 1.
    code = ("import json, sys, seqedit\n"
            "lines = []\n"
            "res = seqedit.edit_facts(sys.argv[1], sys.argv[2], hparams=sys.argv[3], stats=sys.argv[4],\n"
            "                         method='memit', batch=2, cases=(%d, %d), state=sys.argv[5], out=sys.argv[6],\n"
            "                         log=lines.append)\n"
            "print(json.dumps({'res': res, 'lines': lines}))\n") % CASES
    p = subprocess.run([sys.executable, "-c", code, str(DEMO), str(DEMO / "requests.json"), str(HPARAMS),
                        str(work / "stats"), str(work / "state_sub"), str(work / "out_sub")],
                       check=True, capture_output=True, text=True)
    got = json.loads(p.stdout)
    res, lines = got["res"], got["lines"]
    _, hp = edited_tensors()
    assert res["requests"] == 4 and res["batches"] == 2 and res["cases_in_run"] == 4
    assert res["layers"] == hp["layers"]
    assert pathlib.Path(res["checkpoint"]) == (work / "out_sub").resolve()
    assert any(line.startswith("batch 2/2") for line in lines)
    assert any("request 1/2" in line for line in lines)
    files = sorted(p.name for p in (work / "out_cli").iterdir())
    assert files == sorted(p.name for p in (work / "out_sub").iterdir())
    for f in files:
        assert (work / "out_sub" / f).read_bytes() == (work / "out_cli" / f).read_bytes(), f


def test_in_process_run(work):
    res, lines = run_python(work, "py")
    assert res["requests"] == 4 and res["cases_in_run"] == 4
    assert any(line.startswith("batch 1/2") for line in lines)


def test_every_layer_aligned_and_edited(work):
    if not (work / "state_py").exists():
        run_python(work, "py")
    rep = seqedit.verify_run(work / "state_py")
    assert rep["ok"] and rep["tolerance"] == 1e-8
    assert [x["layer"] for x in rep["layers"]] == edited_tensors()[1]["layers"]
    for layer in rep["layers"]:
        assert layer["live_edits"] == 4 and layer["deviation"] <= 1e-8 and layer["compensated_deviation"] is None
    names, _ = edited_tensors()
    before = seqedit.io.load_safetensors(DEMO / "model.safetensors")
    after = seqedit.io.load_safetensors(work / "out_py" / "model.safetensors")
    for n in names:
        assert np.max(np.abs(after[n] - before[n])) > 1e-3 * np.max(np.abs(before[n]))


def test_retracting_every_case_restores_the_weights(work):
    if not (work / "state_py").exists():
        run_python(work, "py")
    res = seqedit.retract_facts(work / "state_py", list(range(CASES[0], CASES[1] + 1)), out=work / "out_retracted")
    assert res["retracted"] == 4 and res["remaining"] == 0
    names, _ = edited_tensors()
    before = seqedit.io.load_safetensors(DEMO / "model.safetensors")
    after = seqedit.io.load_safetensors(work / "out_retracted" / "model.safetensors")
    for n in names:
        # float32 tensors: back to the original up to a few float32 roundings
        scale = float(np.max(np.abs(before[n])))
        assert np.max(np.abs(after[n].astype(np.float64) - before[n])) <= 4 * np.finfo(np.float32).eps * scale


def test_ctrl_c_stops_before_anything_is_written(work):
    sent = []

    def log(line):
        if "request" in line and not sent:
            sent.append(line)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        seqedit.edit_facts(DEMO, DEMO / "requests.json", hparams=HPARAMS, stats=work / "stats", method="memit",
                           batch=2, cases=CASES, state=work / "state_int", out=work / "out_int", log=log)
    assert sent
    assert not (work / "out_int").exists()
    assert not (work / "state_int" / "manifest.json").exists()


def test_ctrl_c_after_a_save_keeps_it_and_the_resumed_run_gives_the_same_bytes(work):
    whole, _ = run_python(work, "whole")
    assert whole["saves"] == 1
    sent = []

    def log(line):
        if line.startswith("batch 2/2") and not sent:
            sent.append(line)
            os.kill(os.getpid(), signal.SIGINT)

    common = dict(hparams=HPARAMS, stats=work / "stats", method="memit", batch=2, cases=CASES,
                  state=work / "state_saved", save_every=1)
    with pytest.raises(KeyboardInterrupt):
        seqedit.edit_facts(DEMO, DEMO / "requests.json", out=work / "out_saved", log=log, **common)
    assert sent
    rep = seqedit.verify_run(work / "state_saved")
    assert rep["ok"] and all(x["live_edits"] == 2 for x in rep["layers"])
    res = seqedit.edit_facts(work / "out_saved", DEMO / "requests.json", in_place=True, skip_applied=True, **common)
    assert res["skipped"] == 2 and res["requests"] == 2 and res["cases_in_run"] == 4
    files = sorted(p.name for p in (work / "out_whole").iterdir())
    assert files == sorted(p.name for p in (work / "out_saved").iterdir())
    for f in files:
        assert (work / "out_saved" / f).read_bytes() == (work / "out_whole" / f).read_bytes(), f


def test_bad_options(work):
    base = dict(stats=work / "stats", out=work / "never")
    with pytest.raises(ValueError, match="exactly one of --hparams or --preset"):
        seqedit.edit_facts(DEMO, DEMO / "requests.json", method="memit", **base)
    with pytest.raises(ValueError, match="bogus"):
        seqedit.edit_facts(DEMO, DEMO / "requests.json", method="bogus", hparams=HPARAMS, **base)
    with pytest.raises(ValueError, match="--history"):
        seqedit.edit_facts(DEMO, DEMO / "requests.json", method="memit", hparams=HPARAMS, history="all", **base)
    with pytest.raises(ValueError, match="exactly one of --out DIR or --in-place"):
        seqedit.edit_facts(DEMO, DEMO / "requests.json", method="memit", hparams=HPARAMS, stats=work / "stats")
    with pytest.raises(ValueError, match="--batch"):
        seqedit.edit_facts(DEMO, DEMO / "requests.json", method="memit", hparams=HPARAMS, batch=0, **base)
    with pytest.raises(ValueError, match="not applied"):
        seqedit.retract_facts(work / "state_cli", [999], out=work / "never")
    assert not (work / "never").exists()
