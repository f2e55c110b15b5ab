// Models of tokenizer.json: BPE (merges by rank, leftmost first; ignore_merges,
// byte_fallback, fuse_unk, unk_token, continuing_subword_prefix, end_of_word_suffix) and
// WordPiece (greedy longest match first).
#include "internal.hpp"

#include <cstdio>
#include <list>
#include <mutex>
#include <queue>
#include <sstream>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace seqedit {
namespace text {
namespace detail {
namespace {

/// Hash of a token string (XXH3, 64 bits).
inline std::uint64_t hash_bytes(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

/// Token string → id and id → token string of a model, checked for collisions. The
/// string → id direction is an open-addressing table of ids (linear probing, at most half
/// full) looked up by string_view: no key copy, one probe sequence per lookup.
struct Vocabulary {
  std::vector<std::string> tokens;    // by id ("" = hole)
  std::vector<std::uint8_t> present;  // by id
  std::size_t count = 0;              // number of tokens

  void read(const json& vocab, const std::string& path, const BuildContext& ctx) {
    if (!vocab.is_object()) ctx.fail(path, "expected an object of token: id");
    reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it->is_number_integer()) ctx.fail(path + "['" + it.key() + "']", "expected an integer id");
      const std::int64_t id = it->get<std::int64_t>();
      if (id < 0 || static_cast<std::uint64_t>(id) >= ctx.max_id)
        ctx.fail(path + "['" + it.key() + "']", "id " + std::to_string(id) + " out of range [0, " +
                                                    std::to_string(ctx.max_id) + "): the ids would leave holes");
      add(it.key(), static_cast<std::int32_t>(id), path, ctx);
    }
  }
  void add(const std::string& token, std::int32_t id, const std::string& path, const BuildContext& ctx) {
    const auto u = static_cast<std::size_t>(id);
    if (u >= tokens.size()) {
      tokens.resize(u + 1);
      present.resize(u + 1, 0);
    }
    if (present[u])
      ctx.fail(path + "['" + token + "']", "id " + std::to_string(id) + " is also the id of '" + tokens[u] + "'");
    const bool known = find(token).has_value();  // string → id keeps the first id
    if (2 * (count + 1) + 2 > slots_.size()) reserve(count + 1);
    tokens[u] = token;
    present[u] = 1;
    ++count;
    if (!known) insert_slot(id);
  }
  std::optional<std::int32_t> find(std::string_view t) const {
    if (slots_.empty()) return std::nullopt;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(hash_bytes(t)) & mask;; i = (i + 1) & mask) {
      const std::int32_t id = slots_[i];
      if (id < 0) return std::nullopt;
      if (tokens[static_cast<std::size_t>(id)] == t) return id;
    }
  }
  const std::string* token(std::int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens.size() || !present[static_cast<std::size_t>(id)])
      return nullptr;
    return &tokens[static_cast<std::size_t>(id)];
  }

 private:
  /// Makes room for n tokens (the table at most half full); rehashes the present ones.
  void reserve(std::size_t n) {
    std::size_t size = 16;
    while (size < 2 * n + 2) size *= 2;
    if (size <= slots_.size()) return;
    slots_.assign(size, -1);
    for (std::size_t id = 0; id < tokens.size(); ++id)
      if (present[id] && !find(tokens[id])) insert_slot(static_cast<std::int32_t>(id));
  }
  void insert_slot(std::int32_t id) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>(hash_bytes(tokens[static_cast<std::size_t>(id)])) & mask;
    while (slots_[i] >= 0) i = (i + 1) & mask;
    slots_[i] = id;
  }
  std::vector<std::int32_t> slots_;  // ids, -1 = empty
};

/// A bounded, locked cache of word → tokens for repeated words.
class WordCache {
 public:
  bool get(std::string_view w, std::vector<ModelToken>& out) const {
    thread_local std::string key;
    key.assign(w.data(), w.size());
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = map_.find(key);
    if (it == map_.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void put(std::string_view w, const ModelToken* first, const ModelToken* last) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (map_.size() >= kCapacity) map_.clear();  // simple and bounded
    map_.emplace(std::string(w), std::vector<ModelToken>(first, last));
  }
  static constexpr std::size_t kMaxWordBytes = 256;

 private:
  static constexpr std::size_t kCapacity = 100000;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::vector<ModelToken>> map_;
};

class BPE final : public Model {
 public:
  struct Options {
    std::optional<std::string> unk_token;
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
  };

