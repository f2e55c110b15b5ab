// The JavaScript side of bench_text: encode throughput of @huggingface/tokenizers.
//   node bench_tokenize.mjs <node_modules> <tokenizer.json> <chunks file (records separated by U+001E)>
// Prints one JSON line: {"bytes": N, "seconds": CPU seconds of the process (all threads,
// garbage collection included), best of 2 timed passes, "mb_per_s": ..., "wall_seconds": ..., "tokens": ...}
import fs from "node:fs";
import path from "node:path";

const [nodeModules, tokenizerPath, chunksPath] = process.argv.slice(2);
const { Tokenizer } = await import(path.join(path.resolve(nodeModules), "@huggingface/tokenizers/dist/tokenizers.mjs"));
const tok = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerPath, "utf8")), {});
const chunks = fs.readFileSync(chunksPath, "utf8").split("\u001e").filter((c) => c.length > 0);
const bytes = chunks.reduce((n, c) => n + Buffer.byteLength(c, "utf8"), 0);
// Warm-up on the first tenth (JIT, word cache), then two timed passes over everything.
for (let i = 0; i < chunks.length / 10; ++i) tok.encode(chunks[i]);
let best = Infinity;
let wall = Infinity;
let tokens = 0;
for (let pass = 0; pass < 2; ++pass) {
  const w0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let n = 0;
  for (const c of chunks) n += tok.encode(c).ids.length;
  const cu = process.cpuUsage(c0);
  best = Math.min(best, (cu.user + cu.system) / 1e6);
  wall = Math.min(wall, Number(process.hrtime.bigint() - w0) / 1e9);
  tokens = n;
}
console.log(JSON.stringify({ bytes, seconds: best, mb_per_s: bytes / 1e6 / best, wall_seconds: wall, tokens }));
