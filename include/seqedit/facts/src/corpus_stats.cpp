// Retention statistics of a model over a corpus (pipeline.md §7).

#include "seqedit/facts/corpus_stats.hpp"

#include "seqedit/io/detail/file.hpp"
#include "seqedit/io/detail/json.hpp"
#include "seqedit/io/error.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

std::vector<std::string> read_corpus(const std::string& path) {
  const std::vector<char> buf = io::detail::read_whole_file(path, std::uint64_t(1) << 34);
  const std::string text(buf.begin(), buf.end());
  std::vector<std::string> out;
  bool decided = false, jsonl = false;
  std::size_t start = 0, line = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line;
    std::string s = text.substr(start, end - start);
    start = end + 1;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    if (s.find_first_not_of(" \t") == std::string::npos) continue;
    if (!decided) {
      jsonl = s[s.find_first_not_of(" \t")] == '{';
      decided = true;
    }
    if (jsonl) {
      const std::string where = path + ": line " + std::to_string(line);
      const auto j = io::detail::parse_json_strict(s.data(), s.data() + s.size(), where, "corpus");
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
        throw io::format_error(where + ": a JSON Lines corpus needs a string field 'text'");
      out.push_back(j["text"].get<std::string>());
    } else {
      out.push_back(s);
    }
  }
  return out;
}

std::size_t collect_stats(const model::Model<float>& model, const text::Tokenizer& tok,
                          const std::vector<std::string>& texts, const std::vector<int>& layers,
                          std::vector<SecondMoment>& stats, const StatsOptions& o) {
  const model::ModelConfig& cfg = model.config();
  if (layers.empty()) throw std::invalid_argument("collect_stats: no layers");
  for (int l : layers)
    if (l < 0 || l >= cfg.n_layer)
      throw std::invalid_argument("collect_stats: layer " + std::to_string(l) + " is outside [0, " +
                                  std::to_string(cfg.n_layer) + ")");
  if (stats.empty())
    for (std::size_t i = 0; i < layers.size(); ++i) stats.emplace_back(cfg.d_ff);
  if (stats.size() != layers.size())
    throw std::invalid_argument("collect_stats: " + std::to_string(stats.size()) + " accumulators for " +
                                std::to_string(layers.size()) + " layers");
  for (const SecondMoment& s : stats)
    if (s.dim() != cfg.d_ff)
      throw std::invalid_argument("collect_stats: an accumulator has d_k " + std::to_string(s.dim()) +
                                  ", the model has " + std::to_string(cfg.d_ff));
  const std::int64_t budget = o.max_tokens > 0 ? o.max_tokens : 10 * static_cast<std::int64_t>(cfg.d_ff);
  const int max_len = o.max_length > 0 ? std::min(o.max_length, cfg.max_positions) : cfg.max_positions;
  if (o.texts_per_pass < 1) throw std::invalid_argument("collect_stats: texts_per_pass must be >= 1");
  std::size_t next = o.first_text;
  while (next < texts.size() && stats[0].count() < budget) {
    model::Batch batch;
    model::RunOptions<float> opt;
    opt.key_layers = layers;
    std::vector<int> lengths;
    std::int64_t planned = stats[0].count();
    while (next < texts.size() && static_cast<int>(batch.prompts.size()) < o.texts_per_pass && planned < budget) {
      std::vector<std::int32_t> ids = tok.encode_ids(texts[next], true);
      ++next;
      if (static_cast<int>(ids.size()) > max_len) ids.resize(static_cast<std::size_t>(max_len));
      if (ids.empty()) continue;
      const int p = static_cast<int>(batch.prompts.size());
      for (int t = 0; t < static_cast<int>(ids.size()); ++t) opt.key_sites.push_back({p, t});
      lengths.push_back(static_cast<int>(ids.size()));
      planned += static_cast<std::int64_t>(ids.size());
      batch.prompts.push_back(std::move(ids));
    }
    if (batch.prompts.empty()) break;
    const auto r = model.run(batch, opt);
    for (std::size_t li = 0; li < layers.size(); ++li) {
      Eigen::Index col = 0;
      for (int len : lengths) {
        stats[li].add(Eigen::MatrixXf(r.keys[li].middleCols(col, len)), 1);  // one text at a time: exact merging
        col += len;
      }
    }
    if (o.progress) o.progress(stats[0].count(), next);
  }
  return next;
}

}  // namespace facts
}  // namespace seqedit
