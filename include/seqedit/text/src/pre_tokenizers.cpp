// Pre-tokenizers of tokenizer.json: ByteLevel, Split, Whitespace, WhitespaceSplit,
// Metaspace, Digits, Punctuation, Sequence. Each splits every word of the list further
// (and ByteLevel / Metaspace also rewrite characters), keeping alignments.
#include "internal.hpp"

#include <array>
#include <memory>

namespace seqedit {
namespace text {
namespace detail {
namespace {

/// GPT-2's split pattern (ByteLevel's use_regex).
const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

template <class SplitFn>
void split_each(Words& words, SplitFn fn) {
  Words out;
  out.reserve(words.size());
  for (const auto& w : words) {
    auto pieces = fn(w);
    for (auto& p : pieces) out.push_back(std::move(p));
  }
  words = std::move(out);
}

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, const std::string& where)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Pattern, where);
    for (int b = 0; b < 256; ++b) {
      const std::string& c = byte_to_char(static_cast<unsigned char>(b));
      ByteChar& bc = chars_[static_cast<std::size_t>(b)];
      bc.len = static_cast<std::uint8_t>(c.size());
      bc.bytes[0] = c[0];
      bc.bytes[1] = c.size() > 1 ? c[1] : c[0];
    }
  }
  void pre_tokenize(Words& words) const override {
    split_each(words, [&](const NormalizedString& w0) {
      NormalizedString prefixed;
      const bool prefix = add_prefix_space_ && (w0.text.empty() || w0.text[0] != ' ');
      if (prefix) {
        NormalizedBuilder b;
        b.append(" ", w0.inserted_at(0));
        b.append_from(w0, 0, w0.text.size());
        b.out.tail = w0.tail;
        prefixed = std::move(b.out);
      }
      const NormalizedString& w = prefix ? prefixed : w0;
      // Each piece of the regex split, mapped byte by byte to its character directly.
      std::vector<NormalizedString> pieces;
      auto emit = [&](std::size_t b, std::size_t e) { emit_mapped(w, b, e, pieces); };
      if (regex_) {
        std::size_t prev = 0;
        for (const auto& [b, e] : regex_->find_all(w.text)) {
          emit(prev, b);
          emit(b, e);
          prev = e;
        }
        emit(prev, w.text.size());
      } else {
        emit(0, w.text.size());
      }
      return pieces;
    });
  }

  /// True without prefix space and regex: the bytes are only mapped.
  bool maps_only() const { return !add_prefix_space_ && !regex_; }

  /// Appends bytes [b, e) of w mapped to their characters (nothing if b == e).
  void emit_mapped(const NormalizedString& w, std::size_t b, std::size_t e, Words& out) const {
    if (b == e) return;
    // Sized once: every byte's character is 1 or 2 bytes long (U+0021..U+0143).
    std::size_t n = 0;
    for (std::size_t i = b; i < e; ++i) n += chars_[static_cast<unsigned char>(w.text[i])].len;
    NormalizedString p;
    p.text.resize(n);
    p.align.resize(n);
    char* t = p.text.data();
    Span* a = p.align.data();
    for (std::size_t i = b; i < e; ++i) {
      const ByteChar& c = chars_[static_cast<unsigned char>(w.text[i])];
      t[0] = c.bytes[0];
      t[c.len - 1] = c.bytes[c.len - 1];
      a[0] = w.align[i];
      a[c.len - 1] = w.align[i];
      t += c.len;
      a += c.len;
    }
    p.tail = e < w.align.size() ? w.align[e].begin : w.tail;
    out.push_back(std::move(p));
  }

 private:
  /// The UTF-8 bytes of byte b's character (1 or 2).
  struct ByteChar {
    char bytes[2];
    std::uint8_t len;
  };
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
  std::array<ByteChar, 256> chars_{};
};

