// Malformed and unsupported tokenizer.json files: each gives seqedit::io::format_error
// whose message names the file, the JSON path and what is wrong.
#include <seqedit/io/error.hpp>
#include <seqedit/text/tokenizer.hpp>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

using seqedit::text::Tokenizer;
using json = nlohmann::json;

/// A valid small BPE tokenizer.json that the cases below break in one place each.
json base() {
  return json::parse(R"({
    "version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}]},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
              "vocab": {"<s>": 0, "a": 1, "b": 2, "ab": 3}, "merges": ["a b"]},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}},
    "decoder": {"type": "Fuse"}
  })");
}

std::string message_of(const std::string& text) {
  try {
    (void)Tokenizer::from_json(text, "bad.json");
  } catch (const seqedit::io::format_error& e) {
    return e.what();
  }
  FAIL("no format_error for " << text);
  return {};
}

std::string message_of(const json& j) { return message_of(j.dump()); }

}  // namespace

TEST_CASE("The base file of the malformed cases is valid", "[text][malformed]") {
  const auto tok = Tokenizer::from_json(base().dump(), "base.json");
  CHECK(tok.encode_ids("ab a b") == std::vector<std::int32_t>{0, 3, 1, 2});
}

TEST_CASE("Truncated or non-JSON text", "[text][malformed]") {
  const std::string full = base().dump();
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, full.size() / 3, full.size() / 2, full.size() - 1}) {
    const std::string m = message_of(full.substr(0, n));
    CHECK_THAT(m, Catch::Contains("bad.json") && Catch::Contains("not valid JSON"));
  }
  CHECK_THAT(message_of(std::string("{\"model\": 1, \"model\": 2}")), Catch::Contains("duplicate key 'model'"));
  CHECK_THAT(message_of(std::string("[1, 2]")), Catch::Contains("(root): expected an object"));
  CHECK_THAT(message_of(std::string("{\"version\":\"1.0\"\0}", 17)), Catch::Contains("NUL byte"));
}

TEST_CASE("Wrong types name the JSON path", "[text][malformed]") {
  json j = base();
  j["model"]["vocab"] = json::array();
  CHECK_THAT(message_of(j), Catch::Contains("bad.json: model.vocab: expected an object"));
  j = base();
  j["model"]["vocab"]["b"] = "two";
  CHECK_THAT(message_of(j), Catch::Contains("model.vocab['b']: expected an integer id"));
  j = base();
  j["model"]["merges"][0] = 7;
  CHECK_THAT(message_of(j), Catch::Contains("model.merges[0]: expected \"left right\""));
  j = base();
  j["model"]["merges"][0] = "ab";
  CHECK_THAT(message_of(j), Catch::Contains("model.merges[0]: expected \"left right\""));
  j = base();
  j["model"]["fuse_unk"] = "yes";
  CHECK_THAT(message_of(j), Catch::Contains("model.fuse_unk: expected true or false, got string"));
  j = base();
  j["added_tokens"][0]["special"] = 1;
  CHECK_THAT(message_of(j), Catch::Contains("added_tokens[0].special: expected true or false"));
  j = base();
  j["pre_tokenizer"]["pretokenizers"] = json::object();
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.pretokenizers: expected an array"));
  j = base();
  j["post_processor"]["single"][1]["Sequence"]["id"] = "B";
  CHECK_THAT(message_of(j), Catch::Contains("post_processor.single[1].Sequence.id: the single-sequence template names sequence B"));
  j = base();
  j.erase("model");
  CHECK_THAT(message_of(j), Catch::Contains("model: missing"));
}

TEST_CASE("A merge naming a token outside the vocabulary", "[text][malformed]") {
  json j = base();
  j["model"]["merges"].push_back("a zz");
  CHECK_THAT(message_of(j), Catch::Contains("model.merges[1]: merge names 'zz', which is not in the vocabulary"));
  j = base();
  j["model"]["merges"].push_back(json::array({"b", "a"}));
  CHECK_THAT(message_of(j), Catch::Contains("model.merges[1]: the merged token 'ba' is not in the vocabulary"));
  j = base();
  j["model"]["unk_token"] = "<unk>";
  CHECK_THAT(message_of(j), Catch::Contains("model.unk_token: '<unk>' is not in the vocabulary"));
}

TEST_CASE("Vocabulary ids that collide or leave holes", "[text][malformed]") {
  json j = base();
  j["model"]["vocab"]["b"] = 1;
  const std::string m = message_of(j);
  CHECK_THAT(m, Catch::Contains("model.vocab['") && Catch::Contains("id 1 is also the id of"));
  j = base();
  j["model"]["vocab"]["b"] = 9;  // 5 entries: id 9 cannot be dense
  CHECK_THAT(message_of(j), Catch::Contains("model.vocab['b']: id 9 out of range [0, 5): the ids would leave holes"));
  j = base();
  j["model"]["vocab"] = {{"<s>", 0}, {"a", 1}, {"b", 2}, {"ab", 4}};
  CHECK_THAT(message_of(j), Catch::Contains("ids leave a hole: no token has id 3"));
  j = base();
  j["added_tokens"][0]["content"] = "<t>";
  CHECK_THAT(message_of(j), Catch::Contains("added_tokens[0].id: id 0 of '<t>' is also the id of '<s>' in the model vocabulary"));
  j = base();
  j["added_tokens"].push_back(j["added_tokens"][0]);
  j["added_tokens"][1]["id"] = 4;
  CHECK_THAT(message_of(j), Catch::Contains("added_tokens[1].content: '<s>' is added twice"));
  j = base();
  j["model"]["vocab"]["b"] = -1;
  CHECK_THAT(message_of(j), Catch::Contains("model.vocab['b']: id -1 out of range"));
}

