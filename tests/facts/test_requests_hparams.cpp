// Requests (pipeline.md §1) and hyper-parameters (pipeline.md §9): parsing and every error.

#include "seqedit/facts/hparams.hpp"
#include "seqedit/facts/requests.hpp"
#include "seqedit/io/error.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using seqedit::facts::Hparams;
using seqedit::facts::Request;
using seqedit::facts::RequestFormat;
using seqedit::facts::parse_hparams;
using seqedit::facts::parse_requests;

namespace {

std::string error_of_requests(const std::string& text, RequestFormat f) {
  try {
    parse_requests(text, f, "r.json");
  } catch (const seqedit::io::format_error& e) {
    return e.what();
  }
  return "no error";
}

std::string error_of_hparams(const std::string& text) {
  try {
    parse_hparams(text, "h.json");
  } catch (const seqedit::io::format_error& e) {
    return e.what();
  }
  return "no error";
}

const char* counterfact_two = R"([
 {"case_id": 3, "pararel_idx": 1,
  "requested_rewrite": {"prompt": "The capital of {} is", "subject": "France", "relation_id": "P36",
    "target_new": {"str": "Rome", "id": "Q220"}, "target_true": {"str": "Paris", "id": "Q90"}},
  "paraphrase_prompts": ["Paris is great. France's capital is"],
  "neighborhood_prompts": ["The capital of Gaul is", "Lutetia is the capital of"],
  "attribute_prompts": [], "generation_prompts": ["x"]},
 {"case_id": 5, "requested_rewrite": {"prompt": "{} plays the", "subject": "Ann Bel",
    "target_new": {"str": "harp"}, "target_true": {"str": "piano"}},
  "paraphrase_prompts": [], "neighborhood_prompts": []}
])";

}  // namespace

TEST_CASE("CounterFact records: every field the procedure reads, the rest ignored", "[facts][requests]") {
  const std::vector<Request> rs = parse_requests(counterfact_two, RequestFormat::CounterFact, "cf.json");
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].case_id == 3);
  CHECK(rs[0].prompt == "The capital of {} is");
  CHECK(rs[0].subject == "France");
  CHECK(rs[0].target_new == "Rome");
  CHECK(rs[0].target_true == "Paris");
  CHECK(rs[0].formatted() == "The capital of France is");
  REQUIRE(rs[0].paraphrase_prompts.size() == 1);
  REQUIRE(rs[0].neighborhood_prompts.size() == 2);
  CHECK(rs[0].neighborhood_prompts[1] == "Lutetia is the capital of");
  CHECK(rs[1].case_id == 5);
  CHECK(rs[1].formatted() == "Ann Bel plays the");
}

TEST_CASE("zsRE records: prompt from src, target from answers[0], neighbourhood from loc", "[facts][requests]") {
  const char* z = R"([{"subject": "Watts Humphrey", "src": "What university did Watts Humphrey attend?",
      "pred": "x", "rephrase": "Which university did Watts Humphrey go to?", "alt": "University of Michigan",
      "answers": ["Illinois Institute of Technology"], "loc": "nq question: who sang",
      "loc_ans": "Chris Ledoux", "cond": "x"}])";
  const std::vector<Request> rs = parse_requests(z, RequestFormat::ZsRE, "z.json");
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].case_id == 0);
  CHECK(rs[0].prompt == "What university did {} attend?");
  CHECK(rs[0].target_new == "Illinois Institute of Technology");  // answers[0]; `alt` is MEND's, not used
  CHECK(rs[0].target_true.empty());
  CHECK(rs[0].paraphrase_prompts == std::vector<std::string>{"Which university did Watts Humphrey go to?"});
  CHECK(rs[0].neighborhood_prompts == std::vector<std::string>{"nq question: who sang"});
  CHECK(rs[0].neighborhood_answer == "Chris Ledoux");
  const std::string e = error_of_requests(
      R"([{"subject": "Bob", "src": "Where is Alice?", "answers": ["x"], "alt": "y"}])", RequestFormat::ZsRE);
  CHECK(e.find("record 0") != std::string::npos);
  CHECK(e.find("'Bob' does not occur") != std::string::npos);
}

TEST_CASE("JSON Lines requests; target_true optional; blank lines skipped", "[facts][requests]") {
  const std::string text =
      "{\"case_id\": 7, \"prompt\": \"The capital of {} is\", \"subject\": \"France\", \"target_new\": \"Rome\"}\n"
      "\n"
      "{\"case_id\": 8, \"prompt\": \"{} speaks\", \"subject\": \"Ann\", \"target_new\": \"Greek\", "
      "\"target_true\": \"Dutch\"}\n";
  const std::vector<Request> rs = parse_requests(text, RequestFormat::JsonLines, "r.jsonl");
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].target_true.empty());
  CHECK(rs[1].target_true == "Dutch");
  CHECK(rs[1].case_id == 8);
}

