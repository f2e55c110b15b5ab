#ifndef SEQEDIT_CLI_COMMON_HPP
#define SEQEDIT_CLI_COMMON_HPP

/// \file cli_common.hpp
/// What the commands that edit a checkpoint share: locating the edited tensor, checking a
/// state file against it, writing the tensor and the state.

#include "cli_inputs.hpp"
#include "methods.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/io/io.hpp>

#include <Eigen/Core>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace seqedit_cli {

namespace sio = seqedit::io;

/// "[3, 4]".
std::string shape_text(const std::vector<std::int64_t>& shape);
/// Serials as compact ranges: "1-6, 10-12"; "(none)" when empty.
std::string serial_ranges(const std::vector<std::uint64_t>& s);
/// 16 hexadecimal digits.
std::string hex_u64(std::uint64_t v);
/// Seconds elapsed since t0.
double seconds_since(std::chrono::steady_clock::time_point t0);

/// "out-in" / "in-out" to Orientation; throws cli_error otherwise.
sio::Orientation parse_orientation(const std::string& s);
const char* orientation_name(sio::Orientation o);

/// The edited tensor: --tensor/--orientation, or the family's FFN output of --layer.
sio::TensorLocation locate(const sio::Checkpoint& ck, int layer, const std::string& tensor,
                           const std::string& orientation);

/// W's size (d_v, d_k) from the tensor's header, without reading its data.
std::pair<Eigen::Index, Eigen::Index> tensor_layer_shape(const sio::Checkpoint& ck, const sio::TensorLocation& loc);

/// Throws unless a file at `path` can be (re)created atomically: its folder must exist and
/// be writable (a temporary file is created there and renamed over `path`).
void require_writable(const std::string& path, const char* what);

/// `m[key]`, or `dflt`.
std::string meta_or(const std::map<std::string, std::string>& m, const std::string& key, const std::string& dflt);

/// Checks that a state file was written by the tool for this layer and tensor and that its
/// W is d_v × d_k; returns its recorded metadata.
const std::map<std::string, std::string>& check_state_target(const sio::EditorStateInfo& info, int layer,
                                                             const sio::TensorLocation& loc, Eigen::Index dv,
                                                             Eigen::Index dk);

/// The tool's metadata in a state file: the method's entries, the layer, the tensor, its
/// orientation, the model type, the tool's version.
std::map<std::string, std::string> tool_metadata(const MethodSettings& m, int layer, const sio::TensorLocation& loc,
                                                 const sio::Checkpoint& ck);

/// How far the checkpoint's tensor is from W: empty if its bytes are exactly W rounded to
/// the stored dtype (what `Checkpoint::save` writes), else a description of the difference.
template <typename Scalar>
std::string checkpoint_difference(const sio::Checkpoint& ck, const sio::TensorLocation& loc, const Matrix<Scalar>& w) {
  const std::string shard = ck.shard_of(loc.tensor);
  const sio::SafetensorsFile f(shard);
  const auto& t = f.info(loc.tensor);
  const bool in_out = loc.orientation == sio::Orientation::InOut;
  const Eigen::Index rows = in_out ? w.cols() : w.rows(), cols = in_out ? w.rows() : w.cols();
  if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols)
    return "its shape " + shape_text(t.shape) + " does not match the state's W (" + matrix_shape(w.rows(), w.cols()) + ")";
  if (ck.stores(loc, w)) return "";
  const Matrix<Scalar> now = ck.load<Scalar>(loc);
  const double diff = double((now - w).norm()), wn = double(w.norm());
  return "max |difference| " + fmt_real(double((now - w).cwiseAbs().maxCoeff()), 3) + ", relative Frobenius " +
         fmt_real(wn > 0 ? diff / wn : diff, 3);
}

/// Throws cli_error unless the checkpoint's tensor holds the state's W (or, with `force`,
/// warns on stderr).
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

/// Writes the edited tensor, then the state (if `state` is not empty). Both files are
/// replaced atomically; if the state cannot be written after the tensor was, the message
/// says so.
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

/// Calls `f(editor)` with the editor a state file holds, in its precision and with the
/// regulariser it names (the float/double and regulariser dispatch of every command that
/// continues a state).
template <typename F>
decltype(auto) with_state_editor(const std::string& path, const sio::EditorStateInfo& info, F&& f) {
  return with_scalar(info.scalar, [&](auto scalar) -> decltype(auto) {
    using Scalar = decltype(scalar);
    return with_described_regulariser<Scalar>(path, info.regulariser, [&](const auto& reg) -> decltype(auto) {
      using Reg = std::decay_t<decltype(reg)>;
      auto ed = sio::load_editor_state<Scalar, Reg>(path, reg);
      return f(ed);
    });
  });
}

}  // namespace seqedit_cli

#endif  // SEQEDIT_CLI_COMMON_HPP
