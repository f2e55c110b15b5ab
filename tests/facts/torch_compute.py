#!/usr/bin/python3
"""Independent PyTorch computation of MEMIT's compute_ks / compute_z (pipeline.md §4, §5) on a
GPT-2 checkpoint, for the fact pipeline's tests.

    torch_compute.py CHECKPOINT_DIR IN.json OUT.json

IN.json: {"layer": L, "key_layer": l, "target": [ids], "rows": [{"ids": [...], "s": pos}, ...],
"kl": {"ids": [...], "s": pos}, "groups": [n_0, n_1, ...] (templates per group, rows in order),
"hparams": {v_num_grad_steps, v_lr, v_weight_decay, kl_factor, clamp_norm_factor}}.
Rows are the prompts (without the target); the script appends target[:-1] itself, runs the
full forward pass every iteration as MEMIT does, with torch.optim.Adam on δ.
OUT.json: {"losses": [...], "z": [...], "h": [...], "key": [...]} (key: averaged as §4).
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info["dtype"]
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(info["shape"])
        out[name] = t
    return out


class GPT2:
    def __init__(self, ckpt):
        self.cfg = json.load(open(ckpt + "/config.json"))
        self.P = read_safetensors(ckpt + "/model.safetensors")

    def forward(self, ids, delta_layer=None, delta=None, site=None, capture_key_layer=None):
        """ids: 1-D token list. Returns (logits [T, V], block outputs before δ [list], keys)."""
        P, c = self.P, self.cfg
        d, H, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
        x = torch.tensor(ids)
        T = len(ids)
        h = P["transformer.wte.weight"][x] + P["transformer.wpe.weight"][:T]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        outs, key = [], None
        for i in range(c["n_layer"]):
            p = f"transformer.h.{i}."
            a = F.layer_norm(h, (d,), P[p + "ln_1.weight"], P[p + "ln_1.bias"], eps)
            qkv = a @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]
            q, k, v = qkv.split(d, dim=1)
            q = q.view(T, H, d // H).transpose(0, 1)
            k = k.view(T, H, d // H).transpose(0, 1)
            v = v.view(T, H, d // H).transpose(0, 1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(0, 1).reshape(T, d)
            h = h + y @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"]
            m = F.layer_norm(h, (d,), P[p + "ln_2.weight"], P[p + "ln_2.bias"], eps)
            m = m @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"]
            m = 0.5 * m * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (m + 0.044715 * torch.pow(m, 3.0))))
            if capture_key_layer == i:
                key = m
            h = h + m @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"]
            outs.append(h)
            if delta_layer == i:
                onehot = torch.zeros(T, 1)
                onehot[site, 0] = 1.0
                h = h + onehot * delta.unsqueeze(0)
        h = F.layer_norm(h, (d,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], eps)
        return h @ P["transformer.wte.weight"].t(), outs, key


def compute(model, spec):
    """compute_ks (when spec has key_layer) and compute_z of one request; the dict of OUT.json."""
    hp = spec["hparams"]
    L = spec["layer"]
    target = spec["target"]
    rows = [r["ids"] + target[:-1] for r in spec["rows"]]
    sites = [r["s"] for r in spec["rows"]]
    kl_ids, kl_site = spec["kl"]["ids"], spec["kl"]["s"]
    d = model.cfg["n_embd"]

    # keys (§4): average within groups, then over groups
    key = None
    if "key_layer" in spec:
        ks = []
        for r in spec["rows"]:
            _, _, k = model.forward(r["ids"], capture_key_layer=spec["key_layer"])
            ks.append(k[r["s"]])
        pos, groups = 0, []
        for n in spec["groups"]:
            groups.append(torch.stack(ks[pos:pos + n]).mean(0))
            pos += n
        key = torch.stack(groups).mean(0)

    delta = torch.zeros(d, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=hp["v_lr"])
    target_init, kl_init = None, None
    losses = []
    for it in range(hp["v_num_grad_steps"]):
        opt.zero_grad()
        nll_rows = []
        for ids, s, r in zip(rows, sites, spec["rows"]):
            logits, outs, _ = model.forward(ids, L, delta, s)
            if target_init is None:
                target_init = outs[L][s].detach().clone()
            lp = torch.log_softmax(logits, -1)
            P0 = len(r["ids"])
            nll_rows.append(-sum(lp[P0 - 1 + j, t] for j, t in enumerate(target)) / len(target))
        logits, _, _ = model.forward(kl_ids, L, delta, kl_site)
        kl_lp = torch.log_softmax(logits[kl_site], -1)
        if kl_init is None:
            kl_init = kl_lp.detach().clone()
        kl = hp["kl_factor"] * F.kl_div(kl_init, kl_lp, log_target=True, reduction="sum")
        nll = torch.stack(nll_rows).mean()
        decay = hp["v_weight_decay"] * (torch.norm(delta) / torch.norm(target_init) ** 2)
        loss = nll + kl + decay
        losses.append(loss.item())
        if loss.item() < 5e-2:
            break
        if it == hp["v_num_grad_steps"] - 1:
            break
        loss.backward()
        opt.step()
        max_norm = hp["clamp_norm_factor"] * target_init.norm()
        if delta.norm() > max_norm:
            with torch.no_grad():
                delta[...] = delta * max_norm / delta.norm()
    out = {"losses": losses, "z": (target_init + delta).tolist(), "h": target_init.tolist()}
    if key is not None:
        out["key"] = key.tolist()
    return out


def main():
    ckpt, inp, outp = sys.argv[1:4]
    spec = json.load(open(inp))
    json.dump(compute(GPT2(ckpt), spec), open(outp, "w"))


if __name__ == "__main__":
    main()
