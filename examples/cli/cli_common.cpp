#include "cli_common.hpp"

#include <seqedit/version.hpp>

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>

namespace seqedit_cli {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string serial_ranges(const std::vector<std::uint64_t>& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j + 1 < s.size() && s[j + 1] == s[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += std::to_string(s[i]);
    if (j > i) out += "-" + std::to_string(s[j]);
    i = j + 1;
  }
  return out.empty() ? "(none)" : out;
}

std::string hex_u64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
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

std::pair<Eigen::Index, Eigen::Index> tensor_layer_shape(const sio::Checkpoint& ck, const sio::TensorLocation& loc) {
  const sio::SafetensorsFile shard(ck.shard_of(loc.tensor));
  const auto& t = shard.info(loc.tensor);
  if (t.shape.size() != 2) throw cli_error(shard.path() + ": tensor '" + loc.tensor + "' is not 2-D");
  const bool in_out = loc.orientation == sio::Orientation::InOut;
  return {Eigen::Index(in_out ? t.shape[1] : t.shape[0]), Eigen::Index(in_out ? t.shape[0] : t.shape[1])};
}

void require_writable(const std::string& path, const char* what) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw cli_error(path + ": cannot write the " + what + ": folder '" + dir + "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    throw cli_error(path + ": cannot write the " + what + ": folder '" + dir + "' is not writable");
}

std::string meta_or(const std::map<std::string, std::string>& m, const std::string& key, const std::string& dflt) {
  const auto it = m.find(key);
  return it == m.end() ? dflt : it->second;
}

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

std::map<std::string, std::string> tool_metadata(const MethodSettings& m, int layer, const sio::TensorLocation& loc,
                                                 const sio::Checkpoint& ck) {
  std::map<std::string, std::string> meta = method_metadata(m);
  meta["cli.layer"] = std::to_string(layer);
  meta["cli.tensor"] = loc.tensor;
  meta["cli.orientation"] = orientation_name(loc.orientation);
  meta["cli.model_type"] = ck.model_type();
  meta["cli.version"] = seqedit::version_string;
  return meta;
}

}  // namespace seqedit_cli
