// libFuzzer target: the request readers of the fact pipeline (parse_requests, pipeline.md §1).
// The first byte picks the format (CounterFact JSON, MEMIT's zsRE JSON, JSON Lines); the rest
// is the file. Every input either gives requests that pass check_request, with distinct case
// ids and one "{}" per prompt, or throws seqedit::io::format_error.
#include <seqedit/facts/requests.hpp>
#include <seqedit/io/error.hpp>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace sf = seqedit::facts;
  if (size == 0) return 0;
  const sf::RequestFormat formats[] = {sf::RequestFormat::CounterFact, sf::RequestFormat::ZsRE,
                                       sf::RequestFormat::JsonLines};
  const sf::RequestFormat f = formats[data[0] % 3];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const std::vector<sf::Request> rs = sf::parse_requests(text, f, "fuzz/requests");
    std::set<std::int64_t> ids;
    for (const sf::Request& r : rs) {
      sf::check_request(r, "fuzz");  // must not throw for a request the reader returned
      if (sf::count_placeholders(r.prompt) != 1 || r.subject.empty() || r.target_new.empty()) __builtin_trap();
      if (r.case_id < 0 || !ids.insert(r.case_id).second) __builtin_trap();
      const std::string s = r.formatted();
      if (s.size() != r.prompt.size() - 2 + r.subject.size()) __builtin_trap();
    }
    if (!rs.empty()) {
      const auto sel = sf::select_cases(rs, *ids.begin(), *ids.rbegin());
      if (sel.size() != rs.size()) __builtin_trap();
    }
  } catch (const seqedit::io::format_error&) {
  }
  return 0;
}
