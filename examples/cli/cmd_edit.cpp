// `seqedit edit`: applies batches of edits to one layer's FFN output projection, one step
// per batch, resuming from --state if it exists.
//
//   seqedit edit --model DIR --layer N (--stats NPZ | --c0 FILE) --method M [options] BATCH...
//
// Batch files (the edits of one step):
//   A .safetensors or .npz file holding exactly two matrices:
//     K  d_k x n   the keys, one column per edit (the FFN inner activation at the
//                  subject's last token; d_k = FFN width, e.g. 6400 for GPT-2 XL)
//     V  d_v x n   the wanted outputs of the layer for those keys (d_v = model width)
//   or, instead of V,
//     R  d_v x n   the residuals R = V - W K under the weights current when the batch is
//                  applied (multi-layer MEMIT hands out residual shares).
//   Any float dtype (F64/F32/F16/BF16, or <f8/<f4/<f2). Row i of K is key dimension i,
//   column j is edit j. The journal ids of a batch's edits are printed by `edit` and
//   listed by `inspect STATE`; `retract --ids` takes them.
//   Example (numpy): np.savez("batch1.npz", K=keys.astype(np.float32), V=values)

#include "cli_common.hpp"
#include "cli_inputs.hpp"
#include "command.hpp"
#include "methods.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/io/io.hpp>
#include <seqedit/sequential_editor.hpp>

