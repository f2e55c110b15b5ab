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
