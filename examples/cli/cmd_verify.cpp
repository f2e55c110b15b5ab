// `seqedit verify`: recomputes the one-time solution over a state's journal and compares it
// with the state's cumulative update (seqedit::verify_alignment, include/seqedit/alignment.hpp).
//
//   seqedit verify --state S (--stats NPZ | --c0 FILE) [--tolerance T]
//   seqedit verify --state DIR [--stats DIR] [--tolerance T]
//
// The second form checks every layer of a run state folder of `seqedit edit-facts`
// (manifest.json), with C0 from the statistics folder the run recorded (or --stats DIR).
//
// Exit 0 if the relative deviation |D - D*|/|D*| (with compensation |D - D* - e|/|D*|) is
// within the tolerance, 1 if not, 2 on an error. Also prints the editor's drift estimate
// (SequentialEditor::drift_estimate: the relative error of the stored M_t⁻¹ on four probes).

#include "cli_common.hpp"
#include "cli_inputs.hpp"
#include "command.hpp"
#include "fact_run.hpp"
#include "methods.hpp"

#include <seqedit/alignment.hpp>
#include <seqedit/io/editor_state.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <string>

namespace seqedit_cli {
namespace {

struct VerifyArgs {
  std::string state, stats, c0;
  double tolerance = -1;
};

template <typename Editor>
int run_verify(const VerifyArgs& a, const sio::EditorStateInfo& info, const Editor& ed) {
  using Scalar = typename Editor::Scalar;
  if (ed.options().history != seqedit::History::Aligned)
    throw cli_error(a.state + ": verify compares with the one-time edit over the journal, which needs the aligned "
                    "history; the state has '" + std::string(sio::history_name(ed.options().history)) + "'");
  const Matrix<Scalar> c0 = read_c0<Scalar>(a.stats, a.c0, ed.key_dim());
  const double tol = a.tolerance >= 0 ? a.tolerance : seqedit::default_alignment_tolerance<Scalar>();

  const auto t0 = std::chrono::steady_clock::now();
  const seqedit::AlignmentReport rep = seqedit::verify_alignment(ed, c0);
  std::cout << a.state << ": " << rep.live_edits << " live edits, " << ed.steps() << " steps, " << info.scalar
            << ", regulariser " << info.regulariser << ", compensation "
            << sio::compensation_name(ed.options().compensation) << "\n";
  std::cout << "  one-time edit over the journal recomputed in " << fmt_real(seconds_since(t0), 3) << " s, |D*|_F = "
            << fmt_real(rep.reference_norm, 6) << "\n";
  std::cout << "  |D - D*|_F / |D*|_F       = " << fmt_real(rep.deviation, 4)
            << (rep.relative ? "" : " (absolute: D* = 0)") << "\n";
  if (rep.compensated_deviation)
    std::cout << "  |D - D* - e|_F / |D*|_F   = " << fmt_real(*rep.compensated_deviation, 4) << "\n";
  const double drift = double(ed.drift_estimate());
  std::cout << "  drift estimate of M^-1    = "
            << (std::isnan(drift) ? std::string("unknown (state written before drift monitoring)") : fmt_real(drift, 4))
            << "\n";
  const double judged = rep.judged();
  const bool ok = judged <= tol;
  std::cout << (ok ? "OK" : "FAILED") << ": " << fmt_real(judged, 4) << (ok ? " <= " : " > ") << "tolerance "
            << fmt_real(tol, 4) << "\n";
  return ok ? 0 : 1;
}

class VerifyCommand : public Command {
 public:
  std::string name() const override { return "verify"; }
  std::string description() const override {
    return "Recompute the one-time edit over the journal and compare: exit 0 if the relative deviation "
           "|D - D*|/|D*| (with compensation: |D - D* - e|/|D*|) is within --tolerance, else 1";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--state", a_.state, "Editor state file, or the run state folder of `seqedit edit-facts`")
        ->required();
    app.add_option("--stats", a_.stats, "MEMIT statistics npz (C0 = mom2 / count)");
    app.add_option("--c0", a_.c0, "C0 file (.npy, .safetensors or .npz)");
    app.add_option("--tolerance", a_.tolerance, "Relative tolerance (default 1e-8 for double, 1e-3 for float)");
  }
  int run() override {
    if (std::filesystem::is_directory(a_.state)) {
      if (!std::filesystem::is_regular_file(a_.state + "/manifest.json"))
        throw cli_error(a_.state + ": a folder without manifest.json is not a run state of `seqedit edit-facts`");
      if (!fact_run_verify()) throw cli_error("this build of seqedit has no fact pipeline (seqedit::facts)");
      if (!a_.c0.empty()) throw cli_error("a run state is verified with --stats DIR, not --c0");
      return fact_run_verify()(FactRunVerifyArgs{a_.state, a_.stats, a_.tolerance});
    }
    if (a_.stats.empty() == a_.c0.empty()) throw cli_error("verify needs exactly one of --stats NPZ or --c0 FILE");
    const sio::EditorStateInfo info = sio::read_editor_state_info(a_.state);
    return with_state_editor(a_.state, info, [&](const auto& ed) { return run_verify(a_, info, ed); });
  }

 private:
  VerifyArgs a_;
};

}  // namespace

SEQEDIT_CLI_COMMAND(VerifyCommand)

}  // namespace seqedit_cli
