// Agreement with the reference implementation: every line of tests/text/data/texts.jsonl
// through every tokenizer written by tests/text/reference/encode.mjs must give the
// reference's ids (with and without special tokens) and its decoded text (with and
// without skipping special tokens). The reference data are made once per CTest run by
// the fixture text_reference_encode; without them these tests fail.
#include <seqedit/io/detail/json.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

namespace {

using seqedit::text::Tokenizer;
using json = nlohmann::json;

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) FAIL("environment variable " << name << " is not set (run the tests through CTest)");
  return v;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) FAIL("cannot read " << path << " (the reference fixture did not run or failed)");
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

json read_json(const std::string& path) {
  const std::string s = slurp(path);
  return seqedit::io::detail::parse_json_strict(s.data(), s.data() + s.size(), path, "reference");
}

std::vector<std::string> read_texts() {
  const std::string path = env_or_fail("SEQEDIT_TEXT_TEXTS");
  std::istringstream in(slurp(path));
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) texts.push_back(json::parse(line).get<std::string>());
  REQUIRE(texts.size() >= 300);
  return texts;
}

std::string ids_str(const std::vector<std::int32_t>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s + "]";
}

struct Tally {
  std::size_t compared = 0, mismatched = 0;
  std::string report;
  void add(std::size_t line, const std::string& what, const std::string& ours, const std::string& ref) {
    ++mismatched;
    if (mismatched <= 10)
      report += "line " + std::to_string(line + 1) + " " + what + ":\n  seqedit:   " + ours + "\n  reference: " + ref + "\n";
  }
};

/// Compares one tokenizer on every line; returns the number of lines compared.
std::size_t compare(const Tokenizer& tok, const json& ref, const std::vector<std::string>& texts, bool full) {
  const json& lines = ref.at("lines");
  REQUIRE(lines.size() == texts.size());
  Tally t;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const json& r = lines[i];
    if (r.is_null()) continue;  // not encodable by this reference (see encode.mjs)
    ++t.compared;
    const auto ids = tok.encode_ids(texts[i], true);
    const auto ref_ids = r.at("ids").get<std::vector<std::int32_t>>();
    if (ids != ref_ids) t.add(i, "ids", ids_str(ids), ids_str(ref_ids));
    const std::string decoded = ref_ids.empty() ? std::string() : tok.decode(ref_ids, false);
    if (decoded != r.at("decoded").get<std::string>())
      t.add(i, "decoded", json(decoded).dump(), r.at("decoded").dump());
    if (!full) continue;
    const auto plain = tok.encode_ids(texts[i], false);
    const auto ref_plain = r.at("ids_plain").get<std::vector<std::int32_t>>();
    if (plain != ref_plain) t.add(i, "ids without special tokens", ids_str(plain), ids_str(ref_plain));
    const std::string skipped = ref_ids.empty() ? std::string() : tok.decode(ref_ids, true);
    if (skipped != r.at("decoded_skip").get<std::string>())
      t.add(i, "decoded, special tokens skipped", json(skipped).dump(), r.at("decoded_skip").dump());
  }
  INFO(ref.at("name").get<std::string>() << " against " << ref.at("reference").get<std::string>() << ": "
                                         << t.compared << " lines compared, " << t.mismatched << " mismatches\n"
                                         << t.report);
  CHECK(t.mismatched == 0);
  CHECK(t.compared >= 300);
  return t.compared;
}

void check_tokenizer_json(const std::string& name) {
  const std::string dir = env_or_fail("SEQEDIT_TEXT_REF_DIR");
  const auto texts = read_texts();
  const Tokenizer tok = Tokenizer::from_file(dir + "/" + name + ".tokenizer.json");
  const std::size_t n = compare(tok, read_json(dir + "/" + name + ".ref.json"), texts, true);
  WARN(name << ": " << n << " lines identical to the reference");
}

}  // namespace

