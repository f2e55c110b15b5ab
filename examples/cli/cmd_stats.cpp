// `seqedit stats`: retention statistics of a model over text corpora (pipeline.md §7), one npz
// per layer in MEMIT's layout and file name; `seqedit stats merge` sums shards exactly.
//
//   seqedit stats --model DIR --layers L,... --corpus FILE... [--tokens N] [--max-length T]
//                 [--out DIR] [--shard I/N] [--module-tmp T]
//   seqedit stats merge --out FILE IN...
//
// --tokens is the budget of tokens per layer (default 10 · d_k, corpus_stats.hpp); with
// --shard I/N the command reads the I-th of N contiguous parts of the texts (0-based), and the
// shards' files merge exactly into the file of one pass over all of them.

#include "command.hpp"

#include <seqedit/facts/corpus_stats.hpp>
#include <seqedit/facts/stats.hpp>
#include <seqedit/model/model.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit_cli {
namespace {

std::vector<int> parse_layers(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 0)
      throw std::invalid_argument("--layers: '" + item + "' is not a layer number");
    out.push_back(v);
  }
  if (out.empty()) throw std::invalid_argument("--layers: no layer given");
  return out;
}

std::string default_module_tmp(const std::string& model_type) {
  if (model_type == "gpt2") return "transformer.h.{}.mlp.c_proj";
  if (model_type == "gptj") return "transformer.h.{}.mlp.fc_out";
  return "model.layers.{}.mlp.down_proj";
}

class StatsCommand : public Command {
 public:
  std::string name() const override { return "stats"; }
  std::string description() const override {
    return "Retention statistics (Σ k kᵀ per layer over a corpus) in MEMIT's npz layout; 'stats merge' sums shards";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--model", model_, "Checkpoint folder (config.json, safetensors, tokenizer.json)");
    app.add_option("--layers", layers_, "Layers, comma-separated (e.g. 13,14,15,16,17)");
    app.add_option("--corpus", corpus_, "Plain-text (one text per line) or JSON Lines ('text') files");
    app.add_option("--tokens", tokens_, "Tokens per layer (default 10 * d_k)");
    app.add_option("--max-length", max_length_, "Tokens per text (default: the model's position limit)");
    app.add_option("--out", out_, "Output folder")->capture_default_str();
    app.add_option("--shard", shard_, "I/N: this run reads the I-th of N parts of the texts");
    app.add_option("--module-tmp", module_tmp_, "Module name template for the file names");
    merge_ = app.add_subcommand("merge", "Merge statistics files exactly (sums and counts)");
    merge_->add_option("--out", merge_out_, "Merged file")->required();
    merge_->add_option("inputs", merge_in_, "Statistics files of the shards")->required();
  }
  int run() override {
    if (merge_->parsed()) return run_merge();
    if (model_.empty() || layers_.empty() || corpus_.empty())
      throw std::invalid_argument("stats: --model, --layers and --corpus are required");
    const std::vector<int> layers = parse_layers(layers_);
    // The output folder is made (with its parents) before any work, so that a folder
    // that cannot be made fails at once, not after the corpus pass.
    std::error_code ec;
    std::filesystem::create_directories(out_, ec);
    if (ec || !std::filesystem::is_directory(out_))
      throw std::runtime_error("stats: cannot create the output folder '" + out_ + "'" +
                               (ec ? ": " + ec.message() : std::string()));
    const auto model = seqedit::model::Model<float>::load(model_);
    const auto tok = seqedit::text::Tokenizer::from_checkpoint(model_);
    std::vector<std::string> texts;
    for (const std::string& c : corpus_) {
      const std::vector<std::string> t = seqedit::facts::read_corpus(c);
      texts.insert(texts.end(), t.begin(), t.end());
    }
    std::size_t first = 0, last = texts.size();
    std::string suffix;
    if (!shard_.empty()) {
      unsigned i = 0, n = 0;
      char extra = 0;
      if (std::sscanf(shard_.c_str(), "%u/%u%c", &i, &n, &extra) != 2 || n == 0 || i >= n)
        throw std::invalid_argument("--shard: '" + shard_ + "' is not I/N with 0 <= I < N");
      first = texts.size() * i / n;
      last = texts.size() * (i + 1) / n;
      suffix = ".shard" + std::to_string(i) + "of" + std::to_string(n);
    }
    std::vector<std::string> part(texts.begin() + static_cast<std::ptrdiff_t>(first),
                                  texts.begin() + static_cast<std::ptrdiff_t>(last));
    seqedit::facts::StatsOptions opt;
    opt.max_tokens = tokens_;
    opt.max_length = max_length_;
    const std::int64_t budget = tokens_ > 0 ? tokens_ : 10 * static_cast<std::int64_t>(model.config().d_ff);
    const auto t0 = std::chrono::steady_clock::now();
    double last_report = -1;
    opt.progress = [&](std::int64_t tokens, std::size_t done) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s - last_report < 1.0 && done < part.size() && tokens < budget) return;  // at most once a second
      last_report = s;
      const double rate = s > 0 ? static_cast<double>(tokens) / s : 0.0;
      const double eta = rate > 0 ? static_cast<double>(budget - tokens) / rate : 0.0;
      std::cerr << "\rstats: " << tokens << " / " << budget << " tokens, " << done << " texts, "
                << static_cast<long long>(rate) << " tokens/s, ETA " << static_cast<long long>(eta > 0 ? eta : 0) << " s"
                << std::flush;
    };
    std::vector<seqedit::facts::SecondMoment> stats;
    seqedit::facts::collect_stats(model, tok, part, layers, stats, opt);
    std::cerr << "\n";
    const std::string tmp = module_tmp_.empty() ? default_module_tmp(model.config().model_type) : module_tmp_;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const std::size_t p = tmp.find("{}");
      if (p == std::string::npos) throw std::invalid_argument("--module-tmp: '" + tmp + "' has no '{}'");
      const std::string module = tmp.substr(0, p) + std::to_string(layers[i]) + tmp.substr(p + 2);
      std::string file = seqedit::facts::mom2_file_name(module, "float32", stats[i].samples());
      file.insert(file.size() - 4, suffix);  // before ".npz"
      const std::string path = out_ + "/" + file;
      seqedit::facts::write_mom2_npz(path, stats[i]);
      std::cout << path << ": " << stats[i].count() << " tokens, " << stats[i].samples() << " texts\n";
    }
    return 0;
  }

 private:
  int run_merge() {
    const seqedit::facts::SecondMoment m = seqedit::facts::merge_mom2_files(merge_in_);
    seqedit::facts::write_mom2_npz(merge_out_, m);
    std::cout << merge_out_ << ": " << m.count() << " tokens, " << m.samples() << " texts from " << merge_in_.size()
              << " files\n";
    return 0;
  }

  std::string model_, layers_, out_ = ".", shard_, module_tmp_, merge_out_;
  std::vector<std::string> corpus_, merge_in_;
  std::int64_t tokens_ = 0;
  int max_length_ = 0;
  CLI::App* merge_ = nullptr;
};

}  // namespace

SEQEDIT_CLI_COMMAND(StatsCommand)

}  // namespace seqedit_cli
