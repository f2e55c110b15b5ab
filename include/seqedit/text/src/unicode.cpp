// UTF-8, Unicode properties (utf8proc), PCRE2 regexes, split behaviours, text with
// alignments and the JSON helpers of the component factories.
#include "internal.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace seqedit {
namespace text {
namespace detail {

// ------------------------------------------------------------------ UTF-8
char32_t utf8_decode(std::string_view s, std::size_t i, std::size_t& len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  len = utf8_len(b0);
  if (len == 1 || i + len > s.size()) {
    len = 1;
    return b0;
  }
  char32_t c = b0 & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return c;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::size_t first_invalid_utf8(std::string_view s, bool reject_nul) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      if (b == 0 && reject_nul) return i;
      ++i;
      continue;
    }
    std::size_t len = 0;
    char32_t min = 0;
    char32_t c = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2, min = 0x80, c = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, min = 0x800, c = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4, min = 0x10000, c = b & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string utf8_lossy(std::string_view s) {
  // The WHATWG / Unicode "maximal subpart" rule, as Rust's from_utf8_lossy and
  // JavaScript's TextDecoder apply it.
  static const char* const kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    std::size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    std::size_t k = 1;
    for (; k <= need; ++k) {
      if (i + k >= n) break;
      const unsigned char c = p[i + k];
      if (c < lo || c > hi) break;
      lo = 0x80, hi = 0xBF;
    }
    if (k == need + 1) {
      out.append(s.data() + i, need + 1);
      i += need + 1;
    } else {
      out += kReplacement;
      i += k;
    }
  }
  return out;
}

std::vector<char32_t> utf8_chars(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 0;
    out.push_back(utf8_decode(s, i, len));
    i += len;
  }
  return out;
}

// ------------------------------------------------------------------ properties
namespace {
utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }
}  // namespace

bool is_whitespace(char32_t c) {
  // The White_Space property: the separators Zs/Zl/Zp and the controls \t \n \v \f \r and
  // U+0085 (NEL). utf8proc has general categories, not this property; U+180E left it in
  // Unicode 6.3 and U+200B is Cf, so the categories plus those six controls are exact.
  if (c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x85) return true;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

bool is_numeric(char32_t c) {
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                       (c >= 0x7B && c <= 0x7E);
  const auto k = category(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool is_word_char(char32_t c) {
  const auto k = category(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
         (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_NO) || c == '_';
}

void append_lowercase(std::string& out, char32_t c) {
  if (c == 0x130) {  // the one unconditional multi-character lowercase mapping
    utf8_append(out, 0x69);
    utf8_append(out, 0x307);
    return;
  }
  utf8_append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

// ------------------------------------------------------------------ text with alignments
NormalizedString NormalizedString::from_original(std::string_view s, std::size_t begin) {
  NormalizedString n;
  n.text.assign(s.data(), s.size());
  n.align.resize(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = std::min(utf8_len(static_cast<unsigned char>(s[i])), s.size() - i);
    const Span sp{static_cast<std::uint32_t>(begin + i), static_cast<std::uint32_t>(begin + i + len)};
    for (std::size_t k = 0; k < len; ++k) n.align[i + k] = sp;
    i += len;
  }
  n.tail = begin + s.size();
  return n;
}

NormalizedString NormalizedString::slice(std::size_t b, std::size_t e) const {
  NormalizedString n;
  n.text = text.substr(b, e - b);
  n.align.assign(align.begin() + static_cast<std::ptrdiff_t>(b), align.begin() + static_cast<std::ptrdiff_t>(e));
  n.tail = e < align.size() ? align[e].begin : tail;
  return n;
}

Span NormalizedString::original(std::size_t b, std::size_t e) const {
  Span s{align[b].begin, align[e - 1].end};
  for (std::size_t i = b; i < e; ++i) {
    s.begin = std::min(s.begin, align[i].begin);
    s.end = std::max(s.end, align[i].end);
  }
  return s;
}

Span NormalizedString::inserted_at(std::size_t i) const {
  if (i < align.size()) return align[i];
  return Span{static_cast<std::uint32_t>(tail), static_cast<std::uint32_t>(tail)};
}

// ------------------------------------------------------------------ regex
namespace {
const char* const kWordClass = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}";
const char* const kWordExtra = "\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}";

struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (!data || !context) throw std::bad_alloc();
    if (stack) pcre2_jit_stack_assign(context, nullptr, stack);
    // A bound on backtracking: pathological patterns fail with an exception, never hang.
    pcre2_set_match_limit(context, 50'000'000);
  }
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    if (stack) pcre2_jit_stack_free(stack);
  }
};
MatchState& match_state() {
  thread_local MatchState state;
  return state;
}
}  // namespace

std::string translate_oniguruma(const std::string& p, const std::string& where) {
  std::string out;
  out.reserve(p.size() + 32);
  int class_depth = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      ++i;
      const bool in = class_depth > 0;
      switch (e) {
        case 's': out += "\\p{White_Space}"; break;
        case 'S': out += "\\P{White_Space}"; break;
        case 'd': out += "\\p{Nd}"; break;
        case 'D': out += "\\P{Nd}"; break;
        case 'h': out += in ? "0-9A-Fa-f" : "[0-9A-Fa-f]"; break;
        case 'H':
          if (in) throw std::invalid_argument(where + ": \\H inside a character class is not supported");
          out += "[^0-9A-Fa-f]";
          break;
        case 'w':
          if (in) out += kWordClass;
          else out += std::string("[") + kWordClass + kWordExtra + "]";
          break;
        case 'W':
          if (in) throw std::invalid_argument(where + ": \\W inside a character class is not supported");
          out += std::string("[^") + kWordClass + kWordExtra + "]";
          break;
        default:
          out += c;
          out += e;
      }
      continue;
    }
    if (class_depth > 0) {
      if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
        const auto close = p.find(":]", i + 2);
        if (close != std::string::npos) {
          out.append(p, i, close + 2 - i);
          i = close + 1;
          continue;
        }
      }
      if (c == ']') --class_depth;
      out += c;
      continue;
    }
    if (c == '[') {
      class_depth = 1;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    out += c;
  }
  return out;
}

