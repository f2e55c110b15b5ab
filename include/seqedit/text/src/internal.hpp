// Internal declarations of seqedit::text (never installed): the text with alignments
// that flows through the pipeline, the regex wrapper, the component interfaces and the
// JSON helpers shared by the component factories.
#ifndef SEQEDIT_TEXT_SRC_INTERNAL_HPP
#define SEQEDIT_TEXT_SRC_INTERNAL_HPP

#include <seqedit/io/error.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace seqedit {
namespace text {
namespace detail {

using json = nlohmann::json;

// ------------------------------------------------------------------ UTF-8
/// Length in bytes of the UTF-8 sequence starting with `lead` (1 for a continuation byte).
inline std::size_t utf8_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}
/// Decodes the (valid) UTF-8 character at s[i]; sets `len`.
char32_t utf8_decode(std::string_view s, std::size_t i, std::size_t& len);
/// Appends the UTF-8 encoding of `cp`.
void utf8_append(std::string& out, char32_t cp);
/// Byte offset of the first invalid UTF-8 sequence or NUL byte, or npos.
std::size_t first_invalid_utf8(std::string_view s, bool reject_nul);
/// Code points of a valid UTF-8 string.
std::vector<char32_t> utf8_chars(std::string_view s);

/// Unicode predicates (utf8proc's tables).
bool is_whitespace(char32_t c);     ///< White_Space property (Rust char::is_whitespace)
bool is_numeric(char32_t c);        ///< general category N* (Rust char::is_numeric)
bool is_punctuation(char32_t c);    ///< ASCII punctuation or category P*
bool is_word_char(char32_t c);      ///< letters, marks, numbers, '_' (single_word boundaries)
/// Lossy UTF-8 decoding: each maximal invalid subsequence becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes);
/// Full lowercase mapping of one code point (utf8proc's simple mapping, plus U+0130 → "i̇").
void append_lowercase(std::string& out, char32_t c);

// ------------------------------------------------------------------ text with alignments
/// A byte span [begin, end) of the original input.
struct Span {
  std::uint32_t begin = 0;  ///< texts are at most max_text_bytes (< 2^32) long
  std::uint32_t end = 0;
};

/// A piece of (normalized) text; for every byte, the span of the input character it came
/// from. `tail` is the input offset just after the piece (the span given to characters
/// inserted at its end).
struct NormalizedString {
  std::string text;
  std::vector<Span> align;
  std::size_t tail = 0;

  /// The input bytes [begin, begin + s.size()) unchanged.
  static NormalizedString from_original(std::string_view s, std::size_t begin);
  /// Bytes [b, e) of this string with their alignments.
  NormalizedString slice(std::size_t b, std::size_t e) const;
  /// The input span covered by bytes [b, e) (b < e).
  Span original(std::size_t b, std::size_t e) const;
  /// Span given to characters inserted before byte i (i == size(): at the end).
  Span inserted_at(std::size_t i) const;
  bool empty() const { return text.empty(); }
};

/// Builds a NormalizedString piece by piece.
struct NormalizedBuilder {
  NormalizedString out;
  void append(std::string_view s, Span span) {
    out.text.append(s.data(), s.size());
    out.align.insert(out.align.end(), s.size(), span);
  }
  void append_from(const NormalizedString& src, std::size_t b, std::size_t e) {
    out.text.append(src.text, b, e - b);
    out.align.insert(out.align.end(), src.align.begin() + static_cast<std::ptrdiff_t>(b),
                     src.align.begin() + static_cast<std::ptrdiff_t>(e));
  }
};

// ------------------------------------------------------------------ regex (PCRE2, UTF + UCP)
/// A compiled PCRE2 pattern. Patterns of tokenizer.json are Oniguruma syntax; the classes
/// \s \S \w \W \d \D are rewritten to their Unicode definitions (White_Space; Alphabetic,
/// Mark, Nd, Pc; Nd) so that PCRE2 matches what Oniguruma matches.
class Regex {
 public:
  /// Throws format_error "origin: path: ..." if the pattern does not compile.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  /// Non-overlapping matches, left to right (after an empty match the search moves one
  /// character on, as Oniguruma's and JavaScript's iterators do).
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};
/// The regex translation alone (exposed for tests).
std::string translate_oniguruma(const std::string& pattern, const std::string& where);

/// A `pattern` of Split / Replace: a literal string or a regex.
class Pattern {
 public:
  Pattern(const json& node, const std::string& where);
  /// Matches as [(b, e, is_match)] covering the whole text, as tokenizers' find_matches.
  std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> find_matches(std::string_view text) const;

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
};

// ------------------------------------------------------------------ split behaviours
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior parse_behavior(const json& v, const std::string& where);
/// Splits `s` at `matches` (a cover of s, as Pattern::find_matches) with `behavior`;
/// empty pieces are dropped.
std::vector<NormalizedString> split_normalized(
    const NormalizedString& s, std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> matches,
    SplitBehavior behavior, bool invert = false);
/// The byte ranges of the pieces of split_normalized (non-empty, in order).
std::vector<std::pair<std::size_t, std::size_t>> split_ranges(
    std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> matches, SplitBehavior behavior,
    bool invert = false);
/// Matches of a character predicate: every matching character is one match.
template <class Pred>
std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> char_matches(std::string_view s, Pred pred);

// ------------------------------------------------------------------ components
class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

/// One pre-tokenized word. `first` is true when it starts at input offset 0 (Metaspace's
/// prepend_scheme "first").
using Words = std::vector<NormalizedString>;
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(Words& words) const = 0;
};