  BPE(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges,
      const std::vector<std::string>& merge_paths, Options opt, const std::string& path, const BuildContext& ctx)
      : vocab_(std::move(vocab)), opt_(std::move(opt)) {
    if (opt_.unk_token) {
      const auto id = vocab_.find(*opt_.unk_token);
      if (!id) ctx.fail(path + ".unk_token", "'" + *opt_.unk_token + "' is not in the vocabulary");
      unk_id_ = *id;
    }
    ranks_.reserve(merges.size() * 2);
    const std::size_t plen = opt_.continuing_subword_prefix.size();
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const auto& [a, b] = merges[r];
      const auto ia = vocab_.find(a);
      if (!ia) ctx.fail(merge_paths[r], "merge names '" + a + "', which is not in the vocabulary");
      const auto ib = vocab_.find(b);
      if (!ib) ctx.fail(merge_paths[r], "merge names '" + b + "', which is not in the vocabulary");
      const std::string merged =
          a + (plen && b.compare(0, plen, opt_.continuing_subword_prefix) == 0 ? b.substr(plen) : b);
      const auto im = vocab_.find(merged);
      if (!im) ctx.fail(merge_paths[r], "the merged token '" + merged + "' is not in the vocabulary");
      ranks_.emplace(key(*ia, *ib), std::make_pair(static_cast<std::int32_t>(r), *im));
    }
    if (opt_.byte_fallback) {
      for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        const auto id = vocab_.find(name);
        byte_ids_[static_cast<std::size_t>(b)] = id ? *id : -1;
      }
    }
  }

  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    if (word.empty()) return;
    if (opt_.ignore_merges) {
      if (const auto id = vocab_.find(word)) {
        out.push_back({*id, 0, word.size()});
        return;
      }
    }
    const bool cacheable = word.size() <= WordCache::kMaxWordBytes;
    if (cacheable && cache_.get(word, out)) return;
    const std::size_t first = out.size();
    merge_word(word, out);
    if (cacheable) cache_.put(word, out.data() + first, out.data() + out.size());
  }

  std::optional<std::int32_t> token_to_id(std::string_view t) const override { return vocab_.find(t); }
  const std::string* id_to_token(std::int32_t id) const override { return vocab_.token(id); }
  std::size_t size() const override { return vocab_.tokens.size(); }

 private:
  struct Symbol {
    std::int32_t id;
    std::size_t begin, len;  // bytes of the word
    std::ptrdiff_t prev, next;
  };
  struct Merge {
    std::size_t pos;
    std::int32_t rank;
    std::int32_t new_id;
    bool operator<(const Merge& o) const {  // max-heap: lowest rank, then leftmost, on top
      if (rank != o.rank) return rank > o.rank;
      return pos > o.pos;
    }
  };
  static std::uint64_t key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  const std::pair<std::int32_t, std::int32_t>* find_merge(std::int32_t a, std::int32_t b) const {
    const auto it = ranks_.find(key(a, b));
    return it == ranks_.end() ? nullptr : &it->second;
  }

  void merge_word(std::string_view w, std::vector<ModelToken>& out) const {
    std::vector<Symbol> sym;
    sym.reserve(w.size());
    auto add = [&](std::int32_t id, std::size_t begin, std::size_t len) {
      const auto n = static_cast<std::ptrdiff_t>(sym.size());
      sym.push_back({id, begin, len, n - 1, n + 1});
    };
    bool unk = false;  // a pending unk token over bytes [unk_begin, unk_begin + unk_len)
    std::size_t unk_begin = 0, unk_len = 0;
    std::string s;
    for (std::size_t i = 0; i < w.size();) {
      const std::size_t clen = std::min(utf8_len(static_cast<unsigned char>(w[i])), w.size() - i);
      const bool is_first = i == 0;
      const bool is_last = i + clen == w.size();
      s.clear();
      if (!is_first) s += opt_.continuing_subword_prefix;
      s.append(w.data() + i, clen);
      if (is_last) s += opt_.end_of_word_suffix;
      if (const auto id = vocab_.find(s)) {
        if (unk) add(unk_id_, unk_begin, unk_len);
        unk = false;
        add(*id, i, clen);
      } else {
        bool done = false;
        if (opt_.byte_fallback) {
          bool all = true;
          for (const char c : s) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
          if (all) {
            if (unk) add(unk_id_, unk_begin, unk_len);
            unk = false;
            // Every byte token spans the whole character (offsets never split a character).
            for (const char c : s) add(byte_ids_[static_cast<unsigned char>(c)], i, clen);
            done = true;
          }
        }
        if (!done && opt_.unk_token) {
          if (unk && opt_.fuse_unk) {
            unk_len = i + clen - unk_begin;
          } else {
            if (unk) add(unk_id_, unk_begin, unk_len);
            unk = true;
            unk_begin = i;
            unk_len = clen;
          }
        }
      }
      i += clen;
    }
    if (unk) add(unk_id_, unk_begin, unk_len);
    if (sym.empty()) return;
    sym.back().next = -1;

    std::priority_queue<Merge> queue;
    for (std::size_t i = 0; i + 1 < sym.size(); ++i)
      if (const auto* m = find_merge(sym[i].id, sym[i + 1].id)) queue.push({i, m->first, m->second});
    while (!queue.empty()) {
      const Merge top = queue.top();
      queue.pop();
      Symbol& cur = sym[top.pos];
      if (cur.len == 0 || cur.next < 0) continue;
      const auto next_pos = static_cast<std::size_t>(cur.next);
      const Symbol right = sym[next_pos];
      const auto* m = find_merge(cur.id, right.id);
      if (!m || m->second != top.new_id) continue;
      cur.id = top.new_id;
      cur.len = right.begin + right.len - cur.begin;
      cur.next = right.next;
      sym[next_pos].len = 0;
      if (right.next >= 0) sym[static_cast<std::size_t>(right.next)].prev = static_cast<std::ptrdiff_t>(top.pos);
      if (cur.prev >= 0) {
        const auto p = static_cast<std::size_t>(cur.prev);
        if (const auto* mp = find_merge(sym[p].id, cur.id)) queue.push({p, mp->first, mp->second});
      }
      if (cur.next >= 0) {
        if (const auto* mn = find_merge(cur.id, sym[static_cast<std::size_t>(cur.next)].id))
          queue.push({top.pos, mn->first, mn->second});
      }
    }
    for (const Symbol& x : sym)
      if (x.len != 0) out.push_back({x.id, x.begin, x.begin + x.len});
  }

  Vocabulary vocab_;
  Options opt_;
  std::int32_t unk_id_ = -1;
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> ranks_;
  std::array<std::int32_t, 256> byte_ids_{};
  WordCache cache_;
};

