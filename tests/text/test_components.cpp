// Hand-computed cases of the components whose behaviour the reference comparison cannot
// reach (options the JavaScript port lacks, offsets), input checks, thread safety.
#include <seqedit/text/src/internal.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <thread>
#include <vector>

namespace {

using seqedit::text::Encoding;
using seqedit::text::Tokenizer;
namespace d = seqedit::text::detail;
using json = nlohmann::json;
using Ids = std::vector<std::int32_t>;
using Spans = std::vector<std::pair<std::size_t, std::size_t>>;

/// Pieces of `text` split at `pattern` (a JSON pattern node) with `behavior`.
std::vector<std::string> split(const std::string& text, const json& pattern, d::SplitBehavior b, bool invert = false) {
  const d::Pattern p(pattern, "test");
  std::vector<std::string> out;
  for (const auto& piece : d::split_normalized(d::NormalizedString::from_original(text, 0), p.find_matches(text), b, invert))
    out.push_back(piece.text);
  return out;
}

/// Words (with input spans) of a pre-tokenizer node applied to `text`.
std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> pre_tokenize(const json& node,
                                                                                      const std::string& text) {
  d::BuildContext ctx;
  ctx.origin = "test";
  const auto pre = d::make_pre_tokenizer(node, "pre_tokenizer", ctx);
  d::Words words{d::NormalizedString::from_original(text, 0)};
  pre->pre_tokenize(words);
  std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>> out;
  for (const auto& w : words) {
    const d::Span s = w.original(0, w.text.size());
    out.push_back({w.text, {s.begin, s.end}});
  }
  return out;
}

std::string normalize(const json& node, const std::string& text) {
  d::BuildContext ctx;
  ctx.origin = "test";
  const auto n = d::make_normalizer(node, "normalizer", ctx);
  auto s = d::NormalizedString::from_original(text, 0);
  n->normalize(s);
  return s.text;
}

std::string decode_chain(const json& node, std::vector<std::string> tokens) {
  d::BuildContext ctx;
  ctx.origin = "test";
  d::make_decoder(node, "decoder", ctx)->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

/// A tokenizer.json with the given model and optional pipeline parts.
Tokenizer make(json model, json added = json::array(), json normalizer = nullptr, json pre = nullptr,
               json post = nullptr, json decoder = nullptr) {
  const json j = {{"version", "1.0"},      {"truncation", nullptr},  {"padding", nullptr},
                  {"added_tokens", added}, {"normalizer", normalizer}, {"pre_tokenizer", pre},
                  {"model", model},        {"post_processor", post},  {"decoder", decoder}};
  return Tokenizer::from_json(j.dump(), "hand.json");
}

json added_token(int id, const std::string& content, bool special, bool single_word = false, bool lstrip = false,
                 bool rstrip = false, bool normalized = false) {
  return {{"id", id},         {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

}  // namespace

TEST_CASE("Split behaviours on 'the-final--countdown' (tokenizers' documented example)", "[text][split]") {
  const json dash = {{"String", "-"}};
  using B = d::SplitBehavior;
  using V = std::vector<std::string>;
  CHECK(split("the-final--countdown", dash, B::Removed) == V{"the", "final", "countdown"});
  CHECK(split("the-final--countdown", dash, B::Isolated) == V{"the", "-", "final", "-", "-", "countdown"});
  CHECK(split("the-final--countdown", dash, B::MergedWithPrevious) == V{"the-", "final-", "-", "countdown"});
  CHECK(split("the-final--countdown", dash, B::MergedWithNext) == V{"the", "-final", "-", "-countdown"});
  CHECK(split("the-final--countdown", dash, B::Contiguous) == V{"the", "-", "final", "--", "countdown"});
  // invert: the pattern's matches are what is kept apart.
  const json words = {{"Regex", "[a-z]+"}};
  CHECK(split("the-final--countdown", words, B::Removed, true) == V{"the", "final", "countdown"});
  CHECK(split("the-final--countdown", words, B::Isolated, true) == V{"the", "-", "final", "--", "countdown"});
  CHECK(split("the-final--countdown", words, B::MergedWithPrevious, true) == V{"the-", "final--", "countdown"});
  // A regex with Unicode classes and Oniguruma's case-insensitive group.
  CHECK(split("It'S Ünïcode 42", {{"Regex", "(?i:'s)|\\p{L}+|\\p{N}+"}}, B::Removed, true) ==
        V{"It", "'S", "Ünïcode", "42"});
  // Oniguruma's \s is White_Space: NEL (U+0085) is a space, ZWSP (U+200B) is not.
  CHECK(split("a\xC2\x85" "b\xE2\x80\x8B" "c", {{"Regex", "\\s"}}, B::Removed) ==
        V{"a", "b\xE2\x80\x8B" "c"});
}

TEST_CASE("Pre-tokenizers: words and their byte spans", "[text][pre_tokenizer]") {
  using W = std::vector<std::pair<std::string, std::pair<std::size_t, std::size_t>>>;
  const std::string m = "\xE2\x96\x81";  // ▁
  // Metaspace (tokenizers' own test): "Hey   friend!".
  CHECK(pre_tokenize({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}, {"split", true}},
                     "Hey   friend!") ==
        W{{m + "Hey", {0, 3}}, {m, {3, 4}}, {m, {4, 5}}, {m + "friend!", {5, 13}}});
  CHECK(pre_tokenize({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "never"}, {"split", true}},
                     "Hey friend") == W{{"Hey", {0, 3}}, {m + "friend", {3, 10}}});
  CHECK(pre_tokenize({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}, {"split", false}},
                     "Hey friend") == W{{m + "Hey" + m + "friend", {0, 10}}});
  // prepend_scheme first: only the word at input offset 0 gets the prefix.
  CHECK(pre_tokenize({{"type", "Sequence"},
                      {"pretokenizers",
                       {{{"type", "WhitespaceSplit"}},
                        {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "first"}, {"split", true}}}}},
                     "ab cd") == W{{m + "ab", {0, 2}}, {"cd", {3, 5}}});
  // Digits.
  CHECK(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "Call 123 please") ==
        W{{"Call ", {0, 5}}, {"1", {5, 6}}, {"2", {6, 7}}, {"3", {7, 8}}, {" please", {8, 15}}});
  CHECK(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "Call 123 please\xD9\xA3") ==
        W{{"Call ", {0, 5}}, {"123", {5, 8}}, {" please", {8, 15}}, {"\xD9\xA3", {15, 17}}});
  // Punctuation, default Isolated (tokenizers' own test).
  CHECK(pre_tokenize({{"type", "Punctuation"}}, "Hey friend!     How are you?!?") ==
        W{{"Hey friend", {0, 10}}, {"!", {10, 11}}, {"     How are you", {11, 27}}, {"?", {27, 28}}, {"!", {28, 29}},
          {"?", {29, 30}}});
  // Whitespace: \w+|[^\w\s]+ with Unicode classes; WhitespaceSplit.
  CHECK(pre_tokenize({{"type", "Whitespace"}}, "Hey man!! caf\xC3\xA9") ==
        W{{"Hey", {0, 3}}, {"man", {4, 7}}, {"!!", {7, 9}}, {"caf\xC3\xA9", {10, 15}}});
  CHECK(pre_tokenize({{"type", "WhitespaceSplit"}}, "Hey\tman!\xE2\x80\x83x") ==
        W{{"Hey", {0, 3}}, {"man!", {4, 8}}, {"x", {11, 12}}});
  // ByteLevel: every byte becomes one character; a prefix space spans the first character.
  CHECK(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}, "Hi \xC3\xA9!") ==
        W{{"\xC4\xA0Hi", {0, 2}}, {"\xC4\xA0\xC3\x83\xC2\xA9", {2, 5}}, {"!", {5, 6}}});
}

