#!/usr/bin/python3
"""Train the demo language model of the fact pipeline: a small GPT-2 on a world of facts.

No pretrained weights are needed: the script builds a deterministic world (synthetic countries and
people with relations such as capital, official language, occupation), trains a byte-level BPE
tokenizer on sentences about it, trains a GPT-2-family model (Hugging Face `gpt2` layout: Conv1D
tensors stored [in, out], learned positions, tied LM head, gelu_new) until it knows its facts, and
writes a complete checkpoint folder:

    config.json  tokenizer.json  vocab.json  merges.txt  model.safetensors
    requests.json (CounterFact format)  corpus.txt  train_report.json

Everything is seeded; the run uses one thread (--threads, and one OpenBLAS thread).  Usage:

    /usr/bin/python3 examples/facts/train_demo_model.py [--out DIR] [--steps N]

Only Debian's python3-torch and the standard library are used (safetensors are written by a small
writer below: an 8-byte little-endian header length, a JSON header, then the raw tensor bytes).
"""

import argparse
import collections
import json
import math
import os
import random
import re
import struct
import sys
import time

# One BLAS thread (torch's own thread setting does not reach a system OpenBLAS): the fastest for a
# model this small, and the same summation order, hence the same checkpoint, on every run.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F

SEED = 20240607

# ------------------------------------------------------------------------------------------ world

SYLLABLES = ["ka", "lo", "mir", "ten", "va", "dor", "sel", "qui", "ra", "bel", "nor", "tis", "gan",
             "fe", "lu", "mar", "os", "pel", "zan", "ri", "cor", "den", "al", "vik", "sto", "han",
             "ul", "ber", "mo", "tra", "en", "sa", "gor", "li", "wen", "pra"]

LANGUAGES = ["French", "Spanish", "German", "Italian", "Polish", "Dutch", "Greek", "Swedish",
             "Turkish", "Finnish", "Danish", "Czech"]
CONTINENTS = ["Europe", "Asia", "Africa", "Oceania", "Antarctica", "America"]
OCCUPATIONS = ["painter", "lawyer", "physicist", "farmer", "pilot", "teacher", "chemist", "poet",
               "surgeon", "sculptor", "banker", "journalist"]
INSTRUMENTS = ["piano", "violin", "guitar", "flute", "cello", "trumpet", "harp", "drums", "oboe",
               "clarinet"]

# relation -> (subject kind, training templates, held-out templates).  The first training template
# is the request prompt; the held-out templates never occur in training and are the requests'
# paraphrase prompts.  Every template has exactly one "{}".  Several phrasings per relation, the
# subject at different places, and every fact stated in biographies of shuffled sentences with the
# full name in each: without such variety a small model keys an attribute on the whole prompt at
# the answer position, and its value cannot be read (or edited) at the subject's tokens
# (Allen-Zhu and Li, "Physics of Language Models, Part 3.1: Knowledge Storage and Extraction").
RELATIONS = {
    "capital": ("country",
                ["The capital of {} is", "{} has its capital in", "The seat of government of {} is",
                 "In {}, the capital is", "{} is governed from", "The largest city of {} is"],
                ["The capital city of {} is", "The government of {} sits in"]),
    "country_language": ("country",
                         ["The official language of {} is", "{} has the official language",
                          "In {}, people speak", "Most people in {} speak", "The language of {} is",
                          "{} is a country where people speak"],
                         ["People in {} speak", "The main language spoken in {} is"]),
    "occupation": ("person",
                   ["{} works as a", "{} is a professional", "The job of {} is", "By trade, {} is a",
                    "{} earns a living as a", "Everyone knows {} as a"],
                   ["By profession, {} is a", "The occupation of {} is"]),
    "instrument": ("person",
                   ["{} plays the", "The instrument of {} is the", "{} is a musician who plays the",
                    "On stage, {} plays the", "{} practises the", "The favourite instrument of {} is the"],
                   ["The instrument {} plays is the", "{} performs music on the"]),
    "native_language": ("person",
                        ["The mother tongue of {} is", "{} grew up speaking", "{} is a native speaker of",
                         "The first language of {} is", "At home, {} speaks", "{} was raised speaking"],
                        ["The native language of {} is", "Since childhood, {} has spoken"]),
}
# Relations used for counterfactual requests (many subjects share each object, so every request
# has neighbourhood prompts: other subjects with the same true object).
REQUEST_RELATIONS = ["country_language", "occupation", "instrument", "native_language"]


