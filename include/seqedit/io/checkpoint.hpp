#ifndef SEQEDIT_IO_CHECKPOINT_HPP
#define SEQEDIT_IO_CHECKPOINT_HPP

/// \file checkpoint.hpp
/// Hugging Face checkpoint folders (safetensors, single file or sharded) and the FFN
/// output projection W ∈ R^{d_v × d_k} of each layer (math notes, section 1).
///
/// Decisions:
/// * Orientation is decided by the model family (config.json `model_type`), never by
///   shape: gpt2 stores Wᵀ ([d_k, d_v], Conv1D) → Orientation::InOut; gptj, llama,
///   mistral and qwen2 store W ([d_v, d_k], nn.Linear) → Orientation::OutIn.
/// * gpt2 tensors exist with and without the `transformer.` prefix; ffn_output() picks
///   the one present (both present is an error, none present names both candidates).
/// * config.json is optional: without it model_type() is empty and ffn_output() throws;
///   load()/save() with an explicit TensorLocation still work.
/// * Shards: `model.safetensors.index.json` (its weight_map, whose file names must be
///   plain names inside the folder) or else a single `model.safetensors`.
/// * save() rewrites only the shard holding the tensor, in its own dtype and shape, every
///   other byte identical, atomically (replace_tensor); the index is untouched.

#include "error.hpp"
#include "safetensors.hpp"

#include <Eigen/Core>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