TEST_CASE("Normalizers", "[text][normalizer]") {
  CHECK(normalize({{"type", "NFC"}}, "e\xCC\x81") == "\xC3\xA9");
  CHECK(normalize({{"type", "NFD"}}, "\xC3\xA9") == "e\xCC\x81");
  CHECK(normalize({{"type", "NFKC"}}, "\xEF\xAC\x81x \xE2\x91\xA0") == "fix 1");
  CHECK(normalize({{"type", "Lowercase"}}, "ABC \xC3\x84 \xC4\xB0 \xCE\xA3") == "abc \xC3\xA4 i\xCC\x87 \xCF\x83");
  CHECK(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, " \t a b \n") == "a b \n");
  CHECK(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, " \t a b \n") == "a b");
  CHECK(normalize({{"type", "Prepend"}, {"prepend", "_"}}, "ab") == "_ab");
  CHECK(normalize({{"type", "Prepend"}, {"prepend", "_"}}, "") == "");
  CHECK(normalize({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}, "a   b  c d") == "a b c d");
  CHECK(normalize({{"type", "Replace"}, {"pattern", {{"String", "aa"}}}, {"content", "b"}}, "aaaaa") == "bba");
}

TEST_CASE("Decoders", "[text][decoder]") {
  CHECK(decode_chain({{"type", "ByteFallback"}}, {"<0xE2>", "<0x82>", "<0xAC>", "x"}) == "\xE2\x82\xAC" "x");
  // Invalid UTF-8 from byte tokens: one U+FFFD per byte (as the reference's Rust library).
  CHECK(decode_chain({{"type", "ByteFallback"}}, {"<0xE2>", "<0x82>", "y"}) == "\xEF\xBF\xBD\xEF\xBF\xBD" "y");
  CHECK(decode_chain({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 2}}, {"  a  ", " b"}) == " ab");
  CHECK(decode_chain({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}, {"it", "'", "s", "play", "##ing", "."}) ==
        "it ' s playing.");
  const std::string m = "\xE2\x96\x81";
  // Metaspace: the first token loses every ▁ unless prepend_scheme is never.
  CHECK(decode_chain({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}}, {m + "Hey", m + "friend"}) ==
        "Hey friend");
  CHECK(decode_chain({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "never"}}, {m + "Hey", m + "friend"}) ==
        " Hey friend");
  CHECK(decode_chain({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}}, {m + m + "a"}) == "a");
  // ByteLevel: lossy UTF-8 (maximal subparts), an added token outside the alphabet kept as is.
  CHECK(decode_chain({{"type", "ByteLevel"}}, {"\xC4\xA0h\xC3\xA9", "<x y>"}) == " h\xEF\xBF\xBD<x y>");
  CHECK(decode_chain({{"type", "Sequence"}, {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "_"}}}, {"content", " "}},
                                                          {{"type", "Fuse"}}}}},
                     {"_a", "_b"}) == " a b");
}

