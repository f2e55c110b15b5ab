// seqedit: command-line tool to edit facts in the FFN output projection of a Hugging Face
// checkpoint by closed-form least squares, sequentially, with exact undo.
//
//   seqedit inspect FILE|DIR
//   seqedit edit    --model DIR --layer N (--stats NPZ | --c0 FILE) --method M [options] BATCH...
//   seqedit retract --state S --ids ID... --model DIR --layer N
//   seqedit verify  --state S (--stats NPZ | --c0 FILE) [--tolerance T]
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
//
// Exit codes: 0 success; 1 `verify` found a deviation above the tolerance; 2 an error
// (message on stderr, prefixed "seqedit: error:"); command-line syntax errors use
// CLI11's codes (non-zero).

#include "cli_inputs.hpp"
#include "cli_inspect.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/io/io.hpp>
#include <seqedit/one_time_editor.hpp>
#include <seqedit/projector.hpp>
#include <seqedit/sequential_editor.hpp>
#include <seqedit/version.hpp>

#include <CLI/CLI.hpp>
#include <Eigen/Core>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace seqedit_cli {
namespace {

namespace sio = seqedit::io;

const char* const kBatchFormat =
    "Batch files: a .safetensors or .npz file per step, holding K (d_k x n, one column per "
    "edit: the keys) and V (d_v x n, the wanted layer outputs), or K and R (d_v x n, the "
    "residuals V - W K under the weights current when the batch is applied). Any float dtype. "
    "The new edits' ids are printed; `seqedit retract --ids` takes them.";

// ------------------------------------------------------------------ arguments

struct EditArgs {
  std::string model, stats, c0, method, state, scalar = "double", tensor, orientation, compensation;
  int layer = -1;
  double lambda = 0, alpha = 0, threshold = 0, p = 0;
  bool force = false;
  std::vector<std::string> batches;
  CLI::Option *lambda_opt = nullptr, *alpha_opt = nullptr, *threshold_opt = nullptr, *p_opt = nullptr,
              *compensation_opt = nullptr;
};

struct RetractArgs {
  std::string state, model, tensor, orientation;
  int layer = -1;
  std::vector<std::uint64_t> ids;
  bool force = false;
};

struct VerifyArgs {
  std::string state, stats, c0;
  double tolerance = -1;
};

// ------------------------------------------------------------------ helpers

template <typename Scalar>
const char* scalar_name() {
  return std::is_same<Scalar, double>::value ? "double" : "float";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

sio::Orientation parse_orientation(const std::string& s) {
  if (s == "out-in") return sio::Orientation::OutIn;
  if (s == "in-out") return sio::Orientation::InOut;
  throw cli_error("--orientation '" + s + "' is not out-in (stored [d_v, d_k] = W) or in-out (stored [d_k, d_v] = W^T)");
}

const char* orientation_name(sio::Orientation o) { return o == sio::Orientation::OutIn ? "out-in" : "in-out"; }

/// The edited tensor: --tensor/--orientation, or the family's FFN output of --layer.
sio::TensorLocation locate(const sio::Checkpoint& ck, int layer, const std::string& tensor,
                           const std::string& orientation) {
  if (layer < 0) throw cli_error("--layer must be >= 0, got " + std::to_string(layer));
  if (!tensor.empty()) {
    if (orientation.empty())
      throw cli_error("--tensor needs --orientation out-in (stored [d_v, d_k]) or in-out (stored [d_k, d_v])");
    if (!ck.has_tensor(tensor)) throw cli_error(ck.dir() + ": no tensor '" + tensor + "' in the checkpoint");
    return {tensor, parse_orientation(orientation)};
  }
  if (!orientation.empty()) throw cli_error("--orientation is only used together with --tensor");
  return ck.ffn_output(layer);
}

/// How far the checkpoint's tensor is from W (in its stored dtype): "" if byte-identical
/// after rounding W to that dtype, else a description of the difference.
template <typename Scalar>
std::string checkpoint_difference(const sio::Checkpoint& ck, const sio::TensorLocation& loc, const Matrix<Scalar>& w) {
  const std::string shard = ck.shard_of(loc.tensor);
  const sio::SafetensorsFile f(shard);
  const auto& t = f.info(loc.tensor);
  const bool in_out = loc.orientation == sio::Orientation::InOut;
  const Matrix<Scalar> stored = in_out ? Matrix<Scalar>(w.transpose()) : w;
  if (t.shape.size() != 2 || t.shape[0] != stored.rows() || t.shape[1] != stored.cols())
    return "its shape " + shape_text(t.shape) + " does not match the state's W (" + matrix_shape(w.rows(), w.cols()) + ")";
  if (sio::detail::encode_matrix(stored, t.dtype) == f.read_raw(loc.tensor)) return "";
  const Matrix<Scalar> now = ck.load<Scalar>(loc);
  const double diff = double((now - w).norm()), wn = double(w.norm());
  return "max |difference| " + fmt_real(double((now - w).cwiseAbs().maxCoeff()), 3) + ", relative Frobenius " +
         fmt_real(wn > 0 ? diff / wn : diff, 3);
}

template <typename Scalar>
void require_checkpoint_matches(const sio::Checkpoint& ck, const sio::TensorLocation& loc, const Matrix<Scalar>& w,
                                const std::string& state, bool force) {
  const std::string diff = checkpoint_difference(ck, loc, w);
  if (diff.empty()) return;
  if (force) {
    std::cerr << "seqedit: warning: " << ck.shard_of(loc.tensor) << ": tensor '" << loc.tensor
              << "' differs from the weights in " << state << " (" << diff
              << "); --force: continuing from the state's weights\n";
    return;
  }
  throw cli_error(ck.shard_of(loc.tensor) + ": tensor '" + loc.tensor + "' differs from the current weights in " + state +
                  " (" + diff + "): it was changed outside this state. Use --force to continue from the state's "
                  "weights and overwrite the tensor");
}

/// Throws unless a file at `path` can be (re)created atomically: its folder must exist and
/// be writable (a temporary file is created there and renamed over `path`).
void require_writable(const std::string& path, const char* what) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw cli_error(path + ": cannot write the " + what + ": folder '" + dir + "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    throw cli_error(path + ": cannot write the " + what + ": folder '" + dir + "' is not writable");
}

/// Writes the edited tensor, then the state. Both files are replaced atomically; if the
/// state cannot be written after the tensor was, the message says so.
template <typename Editor>
void write_results(const sio::Checkpoint& ck, const sio::TensorLocation& loc, const Editor& ed,
                   const std::string& state, const std::map<std::string, std::string>& meta) {
  ck.save(loc, ed.weights());
  std::cout << "wrote '" << loc.tensor << "' into " << ck.shard_of(loc.tensor) << "\n";
  if (state.empty()) return;
  try {
    sio::save_editor_state(state, ed, meta);
  } catch (const std::exception& e) {
    throw cli_error(std::string(e.what()) + "\nthe tensor '" + loc.tensor + "' was updated but the state file " + state +
                    " was not (it still holds the previous state, or does not exist)");
  }
  std::cout << "wrote state " << state << ": " << ed.steps() << " steps, " << ed.journal().size() << " live edits\n";
}

/// The tool's own metadata in a state file.
std::map<std::string, std::string> tool_metadata(const MethodSettings& m, int layer, const sio::TensorLocation& loc,
                                                 const sio::Checkpoint& ck) {
  std::map<std::string, std::string> meta = {{"cli.method", m.method},
                                             {"cli.layer", std::to_string(layer)},
                                             {"cli.tensor", loc.tensor},
                                             {"cli.orientation", orientation_name(loc.orientation)},
                                             {"cli.model_type", ck.model_type()},
                                             {"cli.version", seqedit::version_string}};
  if (m.method == "alphaedit") meta["cli.threshold"] = sio::detail::exact_real(m.threshold);
  if (m.method == "memit-rect") meta["cli.p"] = sio::detail::exact_real(m.p);
  return meta;
}

std::string meta_or(const std::map<std::string, std::string>& m, const std::string& key, const std::string& dflt) {
  const auto it = m.find(key);
  return it == m.end() ? dflt : it->second;
}

/// Checks that a state file belongs to this layer/tensor; returns its recorded metadata.
const std::map<std::string, std::string>& check_state_target(const sio::EditorStateInfo& info, int layer,
                                                             const sio::TensorLocation& loc, Eigen::Index dv,
                                                             Eigen::Index dk) {
  const auto& extra = info.extra_metadata;
  if (!extra.count("cli.method"))
    throw cli_error(info.path + ": this state file was not written by the seqedit tool (no 'cli.method' metadata)");
  if (meta_or(extra, "cli.layer", "") != std::to_string(layer))
    throw cli_error(info.path + ": the state belongs to layer " + meta_or(extra, "cli.layer", "?") + ", not --layer " +
                    std::to_string(layer));
  if (meta_or(extra, "cli.tensor", "") != loc.tensor)
    throw cli_error(info.path + ": the state belongs to tensor '" + meta_or(extra, "cli.tensor", "?") + "', not '" +
                    loc.tensor + "'");
  if (info.value_dim != dv || info.key_dim != dk)
    throw cli_error(info.path + ": the state's W is " + matrix_shape(info.value_dim, info.key_dim) +
                    " but the checkpoint's is " + matrix_shape(dv, dk));
  return extra;
}

// ------------------------------------------------------------------ edit

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

  MethodSettings m = method_defaults(a.method);
  const bool resume = !a.state.empty() && std::filesystem::exists(a.state);
  std::optional<sio::EditorStateInfo> info;
  if (resume) {
    info = sio::read_editor_state_info(a.state);
    if (info->scalar != sio::detail::scalar_label<Scalar>())
      throw cli_error(a.state + ": the state holds " + info->scalar + "; pass --scalar " +
                      (info->scalar == "float64" ? "double" : "float") + " to continue it");
    const auto& extra = check_state_target(*info, a.layer, loc, dv, dk);
    if (extra.at("cli.method") != a.method)
      throw cli_error(a.state + ": the state was made with --method " + extra.at("cli.method") + ", not " + a.method);
    const auto same = [&](CLI::Option* opt, double given, double stored, const char* name) {
      if (opt && opt->count() && double(Scalar(given)) != stored)
        throw cli_error(a.state + ": the state was made with --" + name + " " + fmt_real(stored, 17) + ", not " +
                        fmt_real(given, 17));
    };
    same(a.lambda_opt, a.lambda, info->lambda, "lambda");
    same(a.alpha_opt, a.alpha, info->alpha, "alpha");
    m.lambda = info->lambda;
    m.alpha = info->alpha;
    m.compensation = sio::compensation_name(info->compensation);
    if (a.compensation_opt && a.compensation_opt->count() && a.compensation != m.compensation)
      throw cli_error(a.state + ": the state was made with --compensation " + m.compensation + ", not " + a.compensation);
    if (m.method == "alphaedit") m.threshold = std::strtod(meta_or(extra, "cli.threshold", "0.02").c_str(), nullptr);
    if (m.method == "memit-rect") {
      m.p = std::strtod(meta_or(extra, "cli.p", "0.2").c_str(), nullptr);
      same(a.p_opt, a.p, m.p, "p");
    }
    if (!a.stats.empty() || !a.c0.empty())
      std::cerr << "seqedit: resuming from " << a.state << ": C0 is not needed and is not read\n";
  } else {
    if (a.lambda_opt && a.lambda_opt->count()) m.lambda = a.lambda;
    if (a.alpha_opt && a.alpha_opt->count()) m.alpha = a.alpha;
    if (a.threshold_opt && a.threshold_opt->count()) m.threshold = a.threshold;
    if (a.p_opt && a.p_opt->count()) m.p = a.p;
    if (a.compensation_opt && a.compensation_opt->count()) m.compensation = a.compensation;
    if (a.stats.empty() && a.c0.empty())
      throw cli_error("starting a new edit sequence needs C0: pass --stats NPZ or --c0 FILE");
  }
  if ((a.threshold_opt && a.threshold_opt->count()) && m.method != "alphaedit")
    throw cli_error("--threshold applies to --method alphaedit only");
  if ((a.p_opt && a.p_opt->count()) && m.method != "memit-rect") throw cli_error("--p applies to --method memit-rect only");

  with_method_regulariser<Scalar>(m, [&](const auto& reg) {
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
      seqedit::EditorOptions<Scalar> opts;
      opts.compensation = m.compensation == "analytic" ? seqedit::Compensation::Analytic : seqedit::Compensation::None;
      if (m.method == "alphaedit") {
        opts.projector = seqedit::NullSpaceProjector<Scalar>(c0, Scalar(m.threshold), stderr_progress("projector"));
        std::cerr << "seqedit: null-space projector: rank " << opts.projector->rank() << " of " << dk
                  << " (eigenvalues of C0 below " << fmt_real(m.threshold) << ")\n";
      }
      seqedit::Objective<Scalar> obj;
      obj.lambda = Scalar(m.lambda);
      obj.alpha = Scalar(m.alpha);
      ed.emplace(w_ckpt, c0, obj, opts, reg);
      std::cerr << "seqedit: new editor (" << m.method << ", lambda " << fmt_real(m.lambda) << ", alpha "
                << fmt_real(m.alpha) << ", compensation " << m.compensation << ", " << scalar_name<Scalar>() << ") in "
                << fmt_real(seconds_since(t0), 3) << " s\n";
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

// ------------------------------------------------------------------ retract

template <typename Scalar>
int run_retract(const RetractArgs& a, const sio::EditorStateInfo& info) {
  const sio::Checkpoint ck(a.model);
  const sio::TensorLocation loc = locate(ck, a.layer, a.tensor, a.orientation);
  const sio::SafetensorsFile shard(ck.shard_of(loc.tensor));
  const auto& t = shard.info(loc.tensor);
  if (t.shape.size() != 2) throw cli_error(shard.path() + ": tensor '" + loc.tensor + "' is not 2-D");
  const bool in_out = loc.orientation == sio::Orientation::InOut;
  check_state_target(info, a.layer, loc, Eigen::Index(in_out ? t.shape[1] : t.shape[0]),
                     Eigen::Index(in_out ? t.shape[0] : t.shape[1]));
  if (info.history != seqedit::History::Aligned)
    throw cli_error(a.state + ": retraction needs the aligned history; the state has '" +
                    std::string(sio::history_name(info.history)) + "'");
  require_writable(ck.shard_of(loc.tensor), "edited shard");
  require_writable(a.state, "state file");
  with_described_regulariser<Scalar>(a.state, info.regulariser, [&](const auto& reg) {
    using Reg = std::decay_t<decltype(reg)>;
    auto ed = sio::load_editor_state<Scalar, Reg>(a.state, reg);
    require_checkpoint_matches(ck, loc, ed.weights(), a.state, a.force);
    std::vector<seqedit::EditId> ids;
    for (std::uint64_t s : a.ids) {
      if (!ed.journal().contains(seqedit::EditId{ed.tag(), s}))
        throw cli_error(a.state + ": edit id " + std::to_string(s) + " is not in the journal (live ids: " +
                        serial_ranges(info.journal_serials) + ")");
      ids.push_back(seqedit::EditId{ed.tag(), s});
    }
    const Matrix<Scalar> before = ed.weights();
    try {
      ed.retract(ids);
    } catch (const std::invalid_argument& e) {
      throw cli_error(a.state + ": " + e.what());
    }
    std::cout << "retracted " << ids.size() << " edits (ids " << serial_ranges(a.ids) << "): |W change|_F "
              << fmt_real(double((ed.weights() - before).norm()), 4) << "; " << ed.journal().size()
              << " live edits remain\n";
    write_results(ck, loc, ed, a.state, info.extra_metadata);
  });
  return 0;
}

// ------------------------------------------------------------------ verify

template <typename Scalar>
int run_verify(const VerifyArgs& a) {
  sio::EditorStateInfo info;
  const seqedit::EditorState<Scalar> s = sio::read_editor_state<Scalar>(a.state, &info);
  if (s.history != seqedit::History::Aligned)
    throw cli_error(a.state + ": verify compares with the one-time edit over the journal, which needs the aligned "
                    "history; the state has '" + std::string(sio::history_name(s.history)) + "'");
  const Eigen::Index dk = s.initial_weights.cols();
  const Matrix<Scalar> c0 = read_c0<Scalar>(a.stats, a.c0, dk);
  const double tol = a.tolerance >= 0 ? a.tolerance : (std::is_same<Scalar, double>::value ? 1e-8 : 1e-3);

  const auto t0 = std::chrono::steady_clock::now();
  Matrix<Scalar> dstar = Matrix<Scalar>::Zero(s.initial_weights.rows(), dk);
  if (s.journal_keys.cols() > 0) {
    if (s.projector_basis) {
      const auto proj = seqedit::NullSpaceProjector<Scalar>::from_basis(
          *s.projector_basis, Scalar(1e3) * Eigen::NumTraits<Scalar>::epsilon() * Scalar(std::max<Eigen::Index>(1, dk)));
      const seqedit::OneTimeEditor<Scalar> ote(c0, s.objective, proj);
      dstar = ote.solve(s.initial_weights, s.journal_keys, s.journal_values);
    } else {
      const seqedit::OneTimeEditor<Scalar> ote(c0, s.objective);
      dstar = ote.solve(s.initial_weights, s.journal_keys, s.journal_values);
    }
  }
  const Matrix<Scalar> d = s.weights - s.initial_weights;
  const double ref = double(dstar.norm());
  const double denom = ref > 0 ? ref : 1.0;
  const double err = double((d - dstar).norm()) / denom;
  std::cout << a.state << ": " << s.journal_keys.cols() << " live edits, " << s.steps << " steps, " << info.scalar
            << ", regulariser " << info.regulariser << ", compensation " << sio::compensation_name(s.compensation)
            << "\n";
  std::cout << "  one-time edit over the journal recomputed in " << fmt_real(seconds_since(t0), 3) << " s, |D*|_F = "
            << fmt_real(ref, 6) << "\n";
  std::cout << "  |D - D*|_F / |D*|_F       = " << fmt_real(err, 4) << (ref > 0 ? "" : " (absolute: D* = 0)") << "\n";
  double judged = err;
  if (s.compensation == seqedit::Compensation::Analytic) {
    const double errc = double((d - dstar - s.deviation).norm()) / denom;
    std::cout << "  |D - D* - e|_F / |D*|_F   = " << fmt_real(errc, 4) << "\n";
    judged = errc;
  }
  const bool ok = judged <= tol;
  std::cout << (ok ? "OK" : "FAILED") << ": " << fmt_real(judged, 4) << (ok ? " <= " : " > ") << "tolerance "
            << fmt_real(tol, 4) << "\n";
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace seqedit_cli

int main(int argc, char** argv) {
  using namespace seqedit_cli;
  CLI::App app{"seqedit " + std::string(seqedit::version_string) +
               ": exact sequential editing of facts in the FFN output projection of a language model "
               "(closed-form least squares; MEMIT, AlphaEdit, PRUNE/RECT with error compensation)"};
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "seqedit: error: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });
  app.require_subcommand(1);
  app.set_version_flag("--version", seqedit::version_string);

  // inspect
  std::vector<std::string> inspect_paths;
  CLI::App* inspect_cmd = app.add_subcommand(
      "inspect", "Show tensors, dtypes, shapes and metadata of a safetensors/npy/npz file, a checkpoint folder "
                 "(model_type, shards, the FFN tensor of each layer) or a seqedit state file (steps, journal ids)");
  inspect_cmd->add_option("path", inspect_paths, "FILE or DIR to inspect")->required();

  // edit
  EditArgs ea;
  CLI::App* edit_cmd = app.add_subcommand(
      "edit", "Apply batches of edits to one layer's FFN output projection, resuming from --state if it exists");
  edit_cmd->add_option("--model", ea.model, "Checkpoint folder (config.json + model.safetensors or shards)")->required();
  edit_cmd->add_option("--layer", ea.layer, "Layer index (0-based)")->required();
  edit_cmd->add_option("--stats", ea.stats, "MEMIT statistics npz (mom2.mom2, mom2.count): C0 = mom2 / count");
  edit_cmd->add_option("--c0", ea.c0, "C0 itself: .npy, or .safetensors/.npz with one matrix (or one named C0)");
  edit_cmd->add_option("--method", ea.method, "memit | alphaedit | memit-prune | memit-rect")->required();
  ea.lambda_opt = edit_cmd->add_option("--lambda", ea.lambda,
                                       "Retention weight lambda (default: memit 15000, alphaedit 0, memit-prune/rect 15000)");
  ea.alpha_opt = edit_cmd->add_option("--alpha", ea.alpha,
                                      "Ridge weight alpha (default: memit 0, alphaedit 10, memit-prune/rect 1)");
  ea.threshold_opt = edit_cmd->add_option("--threshold", ea.threshold,
                                          "alphaedit: eigenvalue threshold of the null-space projector (default 2e-2)");
  ea.p_opt = edit_cmd->add_option("--p", ea.p, "memit-rect: ratio of entries kept, in (0, 1] (default 0.2)");
  ea.compensation_opt = edit_cmd->add_option("--compensation", ea.compensation,
                                             "none | analytic (default: analytic for memit-prune/rect, else none)");
  edit_cmd->add_option("--state", ea.state,
                       "Editor state file (.safetensors): resumed if it exists, (re)written after the batches");
  edit_cmd->add_option("--scalar", ea.scalar, "Working precision: double (default) or float");
  edit_cmd->add_option("--tensor", ea.tensor, "Edit this tensor instead of the family's FFN output of --layer");
  edit_cmd->add_option("--orientation", ea.orientation,
                       "With --tensor: out-in (stored [d_v, d_k] = W) or in-out (stored [d_k, d_v] = W^T)");
  edit_cmd->add_flag("--force", ea.force,
                     "Continue even if the checkpoint tensor differs from the state's weights (it is overwritten)");
  edit_cmd->add_option("batches", ea.batches, "Batch files (.safetensors or .npz), applied in order, one step each")
      ->required();
  edit_cmd->footer(kBatchFormat);

  // retract
  RetractArgs ra;
  CLI::App* retract_cmd = app.add_subcommand(
      "retract", "Remove earlier edits exactly (as if never made) by their ids; rewrites the tensor and the state");
  retract_cmd->add_option("--state", ra.state, "Editor state file written by `seqedit edit`")->required();
  retract_cmd->add_option("--ids", ra.ids, "Edit ids to retract (printed by `edit`, listed by `inspect STATE`)")
      ->required();
  retract_cmd->add_option("--model", ra.model, "Checkpoint folder")->required();
  retract_cmd->add_option("--layer", ra.layer, "Layer index (must be the state's)")->required();
  retract_cmd->add_option("--tensor", ra.tensor, "The edited tensor, if it was given to `edit` with --tensor");
  retract_cmd->add_option("--orientation", ra.orientation, "With --tensor: out-in or in-out");
  retract_cmd->add_flag("--force", ra.force, "Continue even if the checkpoint tensor differs from the state's weights");

  // verify
  VerifyArgs va;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify", "Recompute the one-time edit over the journal and compare: exit 0 if the relative deviation "
                "|D - D*|/|D*| (with compensation: |D - D* - e|/|D*|) is within --tolerance, else 1");
  verify_cmd->add_option("--state", va.state, "Editor state file")->required();
  verify_cmd->add_option("--stats", va.stats, "MEMIT statistics npz (C0 = mom2 / count)");
  verify_cmd->add_option("--c0", va.c0, "C0 file (.npy, .safetensors or .npz)");
  verify_cmd->add_option("--tolerance", va.tolerance, "Relative tolerance (default 1e-8 for double, 1e-3 for float)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (*inspect_cmd) {
      for (const std::string& p : inspect_paths) inspect(std::cout, p);
      return 0;
    }
    if (*edit_cmd) {
      if (!ea.stats.empty() && !ea.c0.empty()) throw cli_error("give either --stats or --c0, not both");
      (void)method_defaults(ea.method);  // unknown method: fail before reading anything
      if (ea.compensation_opt->count() && ea.compensation != "none" && ea.compensation != "analytic")
        throw cli_error("--compensation '" + ea.compensation + "' is not none or analytic");
      if (ea.scalar == "double") return run_edit<double>(ea);
      if (ea.scalar == "float") return run_edit<float>(ea);
      throw cli_error("--scalar '" + ea.scalar + "' is not double or float");
    }
    if (*retract_cmd) {
      const seqedit::io::EditorStateInfo info = seqedit::io::read_editor_state_info(ra.state);
      if (info.scalar == "float64") return run_retract<double>(ra, info);
      return run_retract<float>(ra, info);
    }
    if (*verify_cmd) {
      if (va.stats.empty() == va.c0.empty()) throw cli_error("verify needs exactly one of --stats NPZ or --c0 FILE");
      const seqedit::io::EditorStateInfo info = seqedit::io::read_editor_state_info(va.state);
      if (info.scalar == "float64") return run_verify<double>(va);
      return run_verify<float>(va);
    }
  } catch (const std::exception& e) {
    std::cerr << "seqedit: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