TEST_CASE("request errors name the record before anything is used", "[facts][requests]") {
  const auto J = RequestFormat::JsonLines;
  const std::string ok = "{\"case_id\": 1, \"prompt\": \"A {} b\", \"subject\": \"S\", \"target_new\": \"T\"}\n";
  std::string e = error_of_requests(ok + "{\"case_id\": 2, \"prompt\": \"no slot\", \"subject\": \"S\", \"target_new\": \"T\"}", J);
  CHECK(e.find("line 2") != std::string::npos);
  CHECK(e.find("case_id 2") != std::string::npos);
  CHECK(e.find("has no '{}'") != std::string::npos);
  e = error_of_requests("{\"case_id\": 1, \"prompt\": \"{} and {}\", \"subject\": \"S\", \"target_new\": \"T\"}", J);
  CHECK(e.find("2 occurrences of '{}'") != std::string::npos);
  e = error_of_requests("{\"case_id\": 1, \"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": \"\"}", J);
  CHECK(e.find("target_new is empty") != std::string::npos);
  e = error_of_requests("{\"case_id\": 1, \"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": \"  \"}", J);
  CHECK(e.find("target_new is empty") != std::string::npos);
  e = error_of_requests("{\"case_id\": 1, \"prompt\": \"{} x\", \"subject\": \"\", \"target_new\": \"T\"}", J);
  CHECK(e.find("subject is empty") != std::string::npos);
  e = error_of_requests(ok + ok, J);
  CHECK(e.find("occurs twice") != std::string::npos);
  e = error_of_requests("{\"case_id\": 1, \"prompt\": \"{} x\", \"target_new\": \"T\"}", J);
  CHECK(e.find("missing field 'subject'") != std::string::npos);
  e = error_of_requests("{\"case_id\": \"one\", \"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": \"T\"}", J);
  CHECK(e.find("case_id is not an integer") != std::string::npos);
  e = error_of_requests("{\"case_id\": 1, \"prompt\": \"{} x\", \"subject\": \"S\", \"target_new\": \"T\"", J);
  CHECK(e.find("line 1") != std::string::npos);
  e = error_of_requests(R"([{"case_id": 1, "requested_rewrite": {"prompt": "{} x", "subject": "S"}}])",
                        RequestFormat::CounterFact);
  CHECK(e.find("record 0") != std::string::npos);
  CHECK(e.find("target_new") != std::string::npos);
  e = error_of_requests(R"({"case_id": 1})", RequestFormat::CounterFact);
  CHECK(e.find("JSON array") != std::string::npos);
  e = error_of_requests(R"([{"case_id": 1, "case_id": 2}])", RequestFormat::CounterFact);
  CHECK(e.find("case_id") != std::string::npos);  // duplicate key refused by the strict parser
}

TEST_CASE("format_template and select_cases", "[facts][requests]") {
  CHECK(seqedit::facts::format_template("{} is", "X") == "X is");
  CHECK_THROWS_AS(seqedit::facts::format_template("is", "X"), std::invalid_argument);
  const std::vector<Request> rs = parse_requests(counterfact_two, RequestFormat::CounterFact, "cf.json");
  CHECK(seqedit::facts::select_cases(rs, 4, 10).size() == 1);
  CHECK(seqedit::facts::select_cases(rs, 0, 10).size() == 2);
  CHECK_THROWS_AS(seqedit::facts::select_cases(rs, 5, 4), std::invalid_argument);
}

TEST_CASE("MEMIT's gpt2-xl hparams file as published: honoured and ignored fields", "[facts][hparams]") {
  const char* memit = R"({
    "layers": [13, 14, 15, 16, 17], "clamp_norm_factor": 0.75, "layer_selection": "all",
    "fact_token": "subject_last", "v_num_grad_steps": 20, "v_lr": 5e-1, "v_loss_layer": 47,
    "v_weight_decay": 0.5, "kl_factor": 0.0625, "mom2_adjustment": true, "mom2_update_weight": 20000,
    "rewrite_module_tmp": "transformer.h.{}.mlp.c_proj", "layer_module_tmp": "transformer.h.{}",
    "mlp_module_tmp": "transformer.h.{}.mlp", "attn_module_tmp": "transformer.h.{}.attn",
    "ln_f_module": "transformer.ln_f", "lm_head_module": "transformer.wte", "mom2_dataset": "wikipedia",
    "mom2_n_samples": 100000, "mom2_dtype": "float32"})";
  const Hparams hp = parse_hparams(memit, "gpt2-xl.json");
  CHECK(hp.layers == std::vector<int>{13, 14, 15, 16, 17});
  CHECK(hp.v_num_grad_steps == 20);
  CHECK(hp.v_lr == 0.5);
  CHECK(hp.v_loss_layer == 47);
  CHECK(hp.mom2_update_weight == 20000.0);
  CHECK(hp.rewrite_module(13) == "transformer.h.13.mlp.c_proj");
  CHECK(hp.ignored == std::vector<std::string>{"attn_module_tmp", "layer_selection", "mlp_module_tmp",
                                               "mom2_adjustment", "mom2_dataset"});
  // the preset holds the same published values
  const Hparams pre = seqedit::facts::preset_hparams("gpt2-xl");
  CHECK(pre.layers == hp.layers);
  CHECK(pre.v_num_grad_steps == hp.v_num_grad_steps);
  CHECK(pre.v_lr == hp.v_lr);
  CHECK(pre.v_loss_layer == hp.v_loss_layer);
  CHECK(pre.v_weight_decay == hp.v_weight_decay);
  CHECK(pre.kl_factor == hp.kl_factor);
  CHECK(pre.clamp_norm_factor == hp.clamp_norm_factor);
  CHECK(pre.mom2_update_weight == hp.mom2_update_weight);
  CHECK(pre.rewrite_module_tmp == hp.rewrite_module_tmp);
}