class WordPiece final : public Model {
 public:
  WordPiece(Vocabulary vocab, std::string unk, std::string prefix, std::size_t max_chars, const std::string& path,
            const BuildContext& ctx)
      : vocab_(std::move(vocab)), prefix_(std::move(prefix)), max_chars_(max_chars) {
    const auto id = vocab_.find(unk);
    if (!id) ctx.fail(path + ".unk_token", "'" + unk + "' is not in the vocabulary");
    unk_id_ = *id;
  }
  void tokenize(std::string_view w, std::vector<ModelToken>& out) const override {
    if (w.empty()) return;
    std::size_t nchars = 0;
    for (const char c : w) nchars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (nchars > max_chars_) {
      out.push_back({unk_id_, 0, w.size()});
      return;
    }
    const std::size_t first = out.size();
    std::string sub;
    std::size_t start = 0;
    while (start < w.size()) {
      std::size_t end = w.size();
      std::optional<std::int32_t> found;
      while (start < end) {
        sub.clear();
        if (start > 0) sub += prefix_;
        sub.append(w.data() + start, end - start);
        if ((found = vocab_.find(sub))) break;
        --end;
        while (end > start && (static_cast<unsigned char>(w[end]) & 0xC0) == 0x80) --end;
      }
      if (!found) {
        out.resize(first);
        out.push_back({unk_id_, 0, w.size()});
        return;
      }
      out.push_back({*found, start, end});
      start = end;
    }
  }
  std::optional<std::int32_t> token_to_id(std::string_view t) const override { return vocab_.find(t); }
  const std::string* id_to_token(std::int32_t id) const override { return vocab_.token(id); }
  std::size_t size() const override { return vocab_.tokens.size(); }

