// state_resume_check DIR: the second half of the "new process" test. test_editor_state
// ("[resume_fixture]") ran 20 editing steps, saved the editor after step 10 and stored the
// remaining batches and the final weights. This program loads the saved state, applies
// steps 11..20, retracts one early batch, and checks that the weights are bit-identical to
// the uninterrupted run's. Exit code 0 on success, 1 on any difference or error.

#include "state_cases.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/io/safetensors.hpp>

#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace state_test;
namespace sio = seqedit::io;

namespace {

template <typename Scalar>
bool check_case(const std::string& dir, Config cfg) {
  const std::string stem = dir + "/" + config_name(cfg) + "_" + sio::detail::scalar_label<Scalar>();
  bool ok = true;
  with_regulariser<Scalar>(cfg, [&](const auto& reg) {
    using Reg = std::decay_t<decltype(reg)>;
    auto ed = sio::load_editor_state<Scalar, Reg>(stem + ".state.safetensors", reg);
    const sio::SafetensorsFile ref(stem + ".reference.safetensors");
    for (int t = 10; t < 20; ++t)
      ed.apply(ref.read_matrix<Scalar>("k" + std::to_string(t)), ref.read_matrix<Scalar>("v" + std::to_string(t)));
    const bool same_final = bit_equal(ed.weights(), ref.read_matrix<Scalar>("final"));

    std::vector<seqedit::EditId> ids;
    std::istringstream serials(ref.metadata().at("retract"));
    for (std::string s; std::getline(serials, s, ',');) ids.push_back(seqedit::EditId{ed.tag(), std::stoull(s)});
    ed.retract(ids);
    const bool same_retracted = bit_equal(ed.weights(), ref.read_matrix<Scalar>("retracted"));

    std::cout << stem << ": continuation " << (same_final ? "bit-identical" : "DIFFERS") << ", retraction "
              << (same_retracted ? "bit-identical" : "DIFFERS") << "\n";
    ok = same_final && same_retracted;
  });
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: state_resume_check FIXTURE_DIR\n";
    return 2;
  }
  try {
    bool ok = true;
    for (Config cfg : all_configs()) {
      ok = check_case<float>(argv[1], cfg) && ok;
      ok = check_case<double>(argv[1], cfg) && ok;
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "state_resume_check: error: " << e.what() << "\n";
    return 1;
  }
}