TEST_CASE("BPE: merge order, ignore_merges, byte_fallback, unk and fuse_unk", "[text][bpe]") {
  // Ranks: (b,c) before (a,b): "abc" → a + bc → abc; "abab" → ab ab (leftmost first).
  json model = {{"type", "BPE"},
                {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"bc", 3}, {"ab", 4}, {"abc", 5}, {"ca", 6}}},
                {"merges", {"b c", "a b", json::array({"a", "bc"})}}};
  Tokenizer t = make(model);
  CHECK(t.encode_ids("abc") == Ids{5});
  CHECK(t.encode_ids("abab") == Ids{4, 4});
  CHECK(t.encode_ids("aab") == Ids{0, 4});
  CHECK(t.encode_ids("cab") == Ids{2, 4});
  // ignore_merges: a word that is itself in the vocabulary is one token ("ca" has no merge).
  CHECK(t.encode_ids("ca") == Ids{2, 0});
  model["ignore_merges"] = true;
  CHECK(make(model).encode_ids("ca") == Ids{6});
  // Unknown characters: dropped without unk_token; unk per character, fused with fuse_unk.
  CHECK(t.encode_ids("axxb") == Ids{4});  // unknown characters dropped, then a+b merge
  json m2 = {{"type", "BPE"}, {"unk_token", "<unk>"}, {"vocab", {{"<unk>", 0}, {"a", 1}}}, {"merges", json::array()}};
  CHECK(make(m2).encode_ids("axyza") == Ids{1, 0, 0, 0, 1});
  m2["fuse_unk"] = true;
  const Encoding e = make(m2).encode("axyza");
  CHECK(e.ids == Ids{1, 0, 1});
  CHECK(e.offsets == Spans{{0, 1}, {1, 4}, {4, 5}});
  // byte_fallback: <0xNN> tokens for a character outside the vocabulary, each spanning it.
  json m3 = {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true},
             {"vocab", {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}}}, {"merges", json::array()}};
  const Encoding f = make(m3).encode("a\xC3\xA9" "a\xE2\x82\xAC");
  CHECK(f.ids == Ids{1, 2, 3, 1, 0});  // € has bytes without tokens: unk
  CHECK(f.offsets == Spans{{0, 1}, {1, 3}, {1, 3}, {3, 4}, {4, 7}});
  // continuing_subword_prefix / end_of_word_suffix.
  json m4 = {{"type", "BPE"},
             {"continuing_subword_prefix", "##"},
             {"end_of_word_suffix", "</w>"},
             {"vocab", {{"a", 0}, {"##b", 1}, {"##c</w>", 2}, {"ab", 3}, {"abc</w>", 4}}},
             {"merges", {"a ##b", "ab ##c</w>"}}};
  CHECK(make(m4).encode_ids("abc") == Ids{4});
  CHECK(make(m4).encode_ids("ab") == Ids{0});  // "##b</w>" is not a token
}

