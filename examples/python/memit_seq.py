#!/usr/bin/env python3
"""Sequential MEMIT on a small PyTorch model, with seqedit's editor in place of the
per-step ``torch.linalg.solve`` of the reference code; then a retraction and a resume from a
saved state.

The model is a one-block toy language model (embedding, one MLP block with a residual
connection, tied unembedding). A "fact" maps a subject token to an object token. For each
batch of facts, as in MEMIT (math.md section 2, pipeline.md):

* keys K: the MLP's inner activation at the subject (a forward hook on ``fc_out``'s input);
* values V: the wanted ``fc_out`` outputs, W K + delta with delta optimised by a few Adam
  steps so that the model predicts the new object;
* the update of ``fc_out.weight`` (nn.Linear: stored [d_v, d_k] = W, the math orientation).

The reference loop (MEMIT with a history cache) re-solves the d_k x d_k system
lambda C0 + sum K_s K_s^T from scratch every step with torch.linalg.solve; seqedit keeps its
inverse current in O(d_k^2 n) per step. The program checks that both give the same weights
(float64, relative 1e-10), that the edits work, that a retraction equals the one-time edit of
the remaining facts, and that a state saved and loaded continues bit for bit.

Exit status 0 when every check passes.  ``--quick`` runs a smaller problem.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

import seqedit


class ToyLM(torch.nn.Module):
    def __init__(self, vocab, d_model, d_ff):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d_model)
        self.ln = torch.nn.LayerNorm(d_model)
        self.fc_in = torch.nn.Linear(d_model, d_ff)
        self.fc_out = torch.nn.Linear(d_ff, d_model, bias=False)  # the edited matrix W (d_v x d_k)

    def hidden(self, tokens, layer_delta=None):
        x = self.emb(tokens)
        out = self.fc_out(torch.nn.functional.gelu(self.fc_in(self.ln(x))))
        if layer_delta is not None:
            out = out + layer_delta
        return x + out

    def forward(self, tokens, layer_delta=None):
        return self.hidden(tokens, layer_delta) @ self.emb.weight.T


def keys_of(model, tokens):
    """fc_out's input at each token: K (d_k x n), captured by a forward hook."""
    seen = []
    h = model.fc_out.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    with torch.no_grad():
        model(tokens)
    h.remove()
    return seen[0].T.contiguous()


