#ifndef SEQEDIT_IO_DETAIL_JSON_HPP
#define SEQEDIT_IO_DETAIL_JSON_HPP

/// \file detail/json.hpp
/// Strict JSON parsing: duplicate object keys are rejected (nlohmann-json, like most
/// parsers, silently keeps the last one), nesting is bounded, errors become format_error.

#include "../error.hpp"

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

namespace seqedit {
namespace io {
namespace detail {

/// Maximum nesting depth accepted in JSON headers and configs.
constexpr int max_json_depth = 64;

/// Parses [first, last) as JSON; throws format_error "path: <what>: ..." on malformed JSON,
/// duplicate keys (naming the key) or nesting deeper than max_json_depth.
inline nlohmann::json parse_json_strict(const char* first, const char* last, const std::string& path,
                                        const std::string& what) {
  // nlohmann's lexer stops at a NUL byte as at the end of input, which would let anything
  // after it pass unread. A NUL is never valid in JSON text outside strings, and inside
  // strings it must be escaped, so any raw NUL is an error.
  for (const char* p = first; p != last; ++p) {
    if (*p == '\0')
      throw format_error(path + ": " + what + ": NUL byte at offset " +
                         std::to_string(p - first) + " of the JSON text");
  }
  std::vector<std::set<std::string>> keys;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) -> bool {
    using E = nlohmann::json::parse_event_t;
    if (depth > max_json_depth)
      throw format_error(path + ": " + what + ": JSON nested deeper than " +
                         std::to_string(max_json_depth) + " levels");
    if (ev == E::object_start) {
      keys.emplace_back();
    } else if (ev == E::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == E::key) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (keys.empty() || !keys.back().insert(k).second)
        throw format_error(path + ": " + what + ": duplicate key '" + k + "'");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(first, last, cb, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::exception& e) {
    throw format_error(path + ": " + what + ": not valid JSON (" + e.what() + ")");
  }
}

}  // namespace detail
}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_DETAIL_JSON_HPP