TEST_CASE("WordPiece: greedy longest match first, unk, max_input_chars_per_word", "[text][wordpiece]") {
  const json model = {{"type", "WordPiece"},
                      {"unk_token", "[UNK]"},
                      {"continuing_subword_prefix", "##"},
                      {"max_input_chars_per_word", 8},
                      {"vocab", {{"[UNK]", 0}, {"un", 1}, {"##aff", 2}, {"##able", 3}, {"una", 4}, {"##ffable", 5}, {"##a", 6}, {"##ble", 7}}}};
  const Tokenizer t = make(model, json::array(), nullptr, {{"type", "WhitespaceSplit"}});
  CHECK(t.encode_ids("unaffable") == Ids{0});  // 9 characters > 8
  // Greedy: "una" is taken first and never reconsidered; "unaffa" has no "##ffa", "##ff", "##f".
  CHECK(t.encode_ids("unable unaffa") == Ids{4, 7, 0});
  CHECK(t.encode_ids("unaaa") == Ids{4, 6, 6});
  const Encoding e = t.encode("x unable");
  CHECK(e.ids == Ids{0, 4, 7});
  CHECK(e.offsets == Spans{{0, 1}, {2, 5}, {5, 8}});
}

TEST_CASE("Added tokens: single_word, lstrip, rstrip, normalized, special", "[text][added]") {
  const json model = {{"type", "WordPiece"}, {"unk_token", "[UNK]"},
                      {"vocab", {{"[UNK]", 0}, {"a", 1}, {"b", 2}, {"c", 3}, {"##b", 4}, {"##c", 5}}}};
  const json pre = {{"type", "WhitespaceSplit"}};
  const json added = {added_token(6, "ab", false, /*single_word=*/true), added_token(7, "[M]", true, false, true, true),
                      added_token(8, "xy", false, false, false, false, /*normalized=*/true)};
  const Tokenizer t = make(model, added, {{"type", "Lowercase"}}, pre);
  // single_word: "ab" only where no word character touches it; "cab" is [UNK] (no "##a").
  Encoding e = t.encode("ab cab abc ab");
  CHECK(e.ids == Ids{6, 0, 1, 4, 5, 6});
  CHECK(e.offsets == Spans{{0, 2}, {3, 6}, {7, 8}, {8, 9}, {9, 10}, {11, 13}});
  // lstrip / rstrip: the token swallows the spaces around it.
  e = t.encode("a  [M]  b");
  CHECK(e.ids == Ids{1, 7, 2});
  CHECK(e.offsets == Spans{{0, 1}, {1, 8}, {8, 9}});
  CHECK(e.special_tokens_mask == std::vector<std::uint8_t>{0, 1, 0});
  // normalized: matched in the lowercased text, spans in the input.
  e = t.encode("XY aXYb");
  CHECK(e.ids == Ids{8, 1, 8, 2});
  CHECK(e.offsets == Spans{{0, 2}, {3, 4}, {4, 6}, {6, 7}});
  CHECK(e.tokens == std::vector<std::string>{"xy", "a", "xy", "b"});
  // special: skipped on request; lookups.
  CHECK(t.decode({6, 7, 1}) == "ab [M] a");
  CHECK(t.decode({6, 7, 1}, true) == "ab a");
  CHECK(t.is_special(7));
  CHECK_FALSE(t.is_special(6));
  CHECK(t.token_to_id("[M]") == std::optional<std::int32_t>(7));
  CHECK(t.token_to_id("##c") == std::optional<std::int32_t>(5));
  CHECK_FALSE(t.token_to_id("zz").has_value());
  CHECK(t.id_to_token(8) == "xy");
  CHECK(t.vocab_size() == 9);
  CHECK_THROWS_WITH(t.id_to_token(9), Catch::Contains("id 9 is not a token id (vocabulary size 9)"));
  CHECK_THROWS_WITH(t.decode({1, -1}), Catch::Contains("ids[1] = -1 is not a token id"));
}

