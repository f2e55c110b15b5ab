"""`seqedit tokenize` against the reference: every text line without a line break, fed on
standard input, gives the reference ids (tokenizer.json and GPT-2's vocab.json +
merges.txt); --decode of the reference ids gives the reference text; invalid UTF-8 on a
line is an error naming the line.

    python3 cli_check.py <seqedit executable> <reference folder> <texts.jsonl>
"""
import json
import subprocess
import sys

exe, ref_dir, texts_path = sys.argv[1:4]
texts = [json.loads(l) for l in open(texts_path, encoding="utf-8") if l.strip()]
keep = [i for i, t in enumerate(texts) if "\n" not in t and "\r" not in t]
failures = 0


def run(args, stdin):
    p = subprocess.run([exe, "tokenize", *args], input=stdin, capture_output=True)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


for name, source in (("llama3_bos", ["--tokenizer", f"{ref_dir}/llama3_bos.tokenizer.json"]),
                     ("gpt2", ["--model", f"{ref_dir}/gpt2_legacy"]),
                     ("llama2", ["--tokenizer", f"{ref_dir}/llama2.tokenizer.json"])):
    ref = json.load(open(f"{ref_dir}/{name}.ref.json", encoding="utf-8"))["lines"]
    stdin = "".join(texts[i] + "\n" for i in keep).encode("utf-8")
    rc, out, err = run(source, stdin)
    got = out.split("\n")[:-1]
    if rc != 0 or len(got) != len(keep):
        print(f"{name}: exit {rc}, {len(got)} lines for {len(keep)}: {err}")
        failures += 1
        continue
    bad = [i for i, g in zip(keep, got) if [int(x) for x in g.split()] != ref[i]["ids"]]
    ids_in = "".join(" ".join(map(str, ref[i]["ids"])) + "\n" for i in keep).encode()
    rc, out, err = run(source + ["--decode"], ids_in)
    dec = out.split("\n")[:-1]
    bad_dec = [i for i, g in zip(keep, dec) if g != ref[i]["decoded"]] if rc == 0 else keep
    print(f"{name}: {len(keep)} lines, {len(bad)} id mismatches, {len(bad_dec)} decode mismatches")
    for i in (bad + bad_dec)[:5]:
        print(f"  line {i + 1}: {texts[i]!r}")
    failures += len(bad) + len(bad_dec)

rc, out, err = run(["--model", f"{ref_dir}/gpt2_legacy"], b"fine\nbad \xff byte\n")
if rc != 2 or "line 2: " not in err or "invalid UTF-8 at byte offset 4" not in err:
    print(f"invalid UTF-8: exit {rc}, stderr {err!r}")
    failures += 1
sys.exit(1 if failures else 0)
