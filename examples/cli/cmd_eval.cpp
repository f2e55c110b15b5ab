// `seqedit eval`: scores of a (possibly edited) model on edit requests (pipeline.md §8).
//
//   seqedit eval --model DIR --requests FILE [--cases A-B] [--text FILE] [--json OUT]
//
// CounterFact and JSON Lines requests: efficacy, paraphrase and neighbourhood success rates,
// their magnitudes and accuracy variants, and the Score; zsRE requests: token accuracy of the
// rewrite, the paraphrase and the neighbourhood answers. --text adds the perplexity of a text
// file (plain text, one text per line, or JSON Lines with a `text` field). A table goes to
// stdout; --json also writes the numbers to OUT (atomically).

#include "command.hpp"

#include <seqedit/facts/corpus_stats.hpp>
#include <seqedit/facts/evaluate.hpp>
#include <seqedit/facts/requests.hpp>
#include <seqedit/io/atomic_file.hpp>
#include <seqedit/model/model.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit_cli {
namespace {

namespace sf = seqedit::facts;
namespace fs = std::filesystem;

/// "A-B" (inclusive) or "A": non-negative case ids with A <= B.
std::pair<std::int64_t, std::int64_t> parse_cases(const std::string& s) {
  long long a = 0, b = 0;
  char extra = 0;
  int n = std::sscanf(s.c_str(), "%lld-%lld%c", &a, &b, &extra);
  if (n == 1 && s.find('-') == std::string::npos) b = a;
  else if (n != 2)
    throw std::invalid_argument("--cases: '" + s + "' is not A-B (case ids, inclusive) or A");
  if (a < 0 || b < a)
    throw std::invalid_argument("--cases: '" + s + "' needs 0 <= A <= B");
  return {a, b};
}

const char* format_name(sf::RequestFormat f) {
  switch (f) {
    case sf::RequestFormat::CounterFact: return "counterfact";
    case sf::RequestFormat::ZsRE: return "zsre";
    case sf::RequestFormat::JsonLines: return "jsonl";
  }
  return "unknown";
}

void row(std::ostream& out, const std::string& name, double value, const std::string& note = std::string()) {
  out << "  " << std::left << std::setw(28) << name << std::right << std::setw(10) << std::fixed
      << std::setprecision(2) << value;
  if (!note.empty()) out << "   " << note;
  out << "\n";
}

class EvalCommand : public Command {
 public:
  std::string name() const override { return "eval"; }
  std::string description() const override {
    return "Scores a model on edit requests: CounterFact efficacy / paraphrase / neighbourhood, zsRE accuracy, "
           "perplexity";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--model", model_, "Checkpoint folder (config.json, safetensors, tokenizer.json)")->required();
    app.add_option("--requests", requests_, "CounterFact JSON, MEMIT's zsRE JSON or JSON Lines requests")->required();
    app.add_option("--cases", cases_, "A-B: only the requests with case ids A..B (inclusive)");
    app.add_option("--text", text_, "Text file for the perplexity (one text per line, or JSON Lines 'text')");
    app.add_option("--json", json_, "Also write the numbers as JSON to this file");
  }
  int run() override {
    if (!fs::exists(fs::path(model_) / "tokenizer.json") &&
        !(fs::exists(fs::path(model_) / "vocab.json") && fs::exists(fs::path(model_) / "merges.txt")))
      throw std::invalid_argument("eval: the checkpoint '" + model_ +
                                  "' has no tokenizer (tokenizer.json, or vocab.json and merges.txt)");
    sf::RequestFormat format = sf::RequestFormat::CounterFact;
    std::vector<sf::Request> requests = sf::read_requests(requests_, &format);
    if (requests.empty()) throw std::invalid_argument("eval: '" + requests_ + "' holds no request");
    std::string range = "all";
    if (!cases_.empty()) {
      const auto [a, b] = parse_cases(cases_);
      requests = sf::select_cases(requests, a, b);
      if (requests.empty())
        throw std::invalid_argument("eval: no request of '" + requests_ + "' has a case id in " + cases_);
      range = cases_;
    }
    std::vector<std::string> texts;
    if (!text_.empty()) {
      texts = sf::read_corpus(text_);
      if (texts.empty()) throw std::invalid_argument("eval: the text file '" + text_ + "' holds no text");
    }
    const auto model = seqedit::model::Model<float>::load(model_);
    const auto tok = seqedit::text::Tokenizer::from_checkpoint(model_);

    nlohmann::json out;
    out["model"] = model_;
    out["requests_file"] = requests_;
    out["format"] = format_name(format);
    out["cases"] = range;
    out["requests"] = requests.size();
    std::ostringstream table;
    table << "seqedit eval: " << requests.size() << " requests (" << format_name(format) << ", cases " << range
          << ") on " << model_ << "\n";
    if (format == sf::RequestFormat::ZsRE) {
      const sf::ZsreScores z = sf::evaluate_zsre(model, tok, requests);
      out["zsre"] = {{"rewrite_accuracy", z.rewrite},
                     {"paraphrase_accuracy", z.paraphrase},
                     {"neighborhood_accuracy", z.neighborhood},
                     {"requests", z.requests},
                     {"paraphrase_requests", z.paraphrase_requests},
                     {"neighborhood_requests", z.neighborhood_requests}};
      table << "zsRE token accuracy (x100)\n";
      row(table, "rewrite", z.rewrite, std::to_string(z.requests) + " requests");
      row(table, "paraphrase", z.paraphrase, std::to_string(z.paraphrase_requests) + " requests");
      row(table, "neighbourhood", z.neighborhood, std::to_string(z.neighborhood_requests) + " requests");
    } else {
      const sf::CounterFactScores c = sf::evaluate_counterfact(model, tok, requests);
      if (c.requests == 0)
        throw std::invalid_argument("eval: no request of '" + requests_ +
                                    "' has a target_true, which the CounterFact scores need");
      out["counterfact"] = {{"efficacy", c.efficacy},
                            {"paraphrase", c.paraphrase},
                            {"neighborhood", c.neighborhood},
                            {"efficacy_magnitude", c.efficacy_magnitude},
                            {"paraphrase_magnitude", c.paraphrase_magnitude},
                            {"neighborhood_magnitude", c.neighborhood_magnitude},
                            {"efficacy_accuracy", c.efficacy_accuracy},
                            {"paraphrase_accuracy", c.paraphrase_accuracy},
                            {"neighborhood_accuracy", c.neighborhood_accuracy},
                            {"score", c.score},
                            {"requests", c.requests},
                            {"paraphrase_requests", c.paraphrase_requests},
                            {"neighborhood_requests", c.neighborhood_requests}};
      table << "CounterFact (x100)               success  magnitude  accuracy\n";
      auto line = [&](const char* n, double s, double m, double a, int k) {
        table << "  " << std::left << std::setw(28) << n << std::right << std::fixed << std::setprecision(2)
              << std::setw(9) << s << std::setw(11) << m << std::setw(10) << a << "   " << k << " requests\n";
      };
      line("efficacy", c.efficacy, c.efficacy_magnitude, c.efficacy_accuracy, c.requests);
      line("paraphrase (generalisation)", c.paraphrase, c.paraphrase_magnitude, c.paraphrase_accuracy,
           c.paraphrase_requests);
      line("neighbourhood (specificity)", c.neighborhood, c.neighborhood_magnitude, c.neighborhood_accuracy,
           c.neighborhood_requests);
      row(table, "score (harmonic mean)", c.score);
      if (c.requests < static_cast<int>(requests.size()))
        table << "  (" << requests.size() - static_cast<std::size_t>(c.requests)
              << " requests without target_true left out)\n";
    }
    if (!texts.empty()) {
      const double ppl = sf::perplexity(model, tok, texts);
      out["perplexity"] = {{"value", ppl}, {"file", text_}, {"texts", texts.size()}};
      row(table, "perplexity", ppl, std::to_string(texts.size()) + " texts of " + text_);
    }
    if (!json_.empty()) {
      const std::string bytes = out.dump(2) + "\n";
      seqedit::io::write_file_atomically(json_, [&](seqedit::io::AtomicFileWriter& w) { w.write(bytes.data(), bytes.size()); });
    }
    std::cout << table.str() << std::flush;
    return 0;
  }

 private:
  std::string model_, requests_, cases_, text_, json_;
};

}  // namespace

SEQEDIT_CLI_COMMAND(EvalCommand)

}  // namespace seqedit_cli