/// A token of the model: id and byte range [begin, end) inside the word.
struct ModelToken {
  std::int32_t id;
  std::size_t begin;
  std::size_t end;
};
class Model {
 public:
  virtual ~Model() = default;
  /// Appends the tokens of one word.
  virtual void tokenize(std::string_view word, std::vector<ModelToken>& out) const = 0;
  virtual std::optional<std::int32_t> token_to_id(std::string_view token) const = 0;
  virtual const std::string* id_to_token(std::int32_t id) const = 0;
  /// One more than the largest id.
  virtual std::size_t size() const = 0;
};

/// A token of the encoding under construction.
struct EncToken {
  std::int32_t id;
  Span span;
  bool special;
};
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  /// `input` is the encoded text (for offset trimming).
  virtual void process(std::vector<EncToken>& tokens, bool add_special_tokens, std::string_view input) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  /// tokenizers' decode_chain: token strings in, token strings out.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

/// Context of the factories: the file name for error messages.
struct BuildContext {
  std::string origin;
  /// Ids must be below this bound: the number of model-vocabulary entries plus added
  /// tokens (a larger id necessarily leaves a hole). Keeps allocations bounded.
  std::size_t max_id = std::size_t{1} << 30;
  /// Ids named by the post-processor (JSON path, id), checked once the vocabulary is known.
  mutable std::vector<std::pair<std::string, std::int32_t>> referenced_ids;
  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw io::format_error(origin + ": " + path + ": " + what);
  }
};

std::unique_ptr<Normalizer> make_normalizer(const json& node, const std::string& path, const BuildContext& ctx);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& node, const std::string& path, const BuildContext& ctx);
std::unique_ptr<Model> make_model(const json& node, const std::string& path, const BuildContext& ctx);
/// GPT-2's vocab.json + merges.txt as a BPE model.
std::unique_ptr<Model> make_gpt2_bpe(const json& vocab, const std::string& merges_txt, const BuildContext& ctx);
std::unique_ptr<PostProcessor> make_post_processor(const json& node, const std::string& path, const BuildContext& ctx);
std::unique_ptr<Decoder> make_decoder(const json& node, const std::string& path, const BuildContext& ctx);

// ------------------------------------------------------------------ JSON helpers
/// Checks that `node` is an object whose keys are all in `allowed` (else format_error
/// naming path.key).
void check_keys(const json& node, const std::string& path, const BuildContext& ctx,
                std::initializer_list<const char*> allowed);
const json& require(const json& node, const char* key, const std::string& path, const BuildContext& ctx);
std::string get_string(const json& node, const char* key, const std::string& path, const BuildContext& ctx,
                       std::optional<std::string> fallback = std::nullopt);
/// A string or null (nullopt).
std::optional<std::string> get_opt_string(const json& node, const char* key, const std::string& path,
                                          const BuildContext& ctx);
bool get_bool(const json& node, const char* key, const std::string& path, const BuildContext& ctx,
              std::optional<bool> fallback = std::nullopt);
std::int64_t get_int(const json& node, const char* key, const std::string& path, const BuildContext& ctx,
                     std::optional<std::int64_t> fallback = std::nullopt);
std::string type_of(const json& node, const std::string& path, const BuildContext& ctx);

/// GPT-2's byte ↔ character table of ByteLevel.
const std::string& byte_to_char(unsigned char b);
/// -1 if `c` is not one of the 256 characters.
int char_to_byte(char32_t c);

// ------------------------------------------------------------------ template definition
template <class Pred>
std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> char_matches(std::string_view s, Pred pred) {
  std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> m;
  std::size_t prev = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 0;
    const char32_t c = utf8_decode(s, i, len);
    if (pred(c)) {
      if (prev < i) m.push_back({{prev, i}, false});
      m.push_back({{i, i + len}, true});
      prev = i + len;
    }
    i += len;
  }
  if (prev < s.size() || s.empty()) m.push_back({{prev, s.size()}, false});
  return m;
}

}  // namespace detail
}  // namespace text
}  // namespace seqedit

#endif  // SEQEDIT_TEXT_SRC_INTERNAL_HPP