namespace seqedit {
namespace io {

/// How a tensor stores W (d_v × d_k).
enum class Orientation {
  OutIn,  ///< stored [d_v, d_k] = W (nn.Linear: GPT-J, Llama, Mistral, Qwen2)
  InOut   ///< stored [d_k, d_v] = Wᵀ (GPT-2 Conv1D)
};

/// A tensor name and the orientation in which it stores W.
struct TensorLocation {
  std::string tensor;
  Orientation orientation;
};

/// A Hugging Face checkpoint folder.
///
/// \code
/// seqedit::io::Checkpoint ck("gpt2-xl");
/// const auto loc = ck.ffn_output(17);
/// Eigen::MatrixXf W = ck.load<float>(loc);   // 1600 x 6400 = d_v x d_k
/// W += delta;
/// ck.save(loc, W);                           // back into its shard, as stored
/// \endcode
class Checkpoint {
 public:
  /// Reads config.json (if present) and the shard layout. Throws io_error / format_error.
  explicit Checkpoint(const std::string& dir) : dir_(dir) {
    namespace fs = std::filesystem;
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) throw io_error("'" + dir_ + "' is not a checkpoint folder (not a directory)");
    const std::string cfg = dir_ + "/config.json";
    if (fs::exists(cfg, ec)) {
      const std::vector<char> text = detail::read_whole_file(cfg, std::uint64_t(1) << 24);
      const nlohmann::json j = detail::parse_json_strict(text.data(), text.data() + text.size(), cfg, "invalid JSON");
      if (!j.is_object()) throw format_error(cfg + ": the JSON is not an object");
      const auto mt = j.find("model_type");
      if (mt == j.end() || !mt->is_string())
        throw format_error(cfg + ": key 'model_type': missing or not a string");
      model_type_ = mt->get<std::string>();
    }
    const std::string index = dir_ + "/model.safetensors.index.json";
    if (fs::exists(index, ec)) {
      sharded_ = true;
      const std::vector<char> text = detail::read_whole_file(index, std::uint64_t(1) << 28);
      const nlohmann::json j = detail::parse_json_strict(text.data(), text.data() + text.size(), index, "invalid JSON");
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw format_error(index + ": key 'weight_map': missing or not an object");
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it->is_string()) detail::throw_format(index, it.key(), "weight_map value is not a string");
        const std::string shard = it->get<std::string>();
        if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
            shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos)
          detail::throw_format(index, it.key(), "shard name '" + shard + "' is not a plain file name in the folder");
        weight_map_.emplace(it.key(), shard);
      }
    } else if (!fs::exists(dir_ + "/model.safetensors", ec)) {
      throw format_error(dir_ + ": neither model.safetensors nor model.safetensors.index.json exists");
    }
  }

  /// The folder.
  const std::string& dir() const { return dir_; }
  /// config.json's `model_type` ("" if the folder has no config.json).
  const std::string& model_type() const { return model_type_; }
  /// True if the checkpoint is sharded (has model.safetensors.index.json).
  bool sharded() const { return sharded_; }

  /// True if the checkpoint has a tensor called `tensor`.
  bool has_tensor(const std::string& tensor) const {
    if (sharded_) return weight_map_.count(tensor) != 0;
    return SafetensorsFile(dir_ + "/model.safetensors").contains(tensor);
  }

  /// Path of the shard holding `tensor` (dir/model.safetensors, or dir/<weight_map entry>).
  /// Throws format_error if no shard has it.
  std::string shard_of(const std::string& tensor) const {
    if (sharded_) {
      const auto it = weight_map_.find(tensor);
      if (it == weight_map_.end())
        detail::throw_format(dir_ + "/model.safetensors.index.json", tensor, "not in the weight_map");
      return dir_ + "/" + it->second;
    }
    const std::string path = dir_ + "/model.safetensors";
    if (!SafetensorsFile(path).contains(tensor)) detail::throw_format(path, tensor, "no such tensor in the file");
    return path;
  }

  /// Comma-separated families ffn_output() knows.
  static const char* supported_families() { return "gpt2, gptj, llama, mistral, qwen2"; }

  /// The FFN output projection of layer `layer` (0-based), by model family.
  /// Throws format_error for an unknown family (naming the supported ones) or a layer
  /// whose tensor does not exist; std::invalid_argument for a negative layer.
  TensorLocation ffn_output(int layer) const {
    if (layer < 0) throw std::invalid_argument("seqedit::io::Checkpoint::ffn_output: layer " + std::to_string(layer) + " < 0");
    const std::string n = std::to_string(layer);
    const std::string where = dir_ + "/config.json";
    if (model_type_.empty())
      throw format_error(dir_ + ": no config.json, so the model family is unknown; pass the tensor explicitly "
                                "as a TensorLocation (supported families: " + std::string(supported_families()) + ")");
    if (model_type_ == "gpt2") {
      const std::string a = "transformer.h." + n + ".mlp.c_proj.weight", b = "h." + n + ".mlp.c_proj.weight";
      const bool ha = has_tensor(a), hb = has_tensor(b);
      if (ha && hb) throw format_error(dir_ + ": tensor '" + a + "': both '" + a + "' and '" + b + "' exist; pass the tensor explicitly");
      if (!ha && !hb)
        throw format_error(dir_ + ": tensor '" + a + "': layer " + n + " not found (neither '" + a + "' nor '" + b + "' exists)");
      return {ha ? a : b, Orientation::InOut};
    }
    std::string name;
    if (model_type_ == "gptj") name = "transformer.h." + n + ".mlp.fc_out.weight";
    else if (model_type_ == "llama" || model_type_ == "mistral" || model_type_ == "qwen2")
      name = "model.layers." + n + ".mlp.down_proj.weight";
    else
      throw format_error(where + ": model_type '" + model_type_ + "' is not supported by ffn_output (supported: " +
                         supported_families() + "); pass the tensor name and orientation explicitly as a TensorLocation");
    if (!has_tensor(name)) throw format_error(dir_ + ": tensor '" + name + "': layer " + n + " not found");
    return {name, Orientation::OutIn};
  }

  /// Loads W (d_v × d_k, math orientation) from a 2-D tensor.
  /// \tparam Scalar float or double.
  template <typename Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> load(const TensorLocation& loc) const {
    const std::string path = shard_of(loc.tensor);
    const SafetensorsFile f(path);
    check_2d(f, loc.tensor);
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> s = f.read_matrix<Scalar>(loc.tensor);
    if (loc.orientation == Orientation::InOut) return s.transpose();
    return s;
  }

  /// Writes W (d_v × d_k) back into its shard in the stored dtype and orientation; only
  /// that shard is rewritten (atomically), every other byte stays identical.
  /// \tparam Derived any Eigen matrix expression.
  template <typename Derived>
  void save(const TensorLocation& loc, const Eigen::MatrixBase<Derived>& W) const {
    const std::string path = shard_of(loc.tensor);
    const SafetensorsFile f(path);
    check_2d(f, loc.tensor);
    const TensorInfo& t = f.info(loc.tensor);
    const bool in_out = loc.orientation == Orientation::InOut;
    const Eigen::Index dv = static_cast<Eigen::Index>(in_out ? t.shape[1] : t.shape[0]);
    const Eigen::Index dk = static_cast<Eigen::Index>(in_out ? t.shape[0] : t.shape[1]);
    if (W.rows() != dv || W.cols() != dk)
      throw std::invalid_argument(detail::format_message(
          path, "tensor", loc.tensor,
          "stored as " + detail::shape_string(t.shape) + (in_out ? " (= W transposed)" : " (= W)") +
              ", so W must be " + std::to_string(dv) + " x " + std::to_string(dk) + ", got " +
              std::to_string(W.rows()) + " x " + std::to_string(W.cols())));
    if (in_out) replace_tensor(path, loc.tensor, W.transpose());
    else replace_tensor(path, loc.tensor, W);
  }

  /// True if the tensor at `loc` holds exactly W (d_v × d_k, math orientation) as
  /// `save(loc, W)` would write it: same shape, and bytes equal to W rounded once to the
  /// tensor's stored dtype. Reads only that tensor. Throws format_error as `load` does
  /// (missing tensor, not 2-D).
  template <typename Derived>
  bool stores(const TensorLocation& loc, const Eigen::MatrixBase<Derived>& W) const {
    const std::string path = shard_of(loc.tensor);
    const SafetensorsFile f(path);
    check_2d(f, loc.tensor);
    const TensorInfo& t = f.info(loc.tensor);
    const bool in_out = loc.orientation == Orientation::InOut;
    const Eigen::Index dv = static_cast<Eigen::Index>(in_out ? t.shape[1] : t.shape[0]);
    const Eigen::Index dk = static_cast<Eigen::Index>(in_out ? t.shape[0] : t.shape[1]);
    if (W.rows() != dv || W.cols() != dk) return false;
    const std::vector<char> stored = f.read_raw(loc.tensor);
    return in_out ? detail::encode_matrix(W.transpose(), t.dtype) == stored
                  : detail::encode_matrix(W, t.dtype) == stored;
  }

 private:
  static void check_2d(const SafetensorsFile& f, const std::string& name) {
    const TensorInfo& t = f.info(name);
    if (t.shape.size() != 2)
      detail::throw_format(f.path(), name, "has shape " + detail::shape_string(t.shape) + "; a weight matrix must be 2-D");
  }

  std::string dir_;
  std::string model_type_;
  bool sharded_ = false;
  std::map<std::string, std::string> weight_map_;
};

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_CHECKPOINT_HPP