def make_name(rng, used, parts):
    while True:
        name = "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()
        if name not in used and len(name) >= 4:
            used.add(name)
            return name


def build_world(rng, n_countries, n_people):
    used = set(LANGUAGES) | set(CONTINENTS)
    countries = [make_name(rng, used, rng.choice([2, 3])) for _ in range(n_countries)]
    cities = [make_name(rng, used, rng.choice([2, 3])) for _ in range(n_countries)]
    people = []
    for _ in range(n_people):
        first = make_name(rng, used, 2)
        last = make_name(rng, used, rng.choice([2, 3]))
        people.append(first + " " + last)
    facts = []  # (relation, subject, object)
    for c, city in zip(countries, cities):
        facts.append(("capital", c, city))
        facts.append(("country_language", c, rng.choice(LANGUAGES)))
    for p in people:
        facts.append(("occupation", p, rng.choice(OCCUPATIONS)))
        facts.append(("instrument", p, rng.choice(INSTRUMENTS)))
        facts.append(("native_language", p, rng.choice(LANGUAGES)))
    return countries, cities, people, facts


def sentence(template, subject, obj):
    return template.format(subject) + " " + obj + "."


def biography(rng, subject_facts):
    """Every fact of one subject, in shuffled order, each in a random training template."""
    fs = list(subject_facts)
    rng.shuffle(fs)
    return " ".join(sentence(rng.choice(RELATIONS[rel][1]), s, o) for rel, s, o in fs)


def make_document(rng, by_subject, subjects, max_biographies):
    """One to `max_biographies` biographies of random subjects, one after the other."""
    k = rng.randint(1, max_biographies)
    return " ".join(biography(rng, by_subject[rng.choice(subjects)]) for _ in range(k))


# -------------------------------------------------------------------------- byte-level BPE (GPT-2)

def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs])), bs


# GPT-2's pre-tokenizer regex restricted to ASCII (\p{L} -> [A-Za-z], \p{N} -> [0-9]); the corpus
# is ASCII (checked), where both agree.  tokenizer.json declares the full GPT-2 regex (use_regex).
PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


class ByteLevelBPE:
    def __init__(self, merges, vocab):
        self.byte_map, _ = bytes_to_unicode()
        self.merges = merges
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.vocab = vocab
        self.cache = {}

    @staticmethod
    def train(texts, n_merges):
        byte_map, byte_order = bytes_to_unicode()
        words = collections.Counter()
        for t in texts:
            assert all(ord(ch) < 128 for ch in t), "the corpus must be ASCII"
            for w in PRETOKENIZE.findall(t):
                words["".join(byte_map[b] for b in w.encode("utf-8"))] += 1
        seqs = {w: list(w) for w in words}
        merges = []
        for _ in range(n_merges):
            pairs = collections.Counter()
            for w, c in words.items():
                s = seqs[w]
                for a, b in zip(s, s[1:]):
                    pairs[(a, b)] += c
            if not pairs:
                break
            # most frequent pair; ties broken by the pair itself (deterministic)
            best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            if pairs[best] < 2:
                break
            merges.append(best)
            joined = best[0] + best[1]
            for w in words:
                s = seqs[w]
                i, out = 0, []
                while i < len(s):
                    if i + 1 < len(s) and s[i] == best[0] and s[i + 1] == best[1]:
                        out.append(joined)
                        i += 2
                    else:
                        out.append(s[i])
                        i += 1
                seqs[w] = out
        vocab = {}
        for b in byte_order:
            vocab[byte_map[b]] = len(vocab)
        for a, b in merges:
            vocab[a + b] = len(vocab)
        return ByteLevelBPE(merges, vocab)

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            best, best_rank = None, None
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            a, b = parts[best], parts[best + 1]
            i, out = 0, []
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        self.cache[word] = parts
        return parts

    def encode(self, text):
        ids = []
        for w in PRETOKENIZE.findall(text):
            mapped = "".join(self.byte_map[b] for b in w.encode("utf-8"))
            ids.extend(self.vocab[p] for p in self.bpe(mapped))
        return ids


