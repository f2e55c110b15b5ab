// Post-processors (TemplateProcessing, ByteLevel, Sequence) and decoders (ByteLevel,
// WordPiece, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence) of tokenizer.json.
#include "internal.hpp"

#include <algorithm>
#include <map>

namespace seqedit {
namespace text {
namespace detail {
namespace {

// ------------------------------------------------------------------ post-processors
class ByteLevelProcessor final : public PostProcessor {
 public:
  explicit ByteLevelProcessor(bool trim_offsets) : trim_(trim_offsets) {}
  void process(std::vector<EncToken>& tokens, bool, std::string_view input) const override {
    if (!trim_) return;
    for (EncToken& t : tokens) {
      if (t.special) continue;
      while (t.span.begin < t.span.end && input[t.span.begin] == ' ') ++t.span.begin;
      while (t.span.end > t.span.begin && input[t.span.end - 1] == ' ') --t.span.end;
    }
  }

 private:
  bool trim_;
};

class TemplateProcessing final : public PostProcessor {
 public:
  struct Piece {
    bool sequence;                    // $A
    std::vector<std::int32_t> ids;    // a special token's ids
  };
  explicit TemplateProcessing(std::vector<Piece> single) : single_(std::move(single)) {}
  void process(std::vector<EncToken>& tokens, bool add_special_tokens, std::string_view) const override {
    if (!add_special_tokens) return;
    std::vector<EncToken> out;
    out.reserve(tokens.size() + 4);
    for (const Piece& p : single_) {
      if (p.sequence) out.insert(out.end(), tokens.begin(), tokens.end());
      else
        for (const std::int32_t id : p.ids) out.push_back({id, Span{0, 0}, true});
    }
    tokens = std::move(out);
  }

