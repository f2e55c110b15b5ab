// The Tokenizer: reading tokenizer.json (or GPT-2's vocab.json + merges.txt), the added
// vocabulary, and the pipeline added tokens → normalizer → pre-tokenizer → model →
// post-processor, and the decoder.
#include "internal.hpp"

#include <seqedit/io/detail/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace seqedit {
namespace text {

using detail::BuildContext;
using detail::EncToken;
using detail::json;
using detail::NormalizedString;
using detail::Span;

namespace {

/// Largest tokenizer.json / vocab.json / merges.txt read (Llama-3's tokenizer.json is 9 MB).
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{512} << 20;

std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw io::io_error("cannot read '" + path.string() + "': " + ec.message());
  if (size > kMaxFileBytes)
    throw io::format_error(path.string() + ": " + std::to_string(size) + " bytes, more than the " +
                           std::to_string(kMaxFileBytes >> 20) + " MiB accepted");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw io::io_error("cannot open '" + path.string() + "': " + std::strerror(errno));
  std::string s(static_cast<std::size_t>(size), '\0');
  f.read(s.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(f.gcount()) != size)
    throw io::io_error("cannot read '" + path.string() + "': short read");
  return s;
}

}  // namespace

/// One entry of `added_tokens`.
struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

/// Leftmost-longest matching of the added tokens (a byte trie), as the reference's
/// Aho-Corasick automaton in LeftmostLongest mode.
class TokenTrie {
 public:
  void add(const std::string& s, std::size_t index) {
    if (s.empty()) return;
    std::size_t node = 0;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      auto& next = nodes_[node].next;
      const auto it = std::find_if(next.begin(), next.end(), [c](const auto& e) { return e.first == c; });
      if (it != next.end()) {
        node = it->second;
      } else {
        nodes_.push_back({});
        nodes_[node].next.emplace_back(c, nodes_.size() - 1);
        node = nodes_.size() - 1;
      }
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<std::ptrdiff_t>(index);
    first_[static_cast<unsigned char>(s[0])] = true;
    empty_ = false;
  }
  bool empty() const { return empty_; }
  /// Longest token starting at text[i]: (token index, length) or (-1, 0).
  std::pair<std::ptrdiff_t, std::size_t> longest_at(std::string_view text, std::size_t i) const {
    std::pair<std::ptrdiff_t, std::size_t> best{-1, 0};
    if (!first_[static_cast<unsigned char>(text[i])]) return best;
    std::size_t node = 0;
    for (std::size_t j = i; j < text.size(); ++j) {
      const auto c = static_cast<unsigned char>(text[j]);
      const auto& next = nodes_[node].next;
      const auto it = std::find_if(next.begin(), next.end(), [c](const auto& e) { return e.first == c; });
      if (it == next.end()) break;
      node = it->second;
      if (nodes_[node].token >= 0) best = {nodes_[node].token, j + 1 - i};
    }
    return best;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, std::size_t>> next;
    std::ptrdiff_t token = -1;
  };
  std::vector<Node> nodes_{1};
  std::array<bool, 256> first_{};
  bool empty_ = true;
};

class Tokenizer::Impl {
 public:
  std::string origin;
  std::unique_ptr<detail::Normalizer> normalizer;
  std::unique_ptr<detail::PreTokenizer> pre_tokenizer;
  std::unique_ptr<detail::Model> model;
  std::unique_ptr<detail::PostProcessor> post_processor;
  std::unique_ptr<detail::Decoder> decoder;
  std::vector<AddedToken> added;
  std::unordered_map<std::string, std::size_t> added_by_content;
  std::unordered_map<std::int32_t, std::size_t> added_by_id;
  TokenTrie raw_trie;         // added tokens matched on the input text
  TokenTrie normalized_trie;  // added tokens matched on the normalized text
  std::size_t vocab_size = 0;