#include <Eigen/Core>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace seqedit_cli {
namespace {

const char* const kBatchFormat =
    "Batch files: a .safetensors or .npz file per step, holding K (d_k x n, one column per "
    "edit: the keys) and V (d_v x n, the wanted layer outputs), or K and R (d_v x n, the "
    "residuals V - W K under the weights current when the batch is applied). Any float dtype. "
    "The new edits' ids are printed; `seqedit retract --ids` takes them.";

struct EditArgs {
  std::string model, stats, c0, state, scalar = "double", tensor, orientation;
  int layer = -1;
  bool force = false;
  MethodArgs method;
  std::vector<std::string> batches;
};

template <typename Scalar>
int run_edit(const EditArgs& a) {
  const sio::Checkpoint ck(a.model);
  const sio::TensorLocation loc = locate(ck, a.layer, a.tensor, a.orientation);
  const Matrix<Scalar> w_ckpt = ck.load<Scalar>(loc);
  const Eigen::Index dv = w_ckpt.rows(), dk = w_ckpt.cols();
  std::cerr << "seqedit: " << ck.shard_of(loc.tensor) << ": '" << loc.tensor << "' (" << orientation_name(loc.orientation)
            << "), W is " << matrix_shape(dv, dk) << " (d_v x d_k)\n";

  // All batches are read and checked before anything is edited.
  std::vector<Batch<Scalar>> batches;
  for (const std::string& path : a.batches) batches.push_back(read_batch<Scalar>(path, dv, dk));

  require_writable(ck.shard_of(loc.tensor), "edited shard");
  if (!a.state.empty()) require_writable(a.state, "state file");

  const bool resume = !a.state.empty() && std::filesystem::exists(a.state);
  MethodSettings m;
  if (resume) {
    const sio::EditorStateInfo info = sio::read_editor_state_info(a.state);
    if (info.scalar != state_scalar_name<Scalar>())
      throw cli_error(a.state + ": the state holds " + info.scalar + "; pass --scalar " +
                      (info.scalar == "float64" ? "double" : "float") + " to continue it");
    check_state_target(info, a.layer, loc, dv, dk);
    m = resumed_method_settings(a.method, info);
    for (const auto& [given, option] : {std::pair{!a.stats.empty(), "--stats"}, std::pair{!a.c0.empty(), "--c0"}})
      if (given)
        std::cerr << "seqedit: warning: resuming from " << a.state << ": " << option
                  << " is ignored (the state holds the editor's system; C0 is not read)\n";
  } else {
    m = new_method_settings(a.method);
    if (a.stats.empty() && a.c0.empty())
      throw cli_error("starting a new edit sequence needs C0: pass --stats NPZ or --c0 FILE");
  }

  with_regulariser<Scalar>(m, [&](const auto& reg) {
    using Reg = std::decay_t<decltype(reg)>;
    using Editor = seqedit::SequentialEditor<Scalar, Reg>;
    std::optional<Editor> ed;
    if (resume) {
      ed.emplace(sio::load_editor_state<Scalar, Reg>(a.state, reg));
      require_checkpoint_matches(ck, loc, ed->weights(), a.state, a.force);
      std::cerr << "seqedit: resumed " << a.state << ": " << ed->steps() << " steps, " << ed->journal().size()
                << " live edits\n";
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      const Matrix<Scalar> c0 = read_c0<Scalar>(a.stats, a.c0, dk);
      ed.emplace(w_ckpt, c0, method_objective<Scalar>(m), method_editor_options<Scalar>(m, c0), reg);
      std::cerr << "seqedit: new editor (" << m.method << ", lambda " << fmt_real(m.lambda) << ", alpha "
                << fmt_real(m.alpha) << ", compensation " << sio::compensation_name(m.compensation) << ", "
                << scalar_name<Scalar>() << ") in " << fmt_real(seconds_since(t0), 3) << " s\n";
    }

    std::size_t bi = 0;
    for (const Batch<Scalar>& b : batches) {
      ++bi;
      const auto t0 = std::chrono::steady_clock::now();
      Matrix<Scalar> v = b.v_or_r;
      if (b.residual) v.noalias() += ed->weights() * b.k;
      Matrix<Scalar> r_before = v;
      r_before.noalias() -= ed->weights() * b.k;
      const std::vector<seqedit::EditId> ids =
          b.residual ? ed->apply_residual(b.k, b.v_or_r) : ed->apply(b.k, b.v_or_r);
      const double dt = seconds_since(t0);
      Matrix<Scalar> r_after = v;
      r_after.noalias() -= ed->weights() * b.k;
      std::vector<std::uint64_t> serials;
      for (const auto& id : ids) serials.push_back(id.serial);
      const double before = double(r_before.norm()), after = double(r_after.norm());
      std::cout << "batch " << bi << "/" << batches.size() << " " << b.path << ": " << ids.size() << " edits, ids "
                << serial_ranges(serials) << "; residual |V - W K|_F " << fmt_real(before, 4) << " -> "
                << fmt_real(after, 4) << " (" << fmt_real(before > 0 ? after / before : 0.0, 3) << "); "
                << fmt_real(dt, 3) << " s\n";
    }

    write_results(ck, loc, *ed, a.state, tool_metadata(m, a.layer, loc, ck));
    if (a.state.empty())
      std::cerr << "seqedit: warning: no --state: these edits cannot be continued exactly or retracted later\n";
  });
  return 0;
}

class EditCommand : public Command {
 public:
  std::string name() const override { return "edit"; }
  std::string description() const override {
    return "Apply batches of edits to one layer's FFN output projection, resuming from --state if it exists";
  }
  void add_options(CLI::App& app) override {
    app.add_option("--model", a_.model, "Checkpoint folder (config.json + model.safetensors or shards)")->required();
    app.add_option("--layer", a_.layer, "Layer index (0-based)")->required();
    app.add_option("--stats", a_.stats, "MEMIT statistics npz (mom2.mom2, mom2.count): C0 = mom2 / count");
    app.add_option("--c0", a_.c0, "C0 itself: .npy, or .safetensors/.npz with one matrix (or one named C0)");
    add_method_options(app, a_.method);
    app.add_option("--state", a_.state,
                   "Editor state file (.safetensors): resumed if it exists, (re)written after the batches. When "
                   "resuming, the method options given must match the state; --stats/--c0 are not read");
    app.add_option("--scalar", a_.scalar, "Working precision: double (default) or float");
    app.add_option("--tensor", a_.tensor, "Edit this tensor instead of the family's FFN output of --layer");
    app.add_option("--orientation", a_.orientation,
                   "With --tensor: out-in (stored [d_v, d_k] = W) or in-out (stored [d_k, d_v] = W^T)");
    app.add_flag("--force", a_.force,
                 "Continue even if the checkpoint tensor differs from the state's weights (it is overwritten)");
    app.add_option("batches", a_.batches, "Batch files (.safetensors or .npz), applied in order, one step each")
        ->required();
    app.footer(kBatchFormat);
  }
  int run() override {
    if (!a_.stats.empty() && !a_.c0.empty()) throw cli_error("give either --stats or --c0, not both");
    (void)find_method(a_.method.method);  // unknown method: fail before reading anything
    if (a_.method.given(a_.method.compensation_opt)) (void)parse_compensation(a_.method.compensation);
    return with_scalar(a_.scalar, [&](auto scalar) { return run_edit<decltype(scalar)>(a_); });
  }

 private:
  EditArgs a_;
};

}  // namespace

SEQEDIT_CLI_COMMAND(EditCommand)

}  // namespace seqedit_cli