Regex::Regex(const std::string& pattern, const std::string& where) {
  std::string translated;
  try {
    translated = translate_oniguruma(pattern, where);
  } catch (const std::invalid_argument& e) {
    throw io::format_error(e.what());
  }
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!code) {
    std::array<PCRE2_UCHAR, 256> buf{};
    pcre2_get_error_message(err, buf.data(), buf.size());
    throw io::format_error(where + ": regex '" + pattern + "' does not compile (" +
                           reinterpret_cast<const char*>(buf.data()) + " at offset " + std::to_string(off) + ")");
  }
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  MatchState& st = match_state();
  auto* code = static_cast<pcre2_code*>(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, st.data, st.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      std::array<PCRE2_UCHAR, 256> buf{};
      pcre2_get_error_message(rc, buf.data(), buf.size());
      throw std::runtime_error(std::string("seqedit::text: regex match failed (") +
                               reinterpret_cast<const char*>(buf.data()) + ")");
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
    const std::size_t b = ov[0];
    const std::size_t e = ov[1];
    out.emplace_back(b, e);
    if (e > b) {
      pos = e;
    } else {
      if (b >= text.size()) break;
      pos = b + utf8_len(static_cast<unsigned char>(text[b]));
    }
  }
  (void)jit_;
  return out;
}

Pattern::Pattern(const json& node, const std::string& where) {
  if (!node.is_object() || node.size() != 1)
    throw io::format_error(where + ": expected {\"String\": ...} or {\"Regex\": ...}");
  const auto it = node.begin();
  if (!it.value().is_string()) throw io::format_error(where + "." + it.key() + ": expected a string");
  if (it.key() == "String") {
    literal_ = it.value().get<std::string>();
  } else if (it.key() == "Regex") {
    regex_ = std::make_unique<Regex>(it.value().get<std::string>(), where + ".Regex");
  } else {
    throw io::format_error(where + ": unknown pattern kind '" + it.key() + "' (String or Regex)");
  }
}

std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> Pattern::find_matches(std::string_view text) const {
  std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> m;
  if (text.empty()) {
    m.push_back({{0, 0}, false});
    return m;
  }
  std::vector<std::pair<std::size_t, std::size_t>> hits;
  if (regex_) {
    hits = regex_->find_all(text);
  } else if (!literal_.empty()) {
    for (std::size_t p = text.find(literal_); p != std::string_view::npos; p = text.find(literal_, p + literal_.size()))
      hits.emplace_back(p, p + literal_.size());
  }
  std::size_t prev = 0;
  for (const auto& [b, e] : hits) {
    if (prev != b) m.push_back({{prev, b}, false});
    m.push_back({{b, e}, true});
    prev = e;
  }
  if (prev != text.size()) m.push_back({{prev, text.size()}, false});
  return m;
}