 private:
  Vocabulary vocab_;
  std::string prefix_;
  std::size_t max_chars_;
  std::int32_t unk_id_ = -1;
};

}  // namespace

std::unique_ptr<Model> make_model(const json& node, const std::string& path, const BuildContext& ctx) {
  const std::string type = type_of(node, path, ctx);
  if (type == "BPE") {
    check_keys(node, path, ctx,
               {"type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
                "byte_fallback", "ignore_merges", "vocab", "merges"});
    if (const auto it = node.find("dropout"); it != node.end() && !it->is_null()) {
      if (!it->is_number()) ctx.fail(path + ".dropout", "expected a number or null");
      if (it->get<double>() != 0.0) ctx.fail(path + ".dropout", "BPE dropout is random; not supported for encoding");
    }
    Vocabulary vocab;
    vocab.read(require(node, "vocab", path, ctx), path + ".vocab", ctx);
    BPE::Options opt;
    opt.unk_token = get_opt_string(node, "unk_token", path, ctx);
    opt.continuing_subword_prefix = get_opt_string(node, "continuing_subword_prefix", path, ctx).value_or("");
    opt.end_of_word_suffix = get_opt_string(node, "end_of_word_suffix", path, ctx).value_or("");
    opt.fuse_unk = get_bool(node, "fuse_unk", path, ctx, false);
    opt.byte_fallback = get_bool(node, "byte_fallback", path, ctx, false);
    opt.ignore_merges = get_bool(node, "ignore_merges", path, ctx, false);
    const json& mj = require(node, "merges", path, ctx);
    if (!mj.is_array()) ctx.fail(path + ".merges", "expected an array");
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<std::string> paths;
    merges.reserve(mj.size());
    paths.reserve(mj.size());
    for (std::size_t i = 0; i < mj.size(); ++i) {
      const std::string p = path + ".merges[" + std::to_string(i) + "]";
      const json& m = mj[i];
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() || s.find(' ', sp + 1) != std::string::npos)
          ctx.fail(p, "expected \"left right\" (two tokens separated by one space), got '" + s + "'");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        ctx.fail(p, "expected \"left right\" or [\"left\", \"right\"]");
      }
      paths.push_back(p);
    }
    return std::make_unique<BPE>(std::move(vocab), merges, paths, std::move(opt), path, ctx);
  }
  if (type == "WordPiece") {
    check_keys(node, path, ctx, {"type", "unk_token", "continuing_subword_prefix", "max_input_chars_per_word", "vocab"});
    Vocabulary vocab;
    vocab.read(require(node, "vocab", path, ctx), path + ".vocab", ctx);
    const std::int64_t max_chars = get_int(node, "max_input_chars_per_word", path, ctx, 100);
    if (max_chars < 0) ctx.fail(path + ".max_input_chars_per_word", "must not be negative");
    return std::make_unique<WordPiece>(std::move(vocab), get_string(node, "unk_token", path, ctx, std::string("[UNK]")),
                                       get_string(node, "continuing_subword_prefix", path, ctx, std::string("##")),
                                       static_cast<std::size_t>(max_chars), path, ctx);
  }
  ctx.fail(path + ".type", "unsupported model '" + type + "' (supported: BPE, WordPiece)");
}

std::unique_ptr<Model> make_gpt2_bpe(const json& vocab_json, const std::string& merges_txt, const BuildContext& ctx) {
  Vocabulary vocab;
  vocab.read(vocab_json, "vocab.json", ctx);
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::string> paths;
  std::istringstream in(merges_txt);
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
    const auto sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
      ctx.fail("merges.txt line " + std::to_string(lineno), "expected \"left right\", got '" + line + "'");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    paths.push_back("merges.txt line " + std::to_string(lineno));
  }
  return std::make_unique<BPE>(std::move(vocab), merges, paths, BPE::Options{}, "vocab.json", ctx);
}

}  // namespace detail
}  // namespace text
}  // namespace seqedit