def tokenizer_json(tok, eos_id):
    vocab = dict(tok.vocab)
    vocab["<|endoftext|>"] = eos_id
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eos_id, "content": "<|endoftext|>", "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab,
                  "merges": [a + " " + b for a, b in tok.merges]},
    }


# ------------------------------------------------------------------------------------ GPT-2 model

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2(torch.nn.Module):
    """GPT-2 with Hugging Face's parameter names and Conv1D ([in, out]) weight layout."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, inner, V, T = cfg["n_embd"], cfg["n_inner"], cfg["vocab_size"], cfg["n_positions"]
        p = {}
        p["transformer.wte.weight"] = torch.randn(V, d) * 0.02
        p["transformer.wpe.weight"] = torch.randn(T, d) * 0.01
        proj_std = 0.02 / math.sqrt(2 * cfg["n_layer"])
        for i in range(cfg["n_layer"]):
            h = f"transformer.h.{i}."
            p[h + "ln_1.weight"] = torch.ones(d)
            p[h + "ln_1.bias"] = torch.zeros(d)
            p[h + "attn.c_attn.weight"] = torch.randn(d, 3 * d) * 0.02
            p[h + "attn.c_attn.bias"] = torch.zeros(3 * d)
            p[h + "attn.c_proj.weight"] = torch.randn(d, d) * proj_std
            p[h + "attn.c_proj.bias"] = torch.zeros(d)
            p[h + "ln_2.weight"] = torch.ones(d)
            p[h + "ln_2.bias"] = torch.zeros(d)
            p[h + "mlp.c_fc.weight"] = torch.randn(d, inner) * 0.02
            p[h + "mlp.c_fc.bias"] = torch.zeros(inner)
            p[h + "mlp.c_proj.weight"] = torch.randn(inner, d) * proj_std
            p[h + "mlp.c_proj.bias"] = torch.zeros(d)
        p["transformer.ln_f.weight"] = torch.ones(d)
        p["transformer.ln_f.bias"] = torch.zeros(d)
        self.names = list(p.keys())
        self.params = torch.nn.ParameterList([torch.nn.Parameter(v) for v in p.values()])

    def tensors(self):
        return dict(zip(self.names, self.params))

    def forward(self, ids):
        P = self.tensors()
        cfg = self.cfg
        B, T = ids.shape
        d, H = cfg["n_embd"], cfg["n_head"]
        eps = cfg["layer_norm_epsilon"]
        x = P["transformer.wte.weight"][ids] + P["transformer.wpe.weight"][:T]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for i in range(cfg["n_layer"]):
            h = f"transformer.h.{i}."
            a = F.layer_norm(x, (d,), P[h + "ln_1.weight"], P[h + "ln_1.bias"], eps)
            qkv = a @ P[h + "attn.c_attn.weight"] + P[h + "attn.c_attn.bias"]
            q, k, v = qkv.split(d, dim=2)
            q = q.view(B, T, H, d // H).transpose(1, 2)
            k = k.view(B, T, H, d // H).transpose(1, 2)
            v = v.view(B, T, H, d // H).transpose(1, 2)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, d)
            x = x + y @ P[h + "attn.c_proj.weight"] + P[h + "attn.c_proj.bias"]
            m = F.layer_norm(x, (d,), P[h + "ln_2.weight"], P[h + "ln_2.bias"], eps)
            m = gelu_new(m @ P[h + "mlp.c_fc.weight"] + P[h + "mlp.c_fc.bias"])
            x = x + m @ P[h + "mlp.c_proj.weight"] + P[h + "mlp.c_proj.bias"]
        x = F.layer_norm(x, (d,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], eps)
        return x @ P["transformer.wte.weight"].t()


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: u64 header size, JSON header (padded with spaces to 8 bytes),
    raw little-endian float32 data in header order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------- training

def batches(rng, sample_text, tok, batch, T, pad_id):
    """Endless batches of freshly sampled training texts (each ends with the EOS token)."""
    while True:
        chosen = [tok.encode(sample_text(rng)) + [pad_id] for _ in range(batch)]
        L = min(T, max(len(c) for c in chosen))
        x = torch.full((batch, L), pad_id, dtype=torch.long)
        m = torch.zeros(batch, L, dtype=torch.bool)
        for i, c in enumerate(chosen):
            c = c[:L]
            x[i, :len(c)] = torch.tensor(c)
            m[i, :len(c)] = True
        yield x, m


@torch.no_grad()
def fact_accuracy(model, tok, prompts, batch=256):
    """Teacher-forced top-1: every target token must be the argmax after its prefix."""
    correct = 0
    for s in range(0, len(prompts), batch):
        chunk = prompts[s:s + batch]
        rows, spans = [], []
        for prompt, target in chunk:
            p = tok.encode(prompt)
            t = tok.encode(" " + target)
            rows.append(p + t)
            spans.append((len(p), len(t)))
        L = max(len(r) for r in rows)
        x = torch.zeros(len(rows), L, dtype=torch.long)
        for i, r in enumerate(rows):
            x[i, :len(r)] = torch.tensor(r)
        pred = model(x).argmax(-1)
        for i, (lp, lt) in enumerate(spans):
            ok = all(pred[i, lp - 1 + j].item() == rows[i][lp + j] for j in range(lt))
            correct += int(ok)
    return correct / len(prompts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "demo_model"))
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--countries", type=int, default=30)
    ap.add_argument("--people", type=int, default=220)
    ap.add_argument("--requests", type=int, default=240)
    ap.add_argument("--merges", type=int, default=500)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--n-inner", type=int, default=512)
    # One intra-op thread is fastest for a model this small (and far faster on a busy machine:
    # the threads of a parallel region wait for each other at every operation).
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    t0 = time.time()

    countries, cities, people, facts = build_world(rng, args.countries, args.people)
    by_subject = collections.defaultdict(list)
    for f in facts:
        by_subject[f[1]].append(f)
    subjects = countries + people
    prompts = [(tpl.format(s), o) for rel, s, o in facts for tpl in RELATIONS[rel][1]]
    held_out = [(tpl.format(s), o) for rel, s, o in facts for tpl in RELATIONS[rel][2]]
    # the tokenizer sees every fact in every training template once, and 300 biographies
    singles = [sentence(tpl, s, o) for rel, s, o in facts for tpl in RELATIONS[rel][1]]
    docs = [make_document(rng, by_subject, subjects, 2) for _ in range(300)]

    tok = ByteLevelBPE.train(singles + docs, n_merges=args.merges)
    print(json.dumps({"phase": "tokenizer", "merges": len(tok.merges),
                      "seconds": round(time.time() - t0, 1)}), flush=True)
    eos_id = len(tok.vocab)
    vocab_size = eos_id + 1

    cfg = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab_size,
        "n_positions": 128,
        "n_ctx": 128,
        "n_embd": args.n_embd,
        "n_layer": args.n_layer,
        "n_head": 4,
        "n_inner": args.n_inner,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "initializer_range": 0.02,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    model = GPT2(cfg)
    T = 96

    def sample_text(r):
        # a quarter single sentences (one fact in one training template), the rest documents of
        # one or two biographies; each is sampled afresh, so no two epochs see the same texts
        if r.random() < 0.25:
            rel, s, o = r.choice(facts)
            return sentence(r.choice(RELATIONS[rel][1]), s, o)
        return make_document(r, by_subject, subjects, 2)

    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = 50
    gen = batches(rng, sample_text, tok, 32, T, eos_id)
    acc = acc_held_out = 0.0
    log = []
    for step in range(1, args.steps + 1):
        lr = 5e-3 * min(1.0, step / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, m = next(gen)
        logits = model(x[:, :-1])
        tgt = x[:, 1:].masked_fill(~m[:, 1:], -100)
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), tgt.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0:
            print(json.dumps({"step": step, "loss": round(loss.item(), 4),
                              "seconds": round(time.time() - t0, 1)}), flush=True)
        if step % 100 == 0 or step == args.steps:
            acc = fact_accuracy(model, tok, prompts)
            acc_held_out = fact_accuracy(model, tok, held_out)
            log.append({"step": step, "loss": round(loss.item(), 4), "top1": round(acc, 4),
                        "top1_held_out": round(acc_held_out, 4),
                        "seconds": round(time.time() - t0, 1)})
            print(json.dumps(log[-1]), flush=True)
            if acc >= 0.985:
                break

    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), model.tensors(),
                      {"format": "pt"})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(tok, eos_id), f, ensure_ascii=False)
    vocab = dict(tok.vocab)
    vocab["<|endoftext|>"] = eos_id
    with open(os.path.join(args.out, "vocab.json"), "w") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(args.out, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
        for a, b in tok.merges:
            f.write(a + " " + b + "\n")

    # requests in CounterFact format: a new object for a known fact, its paraphrases, and up to
    # ten neighbourhood prompts (other subjects whose true object is the same)
    by_object = collections.defaultdict(list)
    for rel, s, o in facts:
        by_object[(rel, o)].append(s)
    values = {"country_language": LANGUAGES, "occupation": OCCUPATIONS,
              "instrument": INSTRUMENTS, "native_language": LANGUAGES}
    candidates = [f for f in facts if f[0] in REQUEST_RELATIONS]
    rrng = random.Random(SEED + 1)
    rrng.shuffle(candidates)
    requests = []
    # one request per subject: requests on one subject share their key (the subject's last
    # token), so a later one would overwrite an earlier one in any key-value editor
    edited = set()
    for rel, s, o in candidates:
        if len(requests) == args.requests:
            break
        if s in edited:
            continue
        edited.add(s)
        new = rrng.choice([v for v in values[rel] if v != o])
        tpls = RELATIONS[rel][1]
        paraphrases = RELATIONS[rel][2]
        neighbours = [n for n in by_object[(rel, o)] if n != s]
        rrng.shuffle(neighbours)
        requests.append({
            "case_id": len(requests),
            "requested_rewrite": {
                "prompt": tpls[0], "subject": s, "relation_id": rel,
                "target_new": {"str": new, "id": rel + ":" + new},
                "target_true": {"str": o, "id": rel + ":" + o},
            },
            "paraphrase_prompts": [t.format(s) for t in paraphrases],
            "neighborhood_prompts": [tpls[0].format(n) for n in neighbours[:10]],
            "generation_prompts": [],
        })
    if len(requests) < args.requests:
        sys.exit(f"only {len(requests)} subjects for {args.requests} requests (one per subject)")
    with open(os.path.join(args.out, "requests.json"), "w") as f:
        json.dump(requests, f, indent=1)
        f.write("\n")

    crng = random.Random(SEED + 2)
    with open(os.path.join(args.out, "corpus.txt"), "w") as f:
        for _ in range(2000):
            f.write(make_document(crng, by_subject, subjects, 3) + "\n")

    report = {"seed": SEED, "steps": log[-1]["step"], "top1_training_prompts": acc,
              "n_training_prompts": len(prompts), "top1_held_out_prompts": acc_held_out,
              "n_held_out_prompts": len(held_out), "n_embd": args.n_embd, "n_inner": args.n_inner,
              "n_layer": args.n_layer, "threads": args.threads, "n_facts": len(facts),
              "vocab_size": vocab_size, "n_merges": len(tok.merges),
              "parameters": sum(p.numel() for p in model.parameters()),
              "seconds": round(time.time() - t0, 1), "torch": torch.__version__, "log": log}
    with open(os.path.join(args.out, "train_report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in report.items() if k != "log"}))
    if acc < 0.95:
        print("top-1 on the training prompts is below 0.95", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