TEST_CASE("TemplateProcessing: special tokens with empty spans, switchable", "[text][post_processor]") {
  const json model = {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", {{"[UNK]", 0}, {"[CLS]", 1}, {"[SEP]", 2}, {"hi", 3}}}};
  const json post = {{"type", "TemplateProcessing"},
                     {"single", {{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                 {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}}},
                     {"pair", json::array()},
                     {"special_tokens", {{"[CLS]", {{"id", "[CLS]"}, {"ids", {1}}, {"tokens", {"[CLS]"}}}},
                                         {"[SEP]", {{"id", "[SEP]"}, {"ids", {2}}, {"tokens", {"[SEP]"}}}}}}};
  const json added = {added_token(1, "[CLS]", true), added_token(2, "[SEP]", true)};
  const Tokenizer t = make(model, added, nullptr, {{"type", "WhitespaceSplit"}}, post, {{"type", "WordPiece"}});
  const Encoding e = t.encode(" hi hi");
  CHECK(e.ids == Ids{1, 3, 3, 2});
  CHECK(e.offsets == Spans{{0, 0}, {1, 3}, {4, 6}, {0, 0}});
  CHECK(e.special_tokens_mask == std::vector<std::uint8_t>{1, 0, 0, 1});
  CHECK(t.encode_ids(" hi hi", false) == Ids{3, 3});
  CHECK(t.encode_ids("", true) == Ids{1, 2});
  CHECK(t.decode(e.ids) == "[CLS] hi hi [SEP]");
  CHECK(t.decode(e.ids, true) == "hi hi");
}

TEST_CASE("Offsets through normalizers and byte-level characters", "[text][offsets]") {
  // NFKC turns "ﬁ" (3 bytes) into "fi": both letters map to the ligature's span.
  const json model = {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"max_input_chars_per_word", 100},
                      {"vocab", {{"[UNK]", 0}, {"f", 1}, {"##i", 2}, {"##x", 3}, {"caf", 4}, {"##\xC3\xA9", 5}}}};
  const Tokenizer t = make(model, json::array(), {{"type", "NFKC"}}, {{"type", "WhitespaceSplit"}});
  Encoding e = t.encode("\xEF\xAC\x81x cafe\xCC\x81");
  CHECK(e.ids == Ids{1, 2, 3, 4, 5});
  CHECK(e.offsets == Spans{{0, 3}, {0, 3}, {3, 4}, {5, 8}, {8, 11}});
  // Byte-level: the two tokens of one two-byte character both span the character.
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[d::byte_to_char(static_cast<unsigned char>(b))] = b;
  const json bl = {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}};
  const Tokenizer u = make(bl, json::array(), nullptr, {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}},
                           {{"type", "ByteLevel"}, {"trim_offsets", true}}, {{"type", "ByteLevel"}});
  e = u.encode("a \xC3\xA9");
  CHECK(e.ids == Ids{'a', ' ', 0xC3, 0xA9});
  CHECK(e.offsets == Spans{{0, 1}, {2, 2}, {2, 4}, {2, 4}});  // trim_offsets empties the space token
  CHECK(u.decode(e.ids) == "a \xC3\xA9");
  CHECK(u.decode({0xC3}) == "\xEF\xBF\xBD");
}

TEST_CASE("Invalid input: bad UTF-8, NUL bytes, over-long text", "[text][input]") {
  const json model = {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", json::array()}};
  const Tokenizer t = make(model);
  CHECK_THROWS_WITH(t.encode("ab\xC3(", true), Catch::Contains("invalid UTF-8 at byte offset 2"));
  CHECK_THROWS_WITH(t.encode("a\xED\xA0\x80"), Catch::Contains("invalid UTF-8 at byte offset 1"));  // surrogate
  CHECK_THROWS_WITH(t.encode("a\xC0\x80"), Catch::Contains("invalid UTF-8 at byte offset 1"));      // overlong
  CHECK_THROWS_WITH(t.encode("aaa\xF0\x9F\x98"), Catch::Contains("invalid UTF-8 at byte offset 3"));  // truncated
  CHECK_THROWS_WITH(t.encode(std::string("a\0b", 3)), Catch::Contains("NUL byte at byte offset 1"));
  const std::string big(seqedit::text::max_text_bytes + 1, 'a');
  CHECK_THROWS_WITH(t.encode(big), Catch::Contains("text of 1048577 bytes is longer than the 1048576 bytes accepted"));
  CHECK(t.encode_ids(std::string(seqedit::text::max_text_bytes, 'a')).size() == seqedit::text::max_text_bytes);
  CHECK(t.encode_ids("").empty());
}

TEST_CASE("Lossy UTF-8 decoding replaces maximal invalid subparts", "[text][unicode]") {
  CHECK(d::utf8_lossy("a\xF0\x9F\x98" "b") == "a\xEF\xBF\xBD" "b");            // one truncated sequence → one U+FFFD
  CHECK(d::utf8_lossy("\xFF\xFE") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(d::utf8_lossy("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: three
  CHECK(d::utf8_lossy("\xE2\x82\xAC") == "\xE2\x82\xAC");
}
