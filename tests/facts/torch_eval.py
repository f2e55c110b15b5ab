#!/usr/bin/python3
"""Independent PyTorch computation of the evaluation of pipeline.md §8 on a GPT-2 checkpoint,
for the fact pipeline's tests: every candidate is read teacher-forced in a full forward pass of
its own (torch_compute.GPT2), and the CounterFact and zsRE means are formed here.

    torch_eval.py CHECKPOINT_DIR IN.json OUT.json

IN.json (token ids, tokenized by the caller):
  "pairs": [[prefix, candidate], ...]
  "counterfact": [{"rewrite": ids, "paraphrase": [ids], "neighborhood": [ids], "new": ids, "true": ids}]
  "zsre": [{"rewrite": ids, "paraphrase": [ids], "neighborhood": [ids], "new": ids, "loc_ans": ids}]
OUT.json: "pairs": [{"nll": x, "argmax": [...]}], "counterfact": {...}, "zsre": {...} (×100).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_compute import GPT2  # noqa: E402

torch.set_num_threads(1)


def score(model, prefix, cand):
    ids = list(prefix) + list(cand[:-1])
    with torch.no_grad():
        logits, _, _ = model.forward(ids)
    lp = torch.log_softmax(logits.double(), -1)
    n = len(prefix)
    nll = -sum(lp[n - 1 + j, t].item() for j, t in enumerate(cand)) / len(cand)
    argmax = [int(torch.argmax(logits[n - 1 + j]).item()) for j in range(len(cand))]
    correct = sum(1 for a, t in zip(argmax, cand) if a == t)
    return nll, argmax, correct


def mean(xs):
    return 100.0 * sum(xs) / len(xs) if xs else 0.0


def counterfact(model, recs):
    eff, effm, effa, par, parm, para, nei, neim, neia = ([] for _ in range(9))
    for r in recs:
        def pair(p):
            nn, _, cn = score(model, p, r["new"])
            nt, _, ct = score(model, p, r["true"])
            return nn, nt, cn == len(r["new"]), ct == len(r["true"])
        nn, nt, an, _ = pair(r["rewrite"])
        eff.append(float(nn < nt))
        effm.append(math.exp(-nn) - math.exp(-nt))
        effa.append(float(an))
        if r["paraphrase"]:
            ps = [pair(p) for p in r["paraphrase"]]
            par.append(sum(float(a < b) for a, b, _, _ in ps) / len(ps))
            parm.append(sum(math.exp(-a) - math.exp(-b) for a, b, _, _ in ps) / len(ps))
            para.append(sum(float(x) for _, _, x, _ in ps) / len(ps))
        if r["neighborhood"]:
            ps = [pair(p) for p in r["neighborhood"]]
            nei.append(sum(float(b < a) for a, b, _, _ in ps) / len(ps))
            neim.append(sum(math.exp(-b) - math.exp(-a) for a, b, _, _ in ps) / len(ps))
            neia.append(sum(float(y) for _, _, _, y in ps) / len(ps))
    out = {"efficacy": mean(eff), "efficacy_magnitude": mean(effm), "efficacy_accuracy": mean(effa),
           "paraphrase": mean(par), "paraphrase_magnitude": mean(parm), "paraphrase_accuracy": mean(para),
           "neighborhood": mean(nei), "neighborhood_magnitude": mean(neim), "neighborhood_accuracy": mean(neia),
           "requests": len(eff)}
    a, b, c = out["efficacy"], out["paraphrase"], out["neighborhood"]
    out["score"] = 3.0 / (1 / a + 1 / b + 1 / c) if a > 0 and b > 0 and c > 0 else 0.0
    return out


def zsre(model, recs):
    rw, pa, ne = [], [], []

    def pooled(prompts, cand):
        correct = sum(score(model, p, cand)[2] for p in prompts)
        return correct / (len(prompts) * len(cand))
    for r in recs:
        rw.append(pooled([r["rewrite"]], r["new"]))
        if r["paraphrase"]:
            pa.append(pooled(r["paraphrase"], r["new"]))
        if r["neighborhood"] and r["loc_ans"]:
            ne.append(pooled(r["neighborhood"], r["loc_ans"]))
    return {"rewrite": mean(rw), "paraphrase": mean(pa), "neighborhood": mean(ne), "requests": len(rw)}


def main():
    ckpt, inp, outp = sys.argv[1:4]
    spec = json.load(open(inp))
    model = GPT2(ckpt)
    out = {"pairs": []}
    for p, c in spec.get("pairs", []):
        nll, argmax, _ = score(model, p, c)
        out["pairs"].append({"nll": nll, "argmax": argmax})
    out["counterfact"] = counterfact(model, spec.get("counterfact", []))
    out["zsre"] = zsre(model, spec.get("zsre", []))
    json.dump(out, open(outp, "w"))


if __name__ == "__main__":
    main()