  void finish(const BuildContext& ctx, const std::string& added_path) {
    for (std::size_t i = 0; i < added.size(); ++i) {
      const AddedToken& t = added[i];
      const std::string p = added_path + "[" + std::to_string(i) + "]";
      if (const auto* existing = model->id_to_token(t.id); existing && *existing != t.content)
        ctx.fail(p + ".id", "id " + std::to_string(t.id) + " of '" + t.content + "' is also the id of '" + *existing +
                                "' in the model vocabulary");
      if (added_by_id.count(t.id))
        ctx.fail(p + ".id", "id " + std::to_string(t.id) + " of '" + t.content + "' is also the id of '" +
                                added[added_by_id[t.id]].content + "'");
      if (added_by_content.count(t.content)) ctx.fail(p + ".content", "'" + t.content + "' is added twice");
      added_by_id[t.id] = i;
      added_by_content[t.content] = i;
      if (t.normalized && normalizer) {
        NormalizedString n = NormalizedString::from_original(t.content, 0);
        normalizer->normalize(n);
        normalized_trie.add(n.text, i);
      } else {
        raw_trie.add(t.content, i);
      }
    }
    vocab_size = model->size();
    for (const AddedToken& t : added) vocab_size = std::max(vocab_size, static_cast<std::size_t>(t.id) + 1);
    for (std::size_t id = 0; id < vocab_size; ++id) {
      const auto i = static_cast<std::int32_t>(id);
      if (!added_by_id.count(i) && !model->id_to_token(i))
        ctx.fail("model.vocab", "ids leave a hole: no token has id " + std::to_string(id) + " (vocabulary size " +
                                    std::to_string(vocab_size) + ")");
    }
    for (const auto& [p, id] : ctx.referenced_ids)
      if (!token_of(id)) ctx.fail(p, "id " + std::to_string(id) + " is not in the vocabulary");
  }

  /// Splits `s` at the added tokens of `trie`: pieces (token index or -1, byte range).
  std::vector<std::pair<std::ptrdiff_t, std::pair<std::size_t, std::size_t>>> split_added(const TokenTrie& trie,
                                                                                         std::string_view s) const {
    std::vector<std::pair<std::ptrdiff_t, std::pair<std::size_t, std::size_t>>> out;
    std::size_t start_offset = 0;
    if (!trie.empty()) {
      for (std::size_t i = 0; i < s.size();) {
        const auto [tok, len] = trie.longest_at(s, i);
        if (tok < 0) {
          ++i;
          continue;
        }
        const AddedToken& t = added[static_cast<std::size_t>(tok)];
        std::size_t start = i;
        std::size_t stop = i + len;
        i = stop;
        if (start < start_offset) continue;
        if (t.single_word) {
          const bool start_ok = start == 0 || !ends_with_word(s.substr(0, start));
          const bool stop_ok = stop == s.size() || !starts_with_word(s.substr(stop));
          if (!start_ok || !stop_ok) continue;
        }
        if (t.lstrip) start = std::max(start_offset, start - trailing_space(s.substr(0, start)));
        if (t.rstrip) stop += leading_space(s.substr(stop));
        if (start_offset < start) out.push_back({-1, {start_offset, start}});
        out.push_back({tok, {start, stop}});
        start_offset = stop;
        i = std::max(i, stop);
      }
    }
    if (start_offset < s.size()) out.push_back({-1, {start_offset, s.size()}});
    return out;
  }

