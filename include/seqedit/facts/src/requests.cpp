// Edit requests: CounterFact, zsRE and JSON Lines readers (pipeline.md §1).

#include "seqedit/facts/requests.hpp"

#include "seqedit/io/detail/file.hpp"
#include "seqedit/io/detail/json.hpp"
#include "seqedit/io/error.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace seqedit {
namespace facts {

using nlohmann::json;

std::size_t count_placeholders(const std::string& text) {
  std::size_t n = 0;
  for (std::size_t p = text.find("{}"); p != std::string::npos; p = text.find("{}", p + 2)) ++n;
  return n;
}

std::string format_template(const std::string& text, const std::string& fill) {
  const std::size_t n = count_placeholders(text);
  if (n != 1)
    throw std::invalid_argument("template '" + text + "' has " + std::to_string(n) +
                                " occurrences of '{}'; exactly one is required");
  const std::size_t p = text.find("{}");
  return text.substr(0, p) + fill + text.substr(p + 2);
}

std::string Request::formatted() const { return format_template(prompt, subject); }

void check_request(const Request& r, const std::string& where) {
  const std::size_t n = count_placeholders(r.prompt);
  if (n == 0) throw io::format_error(where + ": prompt '" + r.prompt + "' has no '{}' for the subject");
  if (n > 1)
    throw io::format_error(where + ": prompt '" + r.prompt + "' has " + std::to_string(n) +
                           " occurrences of '{}'; exactly one is required");
  if (r.subject.empty()) throw io::format_error(where + ": the subject is empty");
  if (r.target_new.empty() || r.target_new.find_first_not_of(' ') == std::string::npos)
    throw io::format_error(where + ": target_new is empty");
  if (r.case_id < 0) throw io::format_error(where + ": case_id " + std::to_string(r.case_id) + " is negative");
}

namespace {

std::string record_name(const std::string& origin, std::size_t index) {
  return origin + ": record " + std::to_string(index);
}

const json& member(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) throw io::format_error(where + ": is not a JSON object");
  const auto it = obj.find(key);
  if (it == obj.end()) throw io::format_error(where + ": missing field '" + key + "'");
  return *it;
}

std::string string_field(const json& obj, const char* key, const std::string& where) {
  const json& v = member(obj, key, where);
  if (!v.is_string()) throw io::format_error(where + ": field '" + key + "' is not a string");
  return v.get<std::string>();
}

std::string optional_string(const json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) throw io::format_error(where + ": field '" + key + "' is not a string");
  return it->get<std::string>();
}

std::vector<std::string> string_list(const json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (it->is_string()) {  // zsRE's rephrase and loc are single strings
    out.push_back(it->get<std::string>());
    return out;
  }
  if (!it->is_array()) throw io::format_error(where + ": field '" + key + "' is not a list of strings");
  for (std::size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string())
      throw io::format_error(where + ": field '" + key + "[" + std::to_string(i) + "]' is not a string");
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

std::int64_t case_id_field(const json& obj, const std::string& where) {
  const json& v = member(obj, "case_id", where);
  if (!v.is_number_integer()) throw io::format_error(where + ": case_id is not an integer");
  return v.get<std::int64_t>();
}

/// The target string of CounterFact's `target_new` / `target_true` ({"str": ..}); a plain
/// string is accepted too.
std::string target_field(const json& rw, const char* key, const std::string& where, bool required) {
  const auto it = rw.find(key);
  if (it == rw.end() || it->is_null()) {
    if (required) throw io::format_error(where + ": missing field 'requested_rewrite." + key + "'");
    return std::string();
  }
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return string_field(*it, "str", where + ": requested_rewrite." + key);
  throw io::format_error(where + ": requested_rewrite." + key + " is neither {\"str\": ...} nor a string");
}

void check_all(const std::vector<Request>& out, const std::vector<std::string>& names) {
  std::set<std::int64_t> ids;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::string where = names[i] + " (case_id " + std::to_string(out[i].case_id) + ")";
    check_request(out[i], where);
    if (!ids.insert(out[i].case_id).second)
      throw io::format_error(where + ": case_id " + std::to_string(out[i].case_id) + " occurs twice");
  }
}

json parse_document(const std::string& text, const std::string& origin) {
  return io::detail::parse_json_strict(text.data(), text.data() + text.size(), origin, "requests");
}

std::vector<Request> parse_counterfact(const json& doc, const std::string& origin) {
  if (!doc.is_array()) throw io::format_error(origin + ": CounterFact requests must be a JSON array of records");
  std::vector<Request> out;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const std::string where = record_name(origin, i);
    const json& rec = doc[i];
    Request r;
    r.case_id = case_id_field(rec, where);
    const json& rw = member(rec, "requested_rewrite", where);
    if (!rw.is_object()) throw io::format_error(where + ": requested_rewrite is not an object");
    r.prompt = string_field(rw, "prompt", where + ": requested_rewrite");
    r.subject = string_field(rw, "subject", where + ": requested_rewrite");
    r.target_new = target_field(rw, "target_new", where, true);
    r.target_true = target_field(rw, "target_true", where, false);
    r.paraphrase_prompts = string_list(rec, "paraphrase_prompts", where);
    r.neighborhood_prompts = string_list(rec, "neighborhood_prompts", where);
    out.push_back(std::move(r));
    names.push_back(where);
  }
  check_all(out, names);
  return out;
}