class Split final : public PreTokenizer {
 public:
  Split(const json& pattern, SplitBehavior behavior, bool invert, const std::string& where)
      : pattern_(pattern, where), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(Words& words) const override {
    split_each(words, [&](const NormalizedString& w) {
      return split_normalized(w, pattern_.find_matches(w.text), behavior_, invert_);
    });
  }
  /// The byte ranges of the pieces of w (non-empty, in order).
  std::vector<std::pair<std::size_t, std::size_t>> ranges(const NormalizedString& w) const {
    return split_ranges(pattern_.find_matches(w.text), behavior_, invert_);
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

/// Split followed by a ByteLevel that only maps bytes (no prefix space, no regex), in one
/// pass: each piece of the split is mapped straight from the word, never copied first.
/// The same words as the two pre-tokenizers one after the other.
class SplitByteLevel final : public PreTokenizer {
 public:
  SplitByteLevel(std::unique_ptr<Split> split, std::unique_ptr<ByteLevel> byte_level)
      : split_(std::move(split)), byte_level_(std::move(byte_level)) {}
  void pre_tokenize(Words& words) const override {
    Words out;
    out.reserve(words.size() * 8);
    for (const NormalizedString& w : words)
      for (const auto& [b, e] : split_->ranges(w)) byte_level_->emit_mapped(w, b, e, out);
    words = std::move(out);
  }

 private:
  std::unique_ptr<Split> split_;
  std::unique_ptr<ByteLevel> byte_level_;
};

class Whitespace final : public PreTokenizer {
 public:
  explicit Whitespace(const std::string& where) : pattern_(json{{"Regex", R"(\w+|[^\w\s]+)"}}, where) {}
  void pre_tokenize(Words& words) const override {
    split_each(words, [&](const NormalizedString& w) {
      return split_normalized(w, pattern_.find_matches(w.text), SplitBehavior::Removed, /*invert=*/true);
    });
  }

 private:
  Pattern pattern_;
};

class WhitespaceSplit final : public PreTokenizer {
 public:
  void pre_tokenize(Words& words) const override {
    split_each(words, [](const NormalizedString& w) {
      return split_normalized(w, char_matches(w.text, is_whitespace), SplitBehavior::Removed);
    });
  }
};

class Punctuation final : public PreTokenizer {
 public:
  explicit Punctuation(SplitBehavior b) : behavior_(b) {}
  void pre_tokenize(Words& words) const override {
    split_each(words, [&](const NormalizedString& w) {
      return split_normalized(w, char_matches(w.text, is_punctuation), behavior_);
    });
  }

 private:
  SplitBehavior behavior_;
};

class Digits final : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual) {}
  void pre_tokenize(Words& words) const override {
    split_each(words, [&](const NormalizedString& w) {
      return split_normalized(w, char_matches(w.text, is_numeric),
                              individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
    });
  }

 private:
  bool individual_;
};

enum class PrependScheme { Always, First, Never };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {
    std::size_t len = 0;
    replacement_char_ = utf8_decode(replacement_, 0, len);
  }
  void pre_tokenize(Words& words) const override {
    split_each(words, [&](const NormalizedString& w) {
      NormalizedBuilder b;
      const bool starts = w.text.compare(0, replacement_.size(), replacement_) == 0 ||
                          (!w.text.empty() && w.text[0] == ' ');
      const bool prepend = !starts && (scheme_ == PrependScheme::Always ||
                                       (scheme_ == PrependScheme::First && w.inserted_at(0).begin == 0));
      if (prepend) b.append(replacement_, w.inserted_at(0));
      for (std::size_t i = 0; i < w.text.size(); ++i) {
        if (w.text[i] == ' ') b.append(replacement_, w.align[i]);
        else b.append_from(w, i, i + 1);
      }
      b.out.tail = w.tail;
      std::vector<NormalizedString> out;
      if (!split_) {
        if (!b.out.text.empty()) out.push_back(std::move(b.out));
        return out;
      }
      const char32_t r = replacement_char_;
      return split_normalized(b.out, char_matches(b.out.text, [r](char32_t c) { return c == r; }),
                              SplitBehavior::MergedWithNext);
    });
  }

