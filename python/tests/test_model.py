"""seqedit.Model on the shipped demo checkpoint against an independent PyTorch GPT-2
(tests/facts/torch_compute.py, which reads the same safetensors file): keys, block outputs,
log-probabilities and distributions, in float32 and float64; FFN output replacement; errors."""

import pathlib
import sys

import numpy as np
import pytest
import torch

import seqedit

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "facts" / "demo_model"

sys.path.insert(0, str(ROOT / "tests" / "facts"))
import torch_compute  # noqa: E402  (the independent reference)


@pytest.fixture(scope="module")
def reference():
    return torch_compute.GPT2(str(DEMO))


@pytest.fixture(scope="module")
def prompts():
    tok = seqedit.Tokenizer.from_checkpoint(DEMO)
    texts = ["The capital of", "Somebody plays the", "The official language of the country is"]
    return [tok.encode_ids(t) for t in texts]


def torch_pass(reference, ids, layer):
    with torch.no_grad():
        logits, outs, key = reference.forward(ids, capture_key_layer=layer)
    return logits.double(), [o.double() for o in outs], key.double()


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 2e-5)])
def test_matches_torch(reference, prompts, dtype, tol):
    # The reference runs in float32, so float64 agrees to float32 round-off as well.
    m = seqedit.Model(DEMO, dtype=dtype)
    cfg = m.config
    assert cfg["model_type"] == "gpt2" and cfg["d_ff"] == reference.cfg.get("n_inner")
    layer = 1
    sites = [(i, len(p) - 1) for i, p in enumerate(prompts)] + [(2, 1)]
    queries = [(i, len(p) - 2, p[-1]) for i, p in enumerate(prompts)]
    r = m.run(prompts, logprobs=queries, distributions=sites, key_layers=[layer], key_sites=sites,
              residual_layers=[layer, cfg["n_layer"] - 1], residual_sites=sites)
    keys, h1, hl = r["keys"][0], r["residuals"][0], r["residuals"][1]
    assert keys.shape == (cfg["d_ff"], len(sites)) and keys.dtype == dtype
    assert h1.shape == (cfg["d_model"], len(sites))
    for j, (p, pos) in enumerate(sites):
        logits, outs, key = torch_pass(reference, prompts[p], layer)
        scale = float(key.abs().max())
        assert np.max(np.abs(keys[:, j] - key[pos].numpy())) <= tol * scale
        assert np.max(np.abs(h1[:, j] - outs[layer][pos].numpy())) <= tol * float(outs[layer].abs().max())
        assert np.max(np.abs(hl[:, j] - outs[-1][pos].numpy())) <= tol * float(outs[-1].abs().max())
        lsm = torch.log_softmax(logits[pos], -1).numpy()
        assert np.max(np.abs(r["distributions"][:, j] - lsm)) <= tol * max(1.0, float(np.abs(lsm).max()))
    for q, (p, pos, tok) in enumerate(queries):
        logits, _, _ = torch_pass(reference, prompts[p], layer)
        ref = float(torch.log_softmax(logits[pos], -1)[tok])
        assert abs(r["logprobs"][q] - ref) <= tol * max(1.0, abs(ref))
    # The convenience wrappers return the same numbers as run().
    np.testing.assert_array_equal(m.keys(prompts, layer, sites), keys)
    np.testing.assert_array_equal(m.hidden(prompts, layer, sites), h1)
    np.testing.assert_array_equal(m.logprobs(prompts, queries), np.asarray(r["logprobs"]))


def test_ffn_output_replacement(reference, prompts):
    m = seqedit.Model(DEMO, dtype=np.float64)
    layer = 0
    w = m.ffn_output(layer)
    # W in the editors' orientation: GPT-2 stores Conv1D [d_k, d] = Wᵀ.
    stored = reference.P[f"transformer.h.{layer}.mlp.c_proj.weight"].double().numpy()
    np.testing.assert_array_equal(w, stored.T)
    sites = [(0, len(prompts[0]) - 1)]
    before = m.hidden(prompts, layer, sites)
    key = m.keys(prompts, layer, sites)
    delta = np.zeros_like(w)
    delta[:, 0] = 1.0
    m.set_ffn_output(layer, w + delta)
    after = m.hidden(prompts, layer, sites)
    # The block output moves by exactly ΔW k (the change enters only through the FFN output).
    np.testing.assert_allclose(after - before, delta @ key, rtol=0, atol=1e-12 * max(1.0, float(np.abs(key).max())))
    m.reset_ffn_output(layer)
    np.testing.assert_array_equal(m.hidden(prompts, layer, sites), before)


def test_errors(tmp_path, prompts):
    m = seqedit.Model(DEMO)
    with pytest.raises(ValueError, match="position|site|range"):
        m.keys(prompts, 0, [(0, 1000)])
    with pytest.raises(ValueError):
        m.keys(prompts, 99, [(0, 0)])
    with pytest.raises(ValueError):
        m.set_ffn_output(0, np.zeros((3, 3)))
    w = m.ffn_output(0)
    w[0, 0] = np.nan
    with pytest.raises(ValueError):
        m.set_ffn_output(0, w)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(seqedit.FormatError, match="config.json"):
        seqedit.Model(tmp_path)
    with pytest.raises((seqedit.IoError, seqedit.FormatError)):
        seqedit.Model(tmp_path / "missing")
