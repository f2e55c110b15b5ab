// `seqedit tokenize`: text → token ids (or ids → text) with a checkpoint's tokenizer.

#include "command.hpp"

#include <seqedit/text/tokenizer.hpp>

#include <cstdint>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit_cli {
namespace {

class TokenizeCommand : public Command {
 public:
  std::string name() const override { return "tokenize"; }
  std::string description() const override {
    return "Token ids of each TEXT (or of each line of standard input) with a checkpoint's tokenizer.json "
           "(or GPT-2's vocab.json + merges.txt): one line of space-separated ids per text; --offsets prints "
           "id:begin:end (byte span in the text); --decode reads lines of ids and prints their text";
  }
  void add_options(CLI::App& app) override {
    auto* model = app.add_option("--model", model_dir_, "checkpoint folder (tokenizer.json, else vocab.json + merges.txt)");
    auto* file = app.add_option("--tokenizer", tokenizer_file_, "a tokenizer.json file");
    model->excludes(file);
    file->excludes(model);
    app.add_flag("--no-special-tokens", no_special_,
                 "encode without the post-processor's special tokens (BOS); with --decode, drop special tokens");
    app.add_flag("--offsets", offsets_, "print id:begin:end, the byte span [begin, end) of each token in the text");
    app.add_flag("--decode", decode_, "read space-separated ids and print the decoded text");
    app.add_option("text", texts_, "texts (default: one per line of standard input; a trailing \\n is not part of it)");
  }
  int run() override {
    if (model_dir_.empty() == tokenizer_file_.empty())
      throw std::invalid_argument("tokenize: give exactly one of --model DIR and --tokenizer FILE");
    if (decode_ && offsets_) throw std::invalid_argument("tokenize: --offsets has no meaning with --decode");
    const auto tok = model_dir_.empty() ? seqedit::text::Tokenizer::from_file(tokenizer_file_)
                                        : seqedit::text::Tokenizer::from_checkpoint(model_dir_);
    if (!texts_.empty()) {
      for (std::size_t i = 0; i < texts_.size(); ++i) one(tok, texts_[i], "text " + std::to_string(i + 1));
    } else {
      std::string line;
      std::size_t n = 0;
      while (std::getline(std::cin, line)) one(tok, line, "line " + std::to_string(++n));
    }
    std::cout.flush();
    return 0;
  }

 private:
  void one(const seqedit::text::Tokenizer& tok, const std::string& text, const std::string& where) const {
    try {
      if (decode_) {
        std::vector<std::int32_t> ids;
        std::istringstream in(text);
        std::string word;
        while (in >> word) {
          std::size_t used = 0;
          long long v = 0;
          try {
            v = std::stoll(word, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used != word.size() || v < INT32_MIN || v > INT32_MAX)
            throw std::invalid_argument("'" + word + "' is not a token id");
          ids.push_back(static_cast<std::int32_t>(v));
        }
        std::cout << tok.decode(ids, no_special_) << '\n';
        return;
      }
      const auto enc = tok.encode(text, !no_special_);
      for (std::size_t i = 0; i < enc.size(); ++i) {
        if (i) std::cout << ' ';
        std::cout << enc.ids[i];
        if (offsets_) std::cout << ':' << enc.offsets[i].first << ':' << enc.offsets[i].second;
      }
      std::cout << '\n';
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + ": " + e.what());
    }
  }

  std::string model_dir_;
  std::string tokenizer_file_;
  bool no_special_ = false;
  bool offsets_ = false;
  bool decode_ = false;
  std::vector<std::string> texts_;
};

}  // namespace

SEQEDIT_CLI_COMMAND(TokenizeCommand)

}  // namespace seqedit_cli