TEST_CASE("GPT-2 tokenizer.json gives the reference ids", "[reference]") { check_tokenizer_json("gpt2"); }
TEST_CASE("Llama-3 tokenizer.json gives the reference ids", "[reference]") { check_tokenizer_json("llama3"); }
TEST_CASE("Llama-3 with its begin-of-text template gives the reference ids", "[reference]") {
  check_tokenizer_json("llama3_bos");
}
TEST_CASE("Llama-2 tokenizer.json gives the reference ids", "[reference]") { check_tokenizer_json("llama2"); }
TEST_CASE("WordPiece + Whitespace + NFC + Lowercase gives the reference ids", "[reference]") {
  check_tokenizer_json("wordpiece_whitespace");
}
TEST_CASE("WordPiece + WhitespaceSplit/Punctuation/Digits + NFKC/Replace/Strip gives the reference ids", "[reference]") {
  check_tokenizer_json("wordpiece_nfkc_punct_digits");
}
TEST_CASE("Metaspace prepend_scheme always gives the reference ids", "[reference]") {
  check_tokenizer_json("metaspace_always");
}
TEST_CASE("Metaspace prepend_scheme first gives the reference ids", "[reference]") {
  check_tokenizer_json("metaspace_first");
}
TEST_CASE("Metaspace prepend_scheme never gives the reference ids", "[reference]") {
  check_tokenizer_json("metaspace_never");
}
TEST_CASE("GPT-2 with NFKC, Lowercase, Digits, prefix space gives the reference ids", "[reference]") {
  check_tokenizer_json("gpt2_nfkc_lower_digits");
}
TEST_CASE("Llama-3 with Split behaviours, Replace and Strip gives the reference ids", "[reference]") {
  check_tokenizer_json("llama3_split_strip");
}

TEST_CASE("GPT-2's vocab.json + merges.txt give gpt-3-encoder's and the tokenizer.json reference's ids",
          "[reference]") {
  const std::string dir = env_or_fail("SEQEDIT_TEXT_REF_DIR");
  const auto texts = read_texts();
  const Tokenizer legacy = Tokenizer::from_checkpoint(dir + "/gpt2_legacy");
  const std::size_t n1 = compare(legacy, read_json(dir + "/gpt2_legacy.ref.json"), texts, false);
  const std::size_t n2 = compare(legacy, read_json(dir + "/gpt2.ref.json"), texts, true);
  WARN("gpt2_legacy: " << n1 << " lines identical to gpt-3-encoder, " << n2
                       << " to @huggingface/tokenizers on GPT-2's tokenizer.json");
}

namespace {

/// Byte-level tokenizers without a normalizer (GPT-2, Llama-3): the spans of the text's
/// tokens cover the input in order without gaps; two consecutive spans overlap only
/// inside one multi-byte character (a token holding part of a character spans all of
/// it); a token whose span overlaps no neighbour holds exactly the input bytes of it.
void check_offsets(const std::string& name) {
  const std::string dir = env_or_fail("SEQEDIT_TEXT_REF_DIR");
  const auto texts = read_texts();
  const Tokenizer tok = Tokenizer::from_file(dir + "/" + name + ".tokenizer.json");
  std::size_t tokens_checked = 0, exact = 0, bad = 0;
  std::string report;
  auto char_end = [](const std::string& t, std::size_t b) {
    const auto c = static_cast<unsigned char>(t[b]);
    return b + (c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4);
  };
  for (std::size_t li = 0; li < texts.size(); ++li) {
    const std::string& text = texts[li];
    const auto e = tok.encode(text, false);
    std::size_t covered = 0, prev_begin = 0;
    for (std::size_t i = 0; i < e.size(); ++i) {
      const auto [b, en] = e.offsets[i];
      ++tokens_checked;
      bool ok = b < en && en <= text.size() && b >= prev_begin && b <= covered && en >= covered;
      if (ok && b < covered) ok = char_end(text, b) >= covered;  // overlap inside one character
      const bool alone = b == covered && (i + 1 == e.size() || e.offsets[i + 1].first >= en);
      if (ok && alone && !e.special_tokens_mask[i]) {
        ok = tok.decode({e.ids[i]}) == text.substr(b, en - b);
        ++exact;
      }
      covered = std::max(covered, en);
      prev_begin = b;
      if (!ok && ++bad <= 5)
        report += "line " + std::to_string(li + 1) + " token " + std::to_string(i) + " '" + e.tokens[i] + "' span [" +
                  std::to_string(b) + ", " + std::to_string(en) + ")\n";
    }
    if (covered != text.size() && ++bad <= 5) report += "line " + std::to_string(li + 1) + ": spans end at " +
                                                        std::to_string(covered) + " of " + std::to_string(text.size()) + "\n";
  }
  INFO(report);
  CHECK(bad == 0);
  CHECK(exact * 2 > tokens_checked);  // most tokens are whole characters (the set is rich in emoji and CJK)
  WARN(name << ": offsets of " << tokens_checked << " tokens cover the texts; " << exact
            << " tokens hold exactly their span's bytes");
}

}  // namespace

