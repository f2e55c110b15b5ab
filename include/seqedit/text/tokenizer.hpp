#ifndef SEQEDIT_TEXT_TOKENIZER_HPP
#define SEQEDIT_TEXT_TOKENIZER_HPP

/// \file tokenizer.hpp
/// Hugging Face `tokenizer.json` in C++: text → token ids → text, with the ids of the
/// reference implementation.
///
/// The pipeline of `encode` is the one of `tokenizer.json`, in its order:
///
///   added tokens split out → normalizer → pre-tokenizer → model → post-processor
///
/// and `decode` runs the decoder. Each stage is one class named as in `tokenizer.json`
/// (sources in include/seqedit/text/src/); this header is the whole public interface.
///
/// Offsets. `Encoding::offsets[i]` is the byte span [begin, end) in the input text of
/// token i:
/// * a token made by the model covers the input bytes its characters came from through
///   the normalizer and pre-tokenizer. A byte-level or byte-fallback token holding only
///   part of a multi-byte character covers the whole character (so two tokens of one
///   emoji have the same span); characters inserted by a normalizer or pre-tokenizer
///   (`Prepend`, Metaspace's `▁`, ByteLevel's prefix space) take the span of the input
///   character they were inserted before, or an empty span at the end of the text;
/// * an added token found in the text covers its match (with the whitespace that its
///   `lstrip`/`rstrip` swallowed);
/// * a special token inserted by the post-processor (`<s>`, `<|begin_of_text|>`) has
///   the empty span (0, 0);
/// * `trim_offsets` of a ByteLevel post-processor removes the spaces a token starts or
///   ends with from its span (GPT-2 and Llama-3 ship it off: " world" spans the space).
///
/// Input rules: the text must be valid UTF-8 without NUL bytes and at most
/// `max_text_bytes` long; otherwise `encode` throws std::invalid_argument naming the
/// byte offset (or the length). A malformed or unsupported `tokenizer.json` throws
/// seqedit::io::format_error naming the file and the JSON path (`model.merges[12]`).
///
/// Thread safety: a Tokenizer is immutable after construction; every const method may
/// be called from several threads at once (the word cache of BPE is internally locked).
/// Copies share the same immutable state.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace seqedit {
namespace text {

/// Longest text `Tokenizer::encode` accepts, in bytes (1 MiB). Longer texts are refused
/// rather than cut, so that a caller never silently edits with a truncated prompt.
constexpr std::size_t max_text_bytes = std::size_t{1} << 20;

/// The result of Tokenizer::encode.
struct Encoding {
  /// Token ids, post-processor tokens included (when add_special_tokens).
  std::vector<std::int32_t> ids;
  /// Byte span [first, second) of each token in the input text (see the file comment).
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
  /// The token strings as in the vocabulary (`Ġworld`, `▁the`, `<0xE2>`).
  std::vector<std::string> tokens;
  /// 1 for tokens that are special added tokens (in the text or from the post-processor).
  std::vector<std::uint8_t> special_tokens_mask;

  std::size_t size() const { return ids.size(); }
};

/// A tokenizer read from `tokenizer.json` (or GPT-2's vocab.json + merges.txt).
class Tokenizer {
 public:
  /// Reads a `tokenizer.json` file. Throws io_error (cannot read) or format_error.
  static Tokenizer from_file(const std::filesystem::path& path);

  /// Parses `tokenizer.json` text; `origin` names it in error messages.
  static Tokenizer from_json(std::string_view json_text, const std::string& origin = "tokenizer.json");

  /// GPT-2's legacy pair: `vocab.json` (token → id) and `merges.txt` (one merge "a b" per
  /// line, an optional `#version` first line), with GPT-2's pipeline: ByteLevel
  /// pre-tokenizer (GPT-2 regex, no prefix space), BPE, ByteLevel decoder, and
  /// `<|endoftext|>` as special added token when the vocabulary has it.
  static Tokenizer from_gpt2_files(const std::filesystem::path& vocab_json,
                                   const std::filesystem::path& merges_txt);

  /// A checkpoint folder: `tokenizer.json` when present, else `vocab.json` + `merges.txt`.
  static Tokenizer from_checkpoint(const std::filesystem::path& dir);

  /// Text → ids (with offsets). `add_special_tokens` applies the post-processor's
  /// template (Llama's BOS), as the reference `encode` does by default.
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;

  /// Only the ids of encode(text, add_special_tokens).
  std::vector<std::int32_t> encode_ids(std::string_view text, bool add_special_tokens = true) const;

  /// Ids → text through the decoder. `skip_special_tokens` drops special added tokens.
  /// Throws std::invalid_argument for an id outside [0, vocab_size()) or a hole.
  std::string decode(const std::vector<std::int32_t>& ids, bool skip_special_tokens = false) const;

  /// The id of a token string (model vocabulary or added token), if any.
  std::optional<std::int32_t> token_to_id(std::string_view token) const;

  /// The token string of an id; throws std::invalid_argument if there is none.
  std::string id_to_token(std::int32_t id) const;

  /// One more than the largest id (model vocabulary and added tokens).
  std::size_t vocab_size() const;

  /// True for the id of a special added token.
  bool is_special(std::int32_t id) const;

  /// Where the tokenizer was read from (file path or `origin`).
  const std::string& origin() const;

  Tokenizer(const Tokenizer&) = default;
  Tokenizer(Tokenizer&&) noexcept = default;
  Tokenizer& operator=(const Tokenizer&) = default;
  Tokenizer& operator=(Tokenizer&&) noexcept = default;
  ~Tokenizer();

  class Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace text
}  // namespace seqedit

#endif  // SEQEDIT_TEXT_TOKENIZER_HPP