  static bool ends_with_word(std::string_view s) {
    std::size_t p = s.size() - 1;
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    std::size_t len = 0;
    return detail::is_word_char(detail::utf8_decode(s, p, len));
  }
  static bool starts_with_word(std::string_view s) {
    std::size_t len = 0;
    return detail::is_word_char(detail::utf8_decode(s, 0, len));
  }
  static std::size_t leading_space(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t len = 0;
      if (!detail::is_whitespace(detail::utf8_decode(s, i, len))) break;
      i += len;
    }
    return i;
  }
  static std::size_t trailing_space(std::string_view s) {
    std::size_t e = s.size();
    while (e > 0) {
      std::size_t p = e - 1;
      while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
      std::size_t len = 0;
      if (!detail::is_whitespace(detail::utf8_decode(s, p, len))) break;
      e = p;
    }
    return s.size() - e;
  }

  void push_added(std::vector<EncToken>& out, std::ptrdiff_t tok, Span span) const {
    const AddedToken& t = added[static_cast<std::size_t>(tok)];
    out.push_back({t.id, span, t.special});
  }

  void encode_piece(NormalizedString piece, std::vector<EncToken>& out) const {
    if (normalizer) normalizer->normalize(piece);
    if (piece.empty()) return;
    for (const auto& [tok, range] : split_added(normalized_trie, piece.text)) {
      if (range.first == range.second) continue;
      if (tok >= 0) {
        push_added(out, tok, piece.original(range.first, range.second));
        continue;
      }
      detail::Words words;
      words.push_back(piece.slice(range.first, range.second));
      if (pre_tokenizer) pre_tokenizer->pre_tokenize(words);
      std::vector<detail::ModelToken> mt;
      for (const NormalizedString& w : words) {
        if (w.empty()) continue;
        mt.clear();
        model->tokenize(w.text, mt);
        for (const auto& t : mt) out.push_back({t.id, w.original(t.begin, t.end), false});
      }
    }
  }

  std::vector<EncToken> encode(std::string_view text, bool add_special_tokens) const {
    if (text.size() > max_text_bytes)
      throw std::invalid_argument("seqedit::text: text of " + std::to_string(text.size()) +
                                  " bytes is longer than the " + std::to_string(max_text_bytes) +
                                  " bytes accepted (max_text_bytes)");
    const std::size_t bad = detail::first_invalid_utf8(text, true);
    if (bad != std::string_view::npos) {
      if (text[bad] == '\0')
        throw std::invalid_argument("seqedit::text: NUL byte at byte offset " + std::to_string(bad) + " of the text");
      throw std::invalid_argument("seqedit::text: invalid UTF-8 at byte offset " + std::to_string(bad) +
                                  " of the text");
    }
    std::vector<EncToken> out;
    for (const auto& [tok, range] : split_added(raw_trie, text)) {
      if (range.first == range.second) continue;
      if (tok >= 0) {
        push_added(out, tok, Span{static_cast<std::uint32_t>(range.first), static_cast<std::uint32_t>(range.second)});
        continue;
      }
      encode_piece(NormalizedString::from_original(text.substr(range.first, range.second - range.first), range.first),
                   out);
    }
    if (post_processor) post_processor->process(out, add_special_tokens, text);
    return out;
  }

  const std::string* token_of(std::int32_t id) const {
    const auto it = added_by_id.find(id);
    if (it != added_by_id.end()) return &added[it->second].content;
    return model->id_to_token(id);
  }
  bool special(std::int32_t id) const {
    const auto it = added_by_id.find(id);
    return it != added_by_id.end() && added[it->second].special;
  }
};