TEST_CASE("AlphaEdit's fields and the other presets", "[facts][hparams]") {
  const Hparams hp = parse_hparams(
      R"({"layers": [4,5,6,7,8], "fact_token": "subject_last", "v_lr": 0.1, "v_loss_layer": 31,
          "rewrite_module_tmp": "model.layers.{}.mlp.down_proj", "nullspace_threshold": 2e-2, "L2": 10})",
      "llama.json");
  CHECK(hp.nullspace_threshold == 0.02);
  CHECK(hp.L2 == 10.0);
  const Hparams gj = seqedit::facts::preset_hparams("gpt-j");
  CHECK(gj.layers == std::vector<int>{3, 4, 5, 6, 7, 8});
  CHECK(gj.v_num_grad_steps == 25);
  CHECK(gj.mom2_update_weight == 15000.0);
  CHECK(gj.rewrite_module(8) == "transformer.h.8.mlp.fc_out");
  const Hparams ll = seqedit::facts::preset_hparams("llama3-8b");
  CHECK(ll.v_lr == 0.1);
  CHECK(ll.v_loss_layer == 31);
  CHECK(ll.rewrite_module(4) == "model.layers.4.mlp.down_proj");
  CHECK_THROWS_WITH(seqedit::facts::preset_hparams("gpt-3"), Catch::Contains("known: gpt2-xl, gpt-j, llama3-8b"));
  const Hparams d = seqedit::facts::default_hparams(4, "transformer.h.{}.mlp.c_proj");
  CHECK(d.layers == std::vector<int>{0, 1, 2});
  CHECK(d.v_loss_layer == 3);
  const Hparams d48 = seqedit::facts::default_hparams(48, "transformer.h.{}.mlp.c_proj");
  CHECK(d48.layers == std::vector<int>{10, 11, 12, 13, 14});
}

TEST_CASE("hparams errors name the field", "[facts][hparams]") {
  CHECK(error_of_hparams(R"({"layers": [1], "fact_token": "last"})").find("fact_token 'last' is not supported") !=
        std::string::npos);
  CHECK(error_of_hparams(R"({"layers": [1], "v_lrr": 0.5})").find("unknown field 'v_lrr'") != std::string::npos);
  CHECK(error_of_hparams(R"({"layers": []})").find("layers is empty") != std::string::npos);
  CHECK(error_of_hparams(R"({"layers": [3, 2]})").find("strictly increasing") != std::string::npos);
  CHECK(error_of_hparams(R"({"layers": [1], "v_lr": "fast"})").find("'v_lr' must be a number") != std::string::npos);
  CHECK(error_of_hparams(R"({"layers": [1], "v_num_grad_steps": 0})").find("v_num_grad_steps") != std::string::npos);
  CHECK(error_of_hparams(R"({"layers": [1], "v_lr": -1})").find("v_lr") != std::string::npos);
  CHECK(error_of_hparams(R"({"v_lr": 0.5})").find("missing field 'layers'") != std::string::npos);
  CHECK(error_of_hparams(R"([1])").find("JSON object") != std::string::npos);
  CHECK(error_of_hparams(R"({"layers": [1], "rewrite_module_tmp": "a.b"})").find("rewrite_module_tmp") !=
        std::string::npos);
  const Hparams hp = parse_hparams(R"({"layers": [1, 2]})", "h.json");
  const std::vector<std::string> names{"transformer.h.1.mlp.c_proj.weight", "transformer.h.2.mlp.c_proj.weight"};
  CHECK_NOTHROW(seqedit::facts::check_modules(hp, 4, names));
  CHECK_THROWS_WITH(seqedit::facts::check_modules(hp, 2, names), Catch::Contains("checkpoint has 2 layers"));
  CHECK_THROWS_WITH(seqedit::facts::check_modules(hp, 4, {names[0]}),
                    Catch::Contains("module 'transformer.h.2.mlp.c_proj', which is not in the checkpoint"));
}
