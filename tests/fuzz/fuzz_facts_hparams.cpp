// libFuzzer target: MEMIT / AlphaEdit hyper-parameter files (parse_hparams, pipeline.md §9).
// Every input either parses into hyper-parameters that pass check() (sorted distinct layers,
// positive steps and rates, fact_token subject_last) or throws seqedit::io::format_error.
#include <seqedit/facts/hparams.hpp>
#include <seqedit/io/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace sf = seqedit::facts;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const sf::Hparams hp = sf::parse_hparams(text, "fuzz/hparams.json");
    hp.check();  // must not throw for what the parser accepted
    if (hp.layers.empty() || hp.fact_token != "subject_last" || hp.v_num_grad_steps <= 0) __builtin_trap();
    for (std::size_t i = 1; i < hp.layers.size(); ++i)
      if (hp.layers[i] <= hp.layers[i - 1]) __builtin_trap();
    for (int l : hp.layers) (void)hp.rewrite_module(l);
  } catch (const seqedit::io::format_error&) {
  }
  return 0;
}