def value_shifts(model, subjects, objects, steps=60):
    """delta (d_v x n) added to fc_out's output so the model predicts `objects` (MEMIT's z)."""
    delta = torch.zeros(len(subjects), model.fc_out.out_features, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        logp = torch.log_softmax(model(subjects, delta), dim=-1)
        loss = -logp[torch.arange(len(subjects)), objects].mean() + 1e-3 * (delta ** 2).sum(dim=1).mean()
        loss.backward()
        opt.step()
    return delta.detach().T


def efficacy(model, subjects, objects):
    with torch.no_grad():
        return float((model(subjects).argmax(dim=-1) == objects).double().mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small problem (the CTest smoke test)")
    args = ap.parse_args()
    torch.manual_seed(0)
    vocab, d_model, d_ff = (96, 24, 96) if args.quick else (512, 64, 512)
    n_batch, steps = (6, 5) if args.quick else (16, 10)
    lam = 4.0
    model = ToyLM(vocab, d_model, d_ff).double()
    W = model.fc_out.weight  # d_v x d_k

    # Retention statistics C0 = E[k k^T] over "corpus" tokens (math.md section 10).
    corpus = torch.randint(0, vocab, (20 * d_ff,))
    kc = keys_of(model, corpus)
    C0 = (kc @ kc.T / kc.shape[1]).numpy()

    # Facts: distinct subjects, new objects.
    perm = torch.randperm(vocab)
    subjects = perm[: n_batch * (steps + 1)]
    objects = torch.randint(0, vocab, (len(subjects),))
    batches = [(subjects[i * n_batch:(i + 1) * n_batch], objects[i * n_batch:(i + 1) * n_batch])
               for i in range(steps + 1)]
    original = model(subjects).argmax(dim=-1).detach()

    W0 = W.detach().clone()
    ed = seqedit.SequentialEditor(W0, C0, seqedit.Objective.memit(lam))  # torch in -> torch out
    K_all, V_all = [], []
    t_seqedit = t_torch = 0.0
    worst = 0.0
    ids = []
    for t, (subj, obj) in enumerate(batches[:steps]):
        K = keys_of(model, subj)
        V = W.detach() @ K + value_shifts(model, subj, obj)
        K_all.append(K)
        V_all.append(V)
        t0 = time.perf_counter()
        ids.append(ed.apply(K, V))
        t_seqedit += time.perf_counter() - t0
        # The reference: solve the aligned system from scratch (MEMIT with history cache).
        t0 = time.perf_counter()
        Ks, Vs = torch.cat(K_all, 1), torch.cat(V_all, 1)
        A = lam * torch.from_numpy(C0) + Ks @ Ks.T
        ref = torch.linalg.solve(A, (Ks @ (Vs - W0 @ Ks).T)).T
        t_torch += time.perf_counter() - t0
        err = float(torch.linalg.norm(ed.cumulative_update() - ref) / torch.linalg.norm(ref))
        worst = max(worst, err)
        with torch.no_grad():
            W.copy_(ed.weights)
    eff = efficacy(model, subjects[: n_batch * steps], objects[: n_batch * steps])
    # Both sides carry round-off of order cond(A) * eps (the reference's LU as much as the
    # editor's updated inverse); the bound allows a few hundred times that.
    cond = float(torch.linalg.cond(lam * torch.from_numpy(C0) + Ks @ Ks.T))
    tol = max(1e-10, 500 * cond * float(np.finfo(np.float64).eps))
    print(f"{steps} steps of {n_batch} edits, d_k = {d_ff}, d_v = {d_model}: efficacy {eff:.3f}; "
          f"max |D_t - D*_t| / |D*_t| = {worst:.2e} (cond(A) = {cond:.1e}, bound {tol:.1e}); "
          f"seqedit {1e3 * t_seqedit:.1f} ms, per-step torch.linalg.solve {1e3 * t_torch:.1f} ms")
    ok = worst <= tol and eff >= 0.9

    # Retract batch 2: exactly the one-time edit of the other batches.
    ed.retract(ids[2])
    keep = [i for i in range(steps) if i != 2]
    Ks, Vs = torch.cat([K_all[i] for i in keep], 1), torch.cat([V_all[i] for i in keep], 1)
    ref = torch.linalg.solve(lam * torch.from_numpy(C0) + Ks @ Ks.T, Ks @ (Vs - W0 @ Ks).T).T
    err_r = float(torch.linalg.norm(ed.cumulative_update() - ref) / torch.linalg.norm(ref))
    with torch.no_grad():
        W.copy_(ed.weights)
    s2, _ = batches[2]
    back = efficacy(model, s2, original[2 * n_batch:3 * n_batch])
    print(f"retracted batch 2: |D - D*(remaining)| / |D*| = {err_r:.2e}; "
          f"{back:.3f} of its subjects predict their original object again")
    ok = ok and err_r <= tol and back >= 0.5

    # Save, load (as a new process would) and continue: bit-identical to continuing here.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fc_out.state.safetensors")
        seqedit.save_state(ed, path, {"example": "memit_seq"})
        resumed = seqedit.load_state(path, output="torch")
        subj, obj = batches[steps]
        K = keys_of(model, subj)
        V = W.detach() @ K + value_shifts(model, subj, obj)
        ed.apply(K, V)
        resumed.apply(K, V)
        same = bool(torch.equal(resumed.weights, ed.weights))
        print(f"resumed from {os.path.basename(path)} ({os.path.getsize(path)} bytes): "
              f"{resumed.steps} steps, {len(resumed.journal)} live edits, weights bit-identical: {same}")
        ok = ok and same
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