 private:
  std::string replacement_;
  char32_t replacement_char_ = 0;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(Words& words) const override {
    for (const auto& p : items_) p->pre_tokenize(words);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& node, const std::string& path, const BuildContext& ctx) {
  const std::string type = type_of(node, path, ctx);
  const std::string where = ctx.origin + ": " + path;
  if (type == "ByteLevel") {
    check_keys(node, path, ctx, {"type", "add_prefix_space", "trim_offsets", "use_regex"});
    get_bool(node, "trim_offsets", path, ctx, true);  // offsets only; checked for its type
    return std::make_unique<ByteLevel>(get_bool(node, "add_prefix_space", path, ctx, true),
                                       get_bool(node, "use_regex", path, ctx, true), where);
  }
  if (type == "Split") {
    check_keys(node, path, ctx, {"type", "pattern", "behavior", "invert"});
    return std::make_unique<Split>(require(node, "pattern", path, ctx),
                                   parse_behavior(require(node, "behavior", path, ctx), where + ".behavior"),
                                   get_bool(node, "invert", path, ctx, false), where + ".pattern");
  }
  if (type == "Whitespace") {
    check_keys(node, path, ctx, {"type"});
    return std::make_unique<Whitespace>(where);
  }
  if (type == "WhitespaceSplit") {
    check_keys(node, path, ctx, {"type"});
    return std::make_unique<WhitespaceSplit>();
  }
  if (type == "Punctuation") {
    check_keys(node, path, ctx, {"type", "behavior"});
    const auto it = node.find("behavior");
    return std::make_unique<Punctuation>(it == node.end() ? SplitBehavior::Isolated
                                                          : parse_behavior(*it, where + ".behavior"));
  }
  if (type == "Digits") {
    check_keys(node, path, ctx, {"type", "individual_digits"});
    return std::make_unique<Digits>(get_bool(node, "individual_digits", path, ctx, false));
  }
  if (type == "Metaspace") {
    check_keys(node, path, ctx, {"type", "replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"});
    const std::string rep = get_string(node, "replacement", path, ctx, std::string("\xE2\x96\x81"));
    if (rep.empty() || utf8_chars(rep).size() != 1) ctx.fail(path + ".replacement", "expected one character");
    if (const auto s = get_opt_string(node, "str_rep", path, ctx); s && *s != rep)
      ctx.fail(path + ".str_rep", "differs from replacement (not supported)");
    PrependScheme scheme = PrependScheme::Always;
    if (node.contains("prepend_scheme")) {
      const std::string s = get_string(node, "prepend_scheme", path, ctx);
      if (s == "always") scheme = PrependScheme::Always;
      else if (s == "first") scheme = PrependScheme::First;
      else if (s == "never") scheme = PrependScheme::Never;
      else ctx.fail(path + ".prepend_scheme", "unknown scheme '" + s + "' (always, first, never)");
    } else if (node.contains("add_prefix_space")) {
      scheme = get_bool(node, "add_prefix_space", path, ctx) ? PrependScheme::Always : PrependScheme::Never;
    }
    return std::make_unique<Metaspace>(rep, scheme, get_bool(node, "split", path, ctx, true));
  }
  if (type == "Sequence") {
    check_keys(node, path, ctx, {"type", "pretokenizers"});
    const json& list = require(node, "pretokenizers", path, ctx);
    if (!list.is_array()) ctx.fail(path + ".pretokenizers", "expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> items;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto item = make_pre_tokenizer(list[i], path + ".pretokenizers[" + std::to_string(i) + "]", ctx);
      auto* bl = dynamic_cast<ByteLevel*>(item.get());
      if (bl && bl->maps_only() && !items.empty() && dynamic_cast<Split*>(items.back().get())) {
        std::unique_ptr<Split> split(static_cast<Split*>(items.back().release()));
        items.back() = std::make_unique<SplitByteLevel>(
            std::move(split), std::unique_ptr<ByteLevel>(static_cast<ByteLevel*>(item.release())));
        continue;
      }
      items.push_back(std::move(item));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(items));
  }
  ctx.fail(path + ".type", "unsupported pre-tokenizer '" + type +
                               "' (supported: ByteLevel, Split, Whitespace, WhitespaceSplit, Metaspace, Digits, "
                               "Punctuation, Sequence)");
}

}  // namespace detail
}  // namespace text
}  // namespace seqedit