namespace {

void parse_added_tokens(const json& list, const std::string& path, const BuildContext& ctx,
                        std::vector<AddedToken>& out) {
  if (!list.is_array()) ctx.fail(path, "expected an array");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    const json& n = list[i];
    detail::check_keys(n, p, ctx, {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"});
    AddedToken t;
    const std::int64_t id = detail::get_int(n, "id", p, ctx);
    if (id < 0 || static_cast<std::uint64_t>(id) >= ctx.max_id)
      ctx.fail(p + ".id", "id " + std::to_string(id) + " out of range [0, " + std::to_string(ctx.max_id) +
                              "): the ids would leave holes");
    t.id = static_cast<std::int32_t>(id);
    t.content = detail::get_string(n, "content", p, ctx);
    if (t.content.empty()) ctx.fail(p + ".content", "empty");
    if (detail::first_invalid_utf8(t.content, true) != std::string::npos) ctx.fail(p + ".content", "invalid UTF-8");
    t.single_word = detail::get_bool(n, "single_word", p, ctx, false);
    t.lstrip = detail::get_bool(n, "lstrip", p, ctx, false);
    t.rstrip = detail::get_bool(n, "rstrip", p, ctx, false);
    t.special = detail::get_bool(n, "special", p, ctx, false);
    t.normalized = detail::get_bool(n, "normalized", p, ctx, !t.special);
    out.push_back(std::move(t));
  }
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view text, const std::string& origin) {
  const json root = io::detail::parse_json_strict(text.data(), text.data() + text.size(), origin, "tokenizer");
  BuildContext ctx;
  ctx.origin = origin;
  detail::check_keys(root, "(root)", ctx,
                     {"version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "model",
                      "post_processor", "decoder"});
  for (const char* k : {"truncation", "padding"}) {
    const auto it = root.find(k);
    if (it != root.end() && !it->is_null())
      ctx.fail(k, "only null is supported (encode never truncates or pads)");
  }
  {
    std::size_t entries = 0;
    const auto m = root.find("model");
    if (m != root.end() && m->is_object()) {
      const auto v = m->find("vocab");
      if (v != m->end()) entries += v->size();
    }
    const auto a = root.find("added_tokens");
    if (a != root.end()) entries += a->size();
    ctx.max_id = std::max<std::size_t>(entries, 1);
  }
  auto impl = std::make_shared<Impl>();
  impl->origin = origin;
  auto opt = [&](const char* key) -> const json* {
    const auto it = root.find(key);
    return it == root.end() || it->is_null() ? nullptr : &*it;
  };
  if (const json* n = opt("normalizer")) impl->normalizer = detail::make_normalizer(*n, "normalizer", ctx);
  if (const json* n = opt("pre_tokenizer")) impl->pre_tokenizer = detail::make_pre_tokenizer(*n, "pre_tokenizer", ctx);
  const json* m = opt("model");
  if (!m) ctx.fail("model", "missing");
  impl->model = detail::make_model(*m, "model", ctx);
  if (const json* n = opt("post_processor"))
    impl->post_processor = detail::make_post_processor(*n, "post_processor", ctx);
  if (const json* n = opt("decoder")) impl->decoder = detail::make_decoder(*n, "decoder", ctx);
  if (const json* n = opt("added_tokens")) parse_added_tokens(*n, "added_tokens", ctx, impl->added);
  impl->finish(ctx, "added_tokens");
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) { return from_json(read_file(path), path.string()); }

Tokenizer Tokenizer::from_gpt2_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt) {
  const std::string vtext = read_file(vocab_json);
  const json vocab =
      io::detail::parse_json_strict(vtext.data(), vtext.data() + vtext.size(), vocab_json.string(), "vocabulary");
  BuildContext ctx;
  ctx.origin = vocab_json.parent_path().string().empty() ? std::string(".") : vocab_json.parent_path().string();
  ctx.max_id = std::max<std::size_t>(vocab.size(), 1);
  auto impl = std::make_shared<Impl>();
  impl->origin = vocab_json.string() + " + " + merges_txt.string();
  impl->model = detail::make_gpt2_bpe(vocab, read_file(merges_txt), ctx);
  const json pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  impl->pre_tokenizer = detail::make_pre_tokenizer(pre, "pre_tokenizer", ctx);
  const json post = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  impl->post_processor = detail::make_post_processor(post, "post_processor", ctx);
  impl->decoder = detail::make_decoder(json{{"type", "ByteLevel"}}, "decoder", ctx);
  if (const auto id = impl->model->token_to_id("<|endoftext|>")) {
    AddedToken eot;
    eot.content = "<|endoftext|>";
    eot.id = *id;
    eot.special = true;
    impl->added.push_back(eot);
  }
  impl->finish(ctx, "added_tokens");
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_checkpoint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw io::io_error("'" + dir.string() + "' is not a folder");
  if (fs::exists(dir / "tokenizer.json", ec)) return from_file(dir / "tokenizer.json");
  if (fs::exists(dir / "vocab.json", ec) && fs::exists(dir / "merges.txt", ec))
    return from_gpt2_files(dir / "vocab.json", dir / "merges.txt");
  throw io::format_error(dir.string() + ": no tokenizer.json, nor vocab.json + merges.txt");
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const auto toks = impl_->encode(text, add_special_tokens);
  Encoding e;
  e.ids.reserve(toks.size());
  e.offsets.reserve(toks.size());
  e.tokens.reserve(toks.size());
  e.special_tokens_mask.reserve(toks.size());
  for (const EncToken& t : toks) {
    e.ids.push_back(t.id);
    e.offsets.emplace_back(t.span.begin, t.span.end);
    const std::string* s = impl_->token_of(t.id);
    e.tokens.push_back(s ? *s : std::string());
    e.special_tokens_mask.push_back(t.special ? 1 : 0);
  }
  return e;
}

std::vector<std::int32_t> Tokenizer::encode_ids(std::string_view text, bool add_special_tokens) const {
  const auto toks = impl_->encode(text, add_special_tokens);
  std::vector<std::int32_t> ids;
  ids.reserve(toks.size());
  for (const EncToken& t : toks) ids.push_back(t.id);
  return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string* s = impl_->token_of(ids[i]);
    if (!s)
      throw std::invalid_argument("seqedit::text: decode: ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) +
                                  " is not a token id (vocabulary size " + std::to_string(impl_->vocab_size) + ")");
    if (skip_special_tokens && impl_->special(ids[i])) continue;
    tokens.push_back(*s);
  }
  if (!impl_->decoder) {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  impl_->decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto it = impl_->added_by_content.find(std::string(token));
  if (it != impl_->added_by_content.end()) return impl_->added[it->second].id;
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(std::int32_t id) const {
  const std::string* s = impl_->token_of(id);
  if (!s)
    throw std::invalid_argument("seqedit::text: id " + std::to_string(id) + " is not a token id (vocabulary size " +
                                std::to_string(impl_->vocab_size) + ")");
  return *s;
}

std::size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
bool Tokenizer::is_special(std::int32_t id) const { return impl_->special(id); }
const std::string& Tokenizer::origin() const { return impl_->origin; }

}  // namespace text
}  // namespace seqedit