 private:
  std::vector<Piece> single_;
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> items) : items_(std::move(items)) {}
  void process(std::vector<EncToken>& tokens, bool add_special_tokens, std::string_view input) const override {
    for (const auto& p : items_) p->process(tokens, add_special_tokens, input);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

/// One template list ("single" or "pair"): [{"SpecialToken": {"id", "type_id"}} | {"Sequence": {"id", "type_id"}}].
std::vector<TemplateProcessing::Piece> parse_template(const json& list, const std::string& path, const json& specials,
                                                      bool single, const BuildContext& ctx) {
  if (!list.is_array()) ctx.fail(path, "expected an array of template pieces");
  std::vector<TemplateProcessing::Piece> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    const json& item = list[i];
    if (!item.is_object() || item.size() != 1) ctx.fail(p, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    const auto it = item.begin();
    const std::string kind = it.key();
    const std::string ip = p + "." + kind;
    check_keys(it.value(), ip, ctx, {"id", "type_id"});
    const std::string id = get_string(it.value(), "id", ip, ctx);
    get_int(it.value(), "type_id", ip, ctx, 0);
    if (kind == "Sequence") {
      if (id != "A" && id != "B") ctx.fail(ip + ".id", "expected \"A\" or \"B\", got '" + id + "'");
      if (single && id == "B") ctx.fail(ip + ".id", "the single-sequence template names sequence B");
      out.push_back({true, {}});
    } else if (kind == "SpecialToken") {
      const auto st = specials.find(id);
      if (st == specials.end()) ctx.fail(ip + ".id", "special token '" + id + "' is not in special_tokens");
      const std::string sp = path.substr(0, path.rfind('.')) + ".special_tokens['" + id + "']";
      check_keys(*st, sp, ctx, {"id", "ids", "tokens"});
      const json& ids = require(*st, "ids", sp, ctx);
      if (!ids.is_array() || ids.empty()) ctx.fail(sp + ".ids", "expected a non-empty array of ids");
      TemplateProcessing::Piece piece{false, {}};
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (!ids[k].is_number_integer() || ids[k].get<std::int64_t>() < 0 ||
            ids[k].get<std::int64_t>() >= (std::int64_t{1} << 30))
          ctx.fail(sp + ".ids[" + std::to_string(k) + "]", "expected an id in [0, 2^30)");
        piece.ids.push_back(ids[k].get<std::int32_t>());
        ctx.referenced_ids.emplace_back(sp + ".ids[" + std::to_string(k) + "]", piece.ids.back());
      }
      out.push_back(std::move(piece));
    } else {
      ctx.fail(p + "." + kind, "unknown template piece (SpecialToken or Sequence)");
    }
  }
  return out;
}

// ------------------------------------------------------------------ decoders
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const std::size_t mark = bytes.size();
      bool ok = true;
      for (std::size_t i = 0; i < t.size();) {
        std::size_t len = 0;
        const int b = char_to_byte(utf8_decode(t, i, len));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
        i += len;
      }
      if (!ok) {  // a token outside the byte alphabet (an added token) stands for itself
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

/// tokenizers' cleanup of English tokenization artefacts (WordPiece `cleanup`).
std::string cleanup(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},       {" ?", "?"},   {" !", "!"},   {" ,", ","},   {" ' ", "'"},  {" n't", "n't"},
      {" 'm", "'m"},     {" do not", " don't"},        {" 's", "'s"},  {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    const std::string f(from);
    const std::string t(to);
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit = s.find(f); hit != std::string::npos; hit = s.find(f, pos)) {
      out.append(s, pos, hit - pos);
      out += t;
      pos = hit + f.size();
    }
    out.append(s, pos, std::string::npos);
    s = std::move(out);
  }
  return s;
}

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
        else t.insert(0, " ");
      }
      if (cleanup_) t = cleanup(std::move(t));
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first) : rep_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (std::size_t p = 0; p < t.size();) {
        if (t.compare(p, rep_.size(), rep_) == 0) {
          if (!(i == 0 && strip_first_)) out += ' ';
          p += rep_.size();
        } else {
          out += t[p++];
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (first_invalid_utf8(pending, false) == std::string::npos) out.push_back(pending);
      else
        for (std::size_t k = 0; k < pending.size(); ++k) out.emplace_back("\xEF\xBF\xBD");
      pending.clear();
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
          std::isxdigit(static_cast<unsigned char>(t[4])))
        byte = std::stoi(t.substr(3, 2), nullptr, 16);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      const std::vector<char32_t> chars = utf8_chars(t);
      std::size_t start_cut = 0;
      for (std::size_t i = 0; i < std::min(start_, chars.size()); ++i) {
        if (chars[i] != content_) break;
        start_cut = i + 1;
      }
      std::size_t stop_cut = chars.size();
      for (std::size_t i = 0; i < std::min(stop_, chars.size()); ++i) {
        const std::size_t index = chars.size() - i - 1;
        if (chars[index] != content_) break;
        stop_cut = index;
      }
      std::string out;
      for (std::size_t i = start_cut; i < std::max(start_cut, stop_cut); ++i) utf8_append(out, chars[i]);
      t = std::move(out);
    }
  }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(const json& pattern, std::string content, const std::string& where)
      : pattern_(pattern, where), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      for (const auto& [range, is_match] : pattern_.find_matches(t)) {
        if (is_match) out += content_;
        else out.append(t, range.first, range.second - range.first);
      }
      t = std::move(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> items) : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& node, const std::string& path, const BuildContext& ctx) {
  const std::string type = type_of(node, path, ctx);
  if (type == "ByteLevel") {
    check_keys(node, path, ctx, {"type", "add_prefix_space", "trim_offsets", "use_regex"});
    get_bool(node, "add_prefix_space", path, ctx, true);
    get_bool(node, "use_regex", path, ctx, true);
    return std::make_unique<ByteLevelProcessor>(get_bool(node, "trim_offsets", path, ctx, true));
  }
  if (type == "TemplateProcessing") {
    check_keys(node, path, ctx, {"type", "single", "pair", "special_tokens"});
    const json& specials = require(node, "special_tokens", path, ctx);
    if (!specials.is_object()) ctx.fail(path + ".special_tokens", "expected an object");
    auto single = parse_template(require(node, "single", path, ctx), path + ".single", specials, true, ctx);
    if (node.contains("pair")) parse_template(node["pair"], path + ".pair", specials, false, ctx);
    return std::make_unique<TemplateProcessing>(std::move(single));
  }
  if (type == "Sequence") {
    check_keys(node, path, ctx, {"type", "processors"});
    const json& list = require(node, "processors", path, ctx);
    if (!list.is_array()) ctx.fail(path + ".processors", "expected an array");
    std::vector<std::unique_ptr<PostProcessor>> items;
    for (std::size_t i = 0; i < list.size(); ++i)
      items.push_back(make_post_processor(list[i], path + ".processors[" + std::to_string(i) + "]", ctx));
    return std::make_unique<SequenceProcessor>(std::move(items));
  }
  ctx.fail(path + ".type",
           "unsupported post-processor '" + type + "' (supported: TemplateProcessing, ByteLevel, Sequence)");
}