TEST_CASE("Unknown component types and options are refused, never ignored", "[text][malformed]") {
  json j = base();
  j["normalizer"]["normalizers"][0]["type"] = "BertNormalizer";
  CHECK_THAT(message_of(j), Catch::Contains("normalizer.normalizers[0].type: unsupported normalizer 'BertNormalizer'"));
  j = base();
  j["pre_tokenizer"]["pretokenizers"].push_back({{"type", "UnicodeScripts"}});
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.pretokenizers[1].type: unsupported pre-tokenizer 'UnicodeScripts'"));
  j = base();
  j["model"]["type"] = "Unigram";
  CHECK_THAT(message_of(j), Catch::Contains("model.type: unsupported model 'Unigram'"));
  j = base();
  j["post_processor"]["type"] = "RobertaProcessing";
  CHECK_THAT(message_of(j), Catch::Contains("post_processor.type: unsupported post-processor 'RobertaProcessing'"));
  j = base();
  j["decoder"] = {{"type", "CTC"}};
  CHECK_THAT(message_of(j), Catch::Contains("decoder.type: unsupported decoder 'CTC'"));
  j = base();
  j["pre_tokenizer"]["pretokenizers"][0]["extra"] = true;
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.pretokenizers[0].extra: unknown option"));
  j = base();
  j["model"]["dropout"] = 0.1;
  CHECK_THAT(message_of(j), Catch::Contains("model.dropout: BPE dropout is random; not supported"));
  j = base();
  j["truncation"] = {{"max_length", 8}};
  CHECK_THAT(message_of(j), Catch::Contains("truncation: only null is supported"));
  j = base();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(ab"}}}, {"behavior", "Isolated"}, {"invert", false}};
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.pattern.Regex: regex '(ab' does not compile"));
  j["pre_tokenizer"]["pattern"] = {{"Glob", "*"}};
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.pattern: unknown pattern kind 'Glob'"));
  j["pre_tokenizer"]["pattern"] = {{"String", "-"}};
  j["pre_tokenizer"]["behavior"] = "Merged";
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.behavior: unknown split behavior 'Merged'"));
  j = base();
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "ab"}};
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.replacement: expected one character"));
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"prepend_scheme", "sometimes"}};
  CHECK_THAT(message_of(j), Catch::Contains("pre_tokenizer.prepend_scheme: unknown scheme 'sometimes'"));
  j = base();
  j["post_processor"]["single"][0]["SpecialToken"]["id"] = "</s>";
  CHECK_THAT(message_of(j), Catch::Contains("post_processor.single[0].SpecialToken.id: special token '</s>' is not in special_tokens"));
  j = base();
  j["post_processor"]["special_tokens"]["<s>"]["ids"] = {3, 17};
  CHECK_THAT(message_of(j), Catch::Contains("post_processor.special_tokens['<s>'].ids[1]: id 17 is not in the vocabulary"));
}

TEST_CASE("Files: missing, unreadable folders, GPT-2 merges.txt", "[text][malformed]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "seqedit_text_malformed";
  fs::remove_all(dir);
  fs::create_directories(dir);
  CHECK_THROWS_AS(Tokenizer::from_file(dir / "none.json"), seqedit::io::io_error);
  CHECK_THROWS_WITH(Tokenizer::from_checkpoint(dir), Catch::Contains("no tokenizer.json, nor vocab.json + merges.txt"));
  CHECK_THROWS_AS(Tokenizer::from_checkpoint(dir / "absent"), seqedit::io::io_error);
  std::ofstream(dir / "vocab.json") << R"({"a": 0, "b": 1, "ab": 2})";
  std::ofstream(dir / "merges.txt") << "#version: 0.2\na b\nab\n";
  CHECK_THROWS_WITH(Tokenizer::from_checkpoint(dir), Catch::Contains("merges.txt line 3: expected \"left right\", got 'ab'"));
  std::ofstream(dir / "merges.txt") << "#version: 0.2\na b\n";
  const auto tok = Tokenizer::from_checkpoint(dir);
  CHECK(tok.encode_ids("ab") == std::vector<std::int32_t>{2});
  std::ofstream(dir / "tokenizer.json") << base().dump().substr(0, 40);
  CHECK_THROWS_WITH(Tokenizer::from_checkpoint(dir), Catch::Contains("tokenizer.json") && Catch::Contains("not valid JSON"));
  fs::remove_all(dir);
}