std::vector<Request> parse_zsre(const json& doc, const std::string& origin) {
  if (!doc.is_array()) throw io::format_error(origin + ": zsRE requests must be a JSON array of records");
  std::vector<Request> out;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const std::string where = record_name(origin, i);
    const json& rec = doc[i];
    Request r;
    r.case_id = static_cast<std::int64_t>(i);
    const std::string src = string_field(rec, "src", where);
    r.subject = string_field(rec, "subject", where);
    if (r.subject.empty()) throw io::format_error(where + " (case_id " + std::to_string(i) + "): the subject is empty");
    const std::size_t at = src.find(r.subject);
    if (at == std::string::npos)
      throw io::format_error(where + " (case_id " + std::to_string(i) + "): subject '" + r.subject +
                             "' does not occur in src '" + src + "'");
    r.prompt = src.substr(0, at) + "{}" + src.substr(at + r.subject.size());
    // MEMIT's zsRE request (pipeline.md §1): the new target is answers[0]; the record has no
    // true target (`alt`, MEND's alternative answer, is not used).
    const std::vector<std::string> answers = string_list(rec, "answers", where);
    r.target_new = answers.empty() ? std::string() : answers[0];
    r.target_true.clear();
    r.paraphrase_prompts = string_list(rec, "rephrase", where);
    r.neighborhood_prompts = string_list(rec, "loc", where);
    r.neighborhood_answer = optional_string(rec, "loc_ans", where);
    out.push_back(std::move(r));
    names.push_back(where);
  }
  check_all(out, names);
  return out;
}

std::vector<Request> parse_jsonl(const std::string& text, const std::string& origin) {
  std::vector<Request> out;
  std::vector<std::string> names;
  std::size_t line_no = 0, start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      if (end == text.size()) break;
      continue;
    }
    const std::string where = origin + ": line " + std::to_string(line_no);
    const json rec = io::detail::parse_json_strict(line.data(), line.data() + line.size(), where, "request");
    if (!rec.is_object()) throw io::format_error(where + ": is not a JSON object");
    Request r;
    r.case_id = case_id_field(rec, where);
    r.prompt = string_field(rec, "prompt", where);
    r.subject = string_field(rec, "subject", where);
    r.target_new = string_field(rec, "target_new", where);
    r.target_true = optional_string(rec, "target_true", where);
    r.paraphrase_prompts = string_list(rec, "paraphrase_prompts", where);
    r.neighborhood_prompts = string_list(rec, "neighborhood_prompts", where);
    out.push_back(std::move(r));
    names.push_back(where);
    if (end == text.size()) break;
  }
  check_all(out, names);
  return out;
}

std::string read_text(const std::string& path) {
  const std::vector<char> buf = io::detail::read_whole_file(path, std::uint64_t(1) << 32);
  return std::string(buf.begin(), buf.end());
}

}  // namespace

std::vector<Request> parse_requests(const std::string& text, RequestFormat format, const std::string& origin) {
  switch (format) {
    case RequestFormat::CounterFact: return parse_counterfact(parse_document(text, origin), origin);
    case RequestFormat::ZsRE: return parse_zsre(parse_document(text, origin), origin);
    case RequestFormat::JsonLines: return parse_jsonl(text, origin);
  }
  throw std::invalid_argument("parse_requests: unknown format");
}

std::vector<Request> read_counterfact(const std::string& path) {
  return parse_requests(read_text(path), RequestFormat::CounterFact, path);
}
std::vector<Request> read_zsre(const std::string& path) { return parse_requests(read_text(path), RequestFormat::ZsRE, path); }
std::vector<Request> read_jsonl(const std::string& path) {
  return parse_requests(read_text(path), RequestFormat::JsonLines, path);
}

std::vector<Request> read_requests(const std::string& path, RequestFormat* detected) {
  const std::string text = read_text(path);
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  RequestFormat f = RequestFormat::JsonLines;
  if (first != std::string::npos && text[first] == '[') {
    const json doc = parse_document(text, path);
    f = RequestFormat::CounterFact;
    if (!doc.empty() && doc[0].is_object() && doc[0].contains("src") && !doc[0].contains("requested_rewrite"))
      f = RequestFormat::ZsRE;
    if (detected) *detected = f;
    return f == RequestFormat::ZsRE ? parse_zsre(doc, path) : parse_counterfact(doc, path);
  }
  if (detected) *detected = f;
  return parse_jsonl(text, path);
}

std::vector<Request> select_cases(const std::vector<Request>& requests, std::int64_t first, std::int64_t last) {
  if (first > last)
    throw std::invalid_argument("select_cases: empty range " + std::to_string(first) + "-" + std::to_string(last));
  std::vector<Request> out;
  for (const Request& r : requests)
    if (r.case_id >= first && r.case_id <= last) out.push_back(r);
  return out;
}

}  // namespace facts
}  // namespace seqedit