TEST_CASE("GPT-2 offsets tile the input and hold the token's bytes", "[reference][offsets]") { check_offsets("gpt2"); }
TEST_CASE("Llama-3 offsets tile the input and hold the token's bytes", "[reference][offsets]") { check_offsets("llama3"); }

TEST_CASE("Llama-2 offsets: in order, inside the text, special tokens of the template empty", "[reference][offsets]") {
  const std::string dir = env_or_fail("SEQEDIT_TEXT_REF_DIR");
  const auto texts = read_texts();
  const Tokenizer tok = Tokenizer::from_file(dir + "/llama2.tokenizer.json");
  std::size_t bad = 0;
  for (const std::string& text : texts) {
    const auto e = tok.encode(text, true);
    REQUIRE(!e.ids.empty());
    bad += e.ids[0] != 1 || e.offsets[0] != std::make_pair(std::size_t{0}, std::size_t{0});
    std::size_t last_begin = 0;
    for (std::size_t i = 1; i < e.size(); ++i) {
      const auto [b, en] = e.offsets[i];
      bad += !(b <= en && en <= text.size() && b >= last_begin);
      last_begin = b;
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("Concurrent encoding from several threads gives the serial ids", "[reference][threads]") {
  const std::string dir = env_or_fail("SEQEDIT_TEXT_REF_DIR");
  const auto texts = read_texts();
  for (const char* name : {"gpt2", "llama2"}) {
    const Tokenizer serial = Tokenizer::from_file(dir + "/" + std::string(name) + ".tokenizer.json");
    std::vector<std::vector<std::int32_t>> expected;
    for (const auto& t : texts) expected.push_back(serial.encode_ids(t));
    const Tokenizer shared = Tokenizer::from_file(dir + "/" + std::string(name) + ".tokenizer.json");  // cold cache
    constexpr int kThreads = 4;
    std::vector<std::size_t> wrong(kThreads, 0);
    std::vector<std::thread> pool;
    for (int k = 0; k < kThreads; ++k) {
      pool.emplace_back([&, k] {
        for (std::size_t r = 0; r < 3; ++r)
          for (std::size_t i = 0; i < texts.size(); ++i) {
            const std::size_t j = (i * (k + 1) + r) % texts.size();
            wrong[k] += shared.encode_ids(texts[j]) != expected[j];
          }
      });
    }
    for (auto& th : pool) th.join();
    for (int k = 0; k < kThreads; ++k) CHECK(wrong[k] == 0);
  }
}

TEST_CASE("Texts of the maximal length round-trip (spaces, one long word, emoji, mixed)", "[reference][long]") {
  const std::string dir = env_or_fail("SEQEDIT_TEXT_REF_DIR");
  const std::size_t n = seqedit::text::max_text_bytes;
  std::string mixed;
  const std::string piece = "The 12345 caf\xC3\xA9 \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9  \t\r\n\xE6\x9D\xB1\xE4\xBA\xAC ";
  while (mixed.size() + piece.size() <= n / 4) mixed += piece;
  std::string emoji;
  while (emoji.size() + 4 <= n / 4) emoji += "\xF0\x9F\x98\x80";
  const std::vector<std::string> texts = {std::string(n, ' '), std::string(n, 'a'), emoji, mixed};
  for (const char* name : {"gpt2", "llama3", "llama2"}) {
    const Tokenizer tok = Tokenizer::from_file(dir + "/" + std::string(name) + ".tokenizer.json");
    for (const std::string& t : texts) {
      const auto ids = tok.encode_ids(t, false);
      CHECK(!ids.empty());
      // Lossless: byte-level BPE, and Llama-2's byte fallback (its decoder strips the space its normalizer prepends).
      const bool same = tok.decode(ids, true) == t;
      INFO(name << ", " << t.size() << " bytes starting with '" << t.substr(0, 12) << "'");
      CHECK(same);
    }
  }
}
