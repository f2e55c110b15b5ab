// libFuzzer target: manifest.json of a fact-editing run state (parse_run_manifest,
// run_state.hpp). Every input either parses into a manifest whose per-layer lists and case
// serials agree with its hyper-parameters, or throws seqedit::io::format_error.
#include <seqedit/facts/run_state.hpp>
#include <seqedit/io/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace sf = seqedit::facts;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const sf::RunManifest m = sf::parse_run_manifest(text, "fuzz/manifest.json");
    m.hparams.check();
    if (m.layers != m.hparams.layers || m.files.size() != m.layers.size() || m.tensors.size() != m.layers.size() ||
        m.case_order.size() != m.case_serials.size())
      __builtin_trap();
    for (const auto& s : m.case_serials)
      if (s.size() != m.layers.size()) __builtin_trap();
    for (const auto& f : m.files)
      if (f.empty() || f.find('/') != std::string::npos || f[0] == '.') __builtin_trap();
    m.templates.check();
  } catch (const seqedit::io::format_error&) {
  }
  return 0;
}
