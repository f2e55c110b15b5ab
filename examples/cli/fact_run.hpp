#ifndef SEQEDIT_CLI_FACT_RUN_HPP
#define SEQEDIT_CLI_FACT_RUN_HPP

// `seqedit retract` and `seqedit verify` on the state folder of `seqedit edit-facts`
// (seqedit/facts/run_state.hpp). The two commands are built without the fact pipeline as
// well; cmd_edit_facts.cpp, built with it, installs these entry points before main().

#include <cstdint>
#include <string>
#include <vector>

namespace seqedit_cli {

struct FactRunRetractArgs {
  std::string state, model, out;
  bool in_place = false;
  std::vector<std::int64_t> cases;
};

struct FactRunVerifyArgs {
  std::string state, stats;
  double tolerance = -1;
};

using FactRunRetractFn = int (*)(const FactRunRetractArgs&);
using FactRunVerifyFn = int (*)(const FactRunVerifyArgs&);

/// Set by cmd_edit_facts.cpp; null in a build without the fact pipeline.
inline FactRunRetractFn& fact_run_retract() {
  static FactRunRetractFn f = nullptr;
  return f;
}
inline FactRunVerifyFn& fact_run_verify() {
  static FactRunVerifyFn f = nullptr;
  return f;
}

}  // namespace seqedit_cli

#endif  // SEQEDIT_CLI_FACT_RUN_HPP
