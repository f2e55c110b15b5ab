// Normalizers of tokenizer.json: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace,
// Strip, Sequence. Each keeps the alignment of every output byte to the input.
#include "internal.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

namespace seqedit {
namespace text {
namespace detail {
namespace {

std::string utf8proc_normalize(std::string_view s, int options) {
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                          static_cast<utf8proc_option_t>(options));
  if (n < 0) {
    std::free(dst);
    throw std::runtime_error(std::string("seqedit::text: Unicode normalization failed: ") +
                             utf8proc_errmsg(n));
  }
  std::string out(reinterpret_cast<const char*>(dst), static_cast<std::size_t>(n));
  std::free(dst);
  return out;
}

/// NFC / NFD / NFKC / NFKD. The text is normalized as a whole (that is what the ids
/// depend on); alignments are kept per run starting at a character of canonical
/// combining class 0, which is exact whenever the runs normalize independently (checked;
/// otherwise the whole piece maps to its whole span).
class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(UTF8PROC_STABLE | options) {}
  void normalize(NormalizedString& s) const override {
    bool ascii = true;
    for (const char c : s.text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii || s.text.empty()) return;
    std::string whole = utf8proc_normalize(s.text, options_);
    if (whole == s.text) return;
    // Runs: a new run starts at every starter that is not a conjoining Hangul vowel/trailer.
    std::vector<std::size_t> starts;
    for (std::size_t i = 0; i < s.text.size();) {
      std::size_t len = 0;
      const char32_t c = utf8_decode(s.text, i, len);
      const bool hangul_vt = (c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2);
      const auto* prop = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
      if (i == 0 || (prop->combining_class == 0 && !hangul_vt)) starts.push_back(i);
      i += len;
    }
    starts.push_back(s.text.size());
    NormalizedBuilder b;
    std::string joined;
    for (std::size_t k = 0; k + 1 < starts.size(); ++k) {
      const std::size_t lo = starts[k];
      const std::size_t hi = starts[k + 1];
      const std::string part = utf8proc_normalize(std::string_view(s.text).substr(lo, hi - lo), options_);
      joined += part;
      b.append(part, s.original(lo, hi));
    }
    if (joined != whole) {
      b = NormalizedBuilder{};
      b.append(whole, s.original(0, s.text.size()));
    }
    b.out.tail = s.tail;
    s = std::move(b.out);
  }

 private:
  int options_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    NormalizedBuilder b;
    std::string tmp;
    for (std::size_t i = 0; i < s.text.size();) {
      std::size_t len = 0;
      const char32_t c = utf8_decode(s.text, i, len);
      tmp.clear();
      append_lowercase(tmp, c);
      b.append(tmp, s.original(i, i + len));
      i += len;
    }
    b.out.tail = s.tail;
    s = std::move(b.out);
  }
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(NormalizedString& s) const override {
    if (s.text.empty()) return;
    NormalizedBuilder b;
    b.append(prepend_, s.inserted_at(0));
    b.append_from(s, 0, s.text.size());
    b.out.tail = s.tail;
    s = std::move(b.out);
  }

 private:
  std::string prepend_;
};

class Replace final : public Normalizer {
 public:
  Replace(const json& pattern, std::string content, const std::string& where)
      : pattern_(pattern, where), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override {
    if (s.text.empty()) return;
    NormalizedBuilder b;
    for (const auto& [range, is_match] : pattern_.find_matches(s.text)) {
      if (range.first == range.second) continue;
      if (is_match) {
        if (!content_.empty()) b.append(content_, s.original(range.first, range.second));
      } else {
        b.append_from(s, range.first, range.second);
      }
    }
    b.out.tail = s.tail;
    s = std::move(b.out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s) const override {
    std::size_t b = 0;
    std::size_t e = s.text.size();
    if (left_) {
      while (b < e) {
        std::size_t len = 0;
        if (!is_whitespace(utf8_decode(s.text, b, len))) break;
        b += len;
      }
    }
    if (right_) {
      while (e > b) {
        std::size_t p = e - 1;
        while (p > b && (static_cast<unsigned char>(s.text[p]) & 0xC0) == 0x80) --p;
        std::size_t len = 0;
        if (!is_whitespace(utf8_decode(s.text, p, len))) break;
        e = p;
      }
    }
    if (b == 0 && e == s.text.size()) return;
    NormalizedString out = s.slice(b, e);
    out.tail = s.tail;
    s = std::move(out);
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(NormalizedString& s) const override {
    for (const auto& n : items_) n->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& node, const std::string& path, const BuildContext& ctx) {
  const std::string type = type_of(node, path, ctx);
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    check_keys(node, path, ctx, {"type"});
    int opt = type[type.size() - 1] == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (type.size() == 4) opt |= UTF8PROC_COMPAT;
    return std::make_unique<UnicodeNormalizer>(opt);
  }
  if (type == "Lowercase") {
    check_keys(node, path, ctx, {"type"});
    return std::make_unique<Lowercase>();
  }
  if (type == "Prepend") {
    check_keys(node, path, ctx, {"type", "prepend"});
    return std::make_unique<Prepend>(get_string(node, "prepend", path, ctx));
  }
  if (type == "Replace") {
    check_keys(node, path, ctx, {"type", "pattern", "content"});
    return std::make_unique<Replace>(require(node, "pattern", path, ctx), get_string(node, "content", path, ctx),
                                     ctx.origin + ": " + path + ".pattern");
  }
  if (type == "Strip") {
    check_keys(node, path, ctx, {"type", "strip_left", "strip_right"});
    return std::make_unique<Strip>(get_bool(node, "strip_left", path, ctx, true),
                                   get_bool(node, "strip_right", path, ctx, true));
  }
  if (type == "Sequence") {
    check_keys(node, path, ctx, {"type", "normalizers"});
    const json& list = require(node, "normalizers", path, ctx);
    if (!list.is_array()) ctx.fail(path + ".normalizers", "expected an array");
    std::vector<std::unique_ptr<Normalizer>> items;
    for (std::size_t i = 0; i < list.size(); ++i)
      items.push_back(make_normalizer(list[i], path + ".normalizers[" + std::to_string(i) + "]", ctx));
    return std::make_unique<SequenceNormalizer>(std::move(items));
  }
  ctx.fail(path + ".type", "unsupported normalizer '" + type +
                               "' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence)");
}

}  // namespace detail
}  // namespace text
}  // namespace seqedit
