// Pre-tokenizers of tokenizer.json: ByteLevel, Split, Whitespace, WhitespaceSplit,
// Metaspace, Digits, Punctuation, Sequence. Each splits every word of the list further
// (and ByteLevel / Metaspace also rewrite characters), keeping alignments.
#include "internal.hpp"

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
      auto emit = [&](std::size_t b, std::size_t e) {
        if (b == e) return;
        NormalizedString p;
        p.text.reserve((e - b) * 2);
        p.align.reserve((e - b) * 2);
        for (std::size_t i = b; i < e; ++i) {
          const std::string& c = byte_to_char(static_cast<unsigned char>(w.text[i]));
          p.text += c;
          p.align.insert(p.align.end(), c.size(), w.align[i]);
        }
        p.tail = e < w.align.size() ? w.align[e].begin : w.tail;
        pieces.push_back(std::move(p));
      };
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

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
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

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
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
    for (std::size_t i = 0; i < list.size(); ++i)
      items.push_back(make_pre_tokenizer(list[i], path + ".pretokenizers[" + std::to_string(i) + "]", ctx));
    return std::make_unique<SequencePreTokenizer>(std::move(items));
  }
  ctx.fail(path + ".type", "unsupported pre-tokenizer '" + type +
                               "' (supported: ByteLevel, Split, Whitespace, WhitespaceSplit, Metaspace, Digits, "
                               "Punctuation, Sequence)");
}

}  // namespace detail
}  // namespace text
}  // namespace seqedit