std::unique_ptr<Decoder> make_decoder(const json& node, const std::string& path, const BuildContext& ctx) {
  const std::string type = type_of(node, path, ctx);
  const std::string where = ctx.origin + ": " + path;
  if (type == "ByteLevel") {
    check_keys(node, path, ctx, {"type", "add_prefix_space", "trim_offsets", "use_regex"});
    return std::make_unique<ByteLevelDecoder>();
  }
  if (type == "WordPiece") {
    check_keys(node, path, ctx, {"type", "prefix", "cleanup"});
    return std::make_unique<WordPieceDecoder>(get_string(node, "prefix", path, ctx, std::string("##")),
                                              get_bool(node, "cleanup", path, ctx, true));
  }
  if (type == "Metaspace") {
    check_keys(node, path, ctx, {"type", "replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"});
    const std::string rep = get_string(node, "replacement", path, ctx, std::string("\xE2\x96\x81"));
    if (rep.empty() || utf8_chars(rep).size() != 1) ctx.fail(path + ".replacement", "expected one character");
    bool strip_first = true;
    if (node.contains("prepend_scheme")) {
      const std::string s = get_string(node, "prepend_scheme", path, ctx);
      if (s != "always" && s != "first" && s != "never")
        ctx.fail(path + ".prepend_scheme", "unknown scheme '" + s + "' (always, first, never)");
      strip_first = s != "never";
    } else if (node.contains("add_prefix_space")) {
      strip_first = get_bool(node, "add_prefix_space", path, ctx);
    }
    get_bool(node, "split", path, ctx, true);
    return std::make_unique<MetaspaceDecoder>(rep, strip_first);
  }
  if (type == "ByteFallback") {
    check_keys(node, path, ctx, {"type"});
    return std::make_unique<ByteFallbackDecoder>();
  }
  if (type == "Fuse") {
    check_keys(node, path, ctx, {"type"});
    return std::make_unique<FuseDecoder>();
  }
  if (type == "Strip") {
    check_keys(node, path, ctx, {"type", "content", "start", "stop"});
    const std::string content = get_string(node, "content", path, ctx);
    const auto chars = utf8_chars(content);
    if (chars.size() != 1) ctx.fail(path + ".content", "expected one character");
    const std::int64_t start = get_int(node, "start", path, ctx, 0);
    const std::int64_t stop = get_int(node, "stop", path, ctx, 0);
    if (start < 0 || stop < 0) ctx.fail(path, "start and stop must not be negative");
    return std::make_unique<StripDecoder>(chars[0], static_cast<std::size_t>(start), static_cast<std::size_t>(stop));
  }
  if (type == "Replace") {
    check_keys(node, path, ctx, {"type", "pattern", "content"});
    return std::make_unique<ReplaceDecoder>(require(node, "pattern", path, ctx), get_string(node, "content", path, ctx),
                                            where + ".pattern");
  }
  if (type == "Sequence") {
    check_keys(node, path, ctx, {"type", "decoders"});
    const json& list = require(node, "decoders", path, ctx);
    if (!list.is_array()) ctx.fail(path + ".decoders", "expected an array");
    std::vector<std::unique_ptr<Decoder>> items;
    for (std::size_t i = 0; i < list.size(); ++i)
      items.push_back(make_decoder(list[i], path + ".decoders[" + std::to_string(i) + "]", ctx));
    return std::make_unique<SequenceDecoder>(std::move(items));
  }
  ctx.fail(path + ".type", "unsupported decoder '" + type +
                               "' (supported: ByteLevel, WordPiece, Metaspace, ByteFallback, Fuse, Strip, Replace, "
                               "Sequence)");
}

}  // namespace detail
}  // namespace text
}  // namespace seqedit