// ------------------------------------------------------------------ split behaviours
SplitBehavior parse_behavior(const json& v, const std::string& where) {
  if (!v.is_string()) throw io::format_error(where + ": expected a string");
  const std::string s = v.get<std::string>();
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  throw io::format_error(where + ": unknown split behavior '" + s +
                         "' (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

std::vector<NormalizedString> split_normalized(
    const NormalizedString& s, std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> matches,
    SplitBehavior behavior, bool invert) {
  const auto ranges = split_ranges(std::move(matches), behavior, invert);
  std::vector<NormalizedString> out;
  out.reserve(ranges.size());
  for (const auto& [b, e] : ranges) out.push_back(s.slice(b, e));
  return out;
}

std::vector<std::pair<std::size_t, std::size_t>> split_ranges(
    std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>> matches, SplitBehavior behavior, bool invert) {
  using Piece = std::pair<std::pair<std::size_t, std::size_t>, bool>;  // (range, remove)
  if (invert)
    for (auto& m : matches) m.second = !m.second;
  std::vector<Piece> pieces;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& m : matches) pieces.push_back({m.first, false});
      break;
    case SplitBehavior::Removed:
      pieces = matches;
      break;
    case SplitBehavior::Contiguous: {
      bool prev_match = false;
      for (const auto& m : matches) {
        if (m.second == prev_match && !pieces.empty()) pieces.back().first.second = m.first.second;
        else pieces.push_back({m.first, false});
        prev_match = m.second;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool prev_match = false;
      for (const auto& m : matches) {
        if (m.second && !prev_match && !pieces.empty()) pieces.back().first.second = m.first.second;
        else pieces.push_back({m.first, false});
        prev_match = m.second;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev_match = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->second && !prev_match && !pieces.empty()) pieces.back().first.first = it->first.first;
        else pieces.push_back({it->first, false});
        prev_match = it->second;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  std::vector<std::pair<std::size_t, std::size_t>> out;
  out.reserve(pieces.size());
  for (const auto& [range, remove] : pieces) {
    if (remove || range.first == range.second) continue;
    out.push_back(range);
  }
  return out;
}

// ------------------------------------------------------------------ byte-level table
namespace {
struct ByteTable {
  std::array<std::string, 256> to_char;
  std::unordered_map<char32_t, int> to_byte;
  ByteTable() {
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[static_cast<std::size_t>(b)] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[static_cast<std::size_t>(b)] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[static_cast<std::size_t>(b)] = true;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t c = direct[static_cast<std::size_t>(b)] ? static_cast<char32_t>(b) : next++;
      utf8_append(to_char[static_cast<std::size_t>(b)], c);
      to_byte[c] = b;
    }
  }
};
const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}
}  // namespace

const std::string& byte_to_char(unsigned char b) { return byte_table().to_char[b]; }

int char_to_byte(char32_t c) {
  const auto& m = byte_table().to_byte;
  const auto it = m.find(c);
  return it == m.end() ? -1 : it->second;
}

// ------------------------------------------------------------------ JSON helpers
void check_keys(const json& node, const std::string& path, const BuildContext& ctx,
                std::initializer_list<const char*> allowed) {
  if (!node.is_object()) ctx.fail(path, "expected an object");
  for (auto it = node.begin(); it != node.end(); ++it) {
    const bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const char* k) { return it.key() == k; });
    if (!ok) ctx.fail(path + "." + it.key(), "unknown option");
  }
}

const json& require(const json& node, const char* key, const std::string& path, const BuildContext& ctx) {
  const auto it = node.find(key);
  if (it == node.end()) ctx.fail(path + "." + key, "missing");
  return *it;
}

std::string get_string(const json& node, const char* key, const std::string& path, const BuildContext& ctx,
                       std::optional<std::string> fallback) {
  const auto it = node.find(key);
  if (it == node.end() || (it->is_null() && fallback)) {
    if (fallback) return *fallback;
    ctx.fail(path + "." + key, "missing");
  }
  if (!it->is_string()) ctx.fail(path + "." + key, "expected a string, got " + std::string(it->type_name()));
  return it->get<std::string>();
}

std::optional<std::string> get_opt_string(const json& node, const char* key, const std::string& path,
                                          const BuildContext& ctx) {
  const auto it = node.find(key);
  if (it == node.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) ctx.fail(path + "." + key, "expected a string or null, got " + std::string(it->type_name()));
  return it->get<std::string>();
}

bool get_bool(const json& node, const char* key, const std::string& path, const BuildContext& ctx,
              std::optional<bool> fallback) {
  const auto it = node.find(key);
  if (it == node.end() || (it->is_null() && fallback)) {
    if (fallback) return *fallback;
    ctx.fail(path + "." + key, "missing");
  }
  if (!it->is_boolean()) ctx.fail(path + "." + key, "expected true or false, got " + std::string(it->type_name()));
  return it->get<bool>();
}

std::int64_t get_int(const json& node, const char* key, const std::string& path, const BuildContext& ctx,
                     std::optional<std::int64_t> fallback) {
  const auto it = node.find(key);
  if (it == node.end() || (it->is_null() && fallback)) {
    if (fallback) return *fallback;
    ctx.fail(path + "." + key, "missing");
  }
  if (!it->is_number_integer()) ctx.fail(path + "." + key, "expected an integer, got " + std::string(it->type_name()));
  return it->get<std::int64_t>();
}

std::string type_of(const json& node, const std::string& path, const BuildContext& ctx) {
  if (!node.is_object()) ctx.fail(path, "expected an object, got " + std::string(node.type_name()));
  return get_string(node, "type", path, ctx);
}

}  // namespace detail
}  // namespace text
}  // namespace seqedit
