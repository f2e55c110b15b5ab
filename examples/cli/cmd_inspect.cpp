// `seqedit inspect`: what a safetensors / npy / npz file, a checkpoint folder or a state
// file holds.

#include "cli_common.hpp"
#include "cli_inputs.hpp"
#include "command.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/io/io.hpp>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace seqedit_cli {
namespace {

void print_metadata(std::ostream& os, const std::map<std::string, std::string>& meta, const std::string& indent) {
  if (meta.empty()) {
    os << indent << "(no metadata)\n";
    return;
  }
  for (const auto& kv : meta) os << indent << kv.first << " = " << kv.second << "\n";
}

void print_tensors(std::ostream& os, const seqedit::io::SafetensorsFile& f, const std::string& indent) {
  for (const auto& t : f.tensors())
    os << indent << t.name << "  " << seqedit::io::dtype_name(t.dtype) << " " << shape_text(t.shape) << "\n";
}

void inspect_state(std::ostream& os, const std::string& path) {
  const seqedit::io::EditorStateInfo info = seqedit::io::read_editor_state_info(path, true);
  os << path << ": seqedit editor state (version " << info.state_version << ", checksum verified)\n";
  os << "  scalar          " << info.scalar << "\n";
  os << "  W               " << info.value_dim << " x " << info.key_dim << " (d_v x d_k)\n";
  os << "  projector       "
     << (info.has_projector ? "rank " + std::to_string(info.reduced_dim) + " of " + std::to_string(info.key_dim)
                            : std::string("none"))
     << "\n";
  os << "  objective       lambda = " << fmt_real(info.lambda, 17) << ", alpha = " << fmt_real(info.alpha, 17) << "\n";
  os << "  history         " << seqedit::io::history_name(info.history) << "\n";
  os << "  compensation    " << seqedit::io::compensation_name(info.compensation) << "\n";
  os << "  regulariser     " << info.regulariser << "\n";
  os << "  steps           " << info.steps << "\n";
  os << "  journal         " << info.journal_serials.size() << " live edits, ids "
     << serial_ranges(info.journal_serials) << "\n";
  os << "  next id         " << info.next_serial << "\n";
  os << "  drift estimate  "
     << (std::isnan(info.drift_estimate) ? std::string("unknown") : fmt_real(info.drift_estimate, 4))
     << " (relative error of the stored inverse on its probes, when saved)\n";
  os << "  editor tag      " << hex_u64(info.editor_tag) << "\n";
  if (!info.extra_metadata.empty()) {
    os << "  recorded by the tool:\n";
    print_metadata(os, info.extra_metadata, "    ");
  }
  os << "  tensors:\n";
  for (const auto& t : info.tensors)
    os << "    " << t.name << "  " << seqedit::io::dtype_name(t.dtype) << " " << shape_text(t.shape) << "\n";
}

void inspect_safetensors(std::ostream& os, const std::string& path) {
  const seqedit::io::SafetensorsFile f(path);
  if (f.metadata().count("seqedit.state_version")) {
    inspect_state(os, path);
    return;
  }
  os << path << ": safetensors, " << f.tensors().size() << " tensors, " << f.file_size() << " bytes\n";
  os << "  metadata:\n";
  print_metadata(os, f.metadata(), "    ");
  os << "  tensors:\n";
  print_tensors(os, f, "    ");
}

void print_npy(std::ostream& os, const seqedit::io::NpyArray& a, const std::string& indent) {
  os << indent << "descr " << a.descr << ", shape " << shape_text(a.shape) << (a.fortran_order ? ", Fortran order" : "")
     << "\n";
}

void inspect_npz(std::ostream& os, const std::string& path) {
  const seqedit::io::NpzFile z(path);
  const auto keys = z.keys();
  os << path << ": npz, " << keys.size() << " arrays\n";
  for (const std::string& k : keys) {
    const seqedit::io::NpyArray a = z.read(k);
    os << "  " << k << ": ";
    print_npy(os, a, "");
  }
  if (z.contains("mom2.mom2") && z.contains("mom2.count")) {
    const seqedit::io::NpyArray cnt = z.read("mom2.count");
    const auto c = seqedit::io::to_matrix<double>(cnt, path + ": key 'mom2.count'");
    const seqedit::io::NpyArray mom = z.read("mom2.mom2");
    os << "  MEMIT statistics: d_k = " << (mom.shape.empty() ? 0 : mom.shape[0]) << ", " << fmt_real(c(0, 0), 17)
       << " tokens (C0 = mom2.mom2 / mom2.count)\n";
  }
}

void inspect_checkpoint(std::ostream& os, const std::string& dir) {
  const seqedit::io::Checkpoint ck(dir);
  os << ck.dir() << ": checkpoint folder\n";
  os << "  model_type      " << (ck.model_type().empty() ? "(no config.json)" : ck.model_type()) << "\n";
  std::set<std::string> shards;
  namespace fs = std::filesystem;
  if (ck.sharded()) {
    for (const auto& e : fs::directory_iterator(ck.dir()))
      if (ends_with(e.path().filename().string(), ".safetensors")) shards.insert(e.path().string());
  } else {
    shards.insert(ck.dir() + "/model.safetensors");
  }
  os << "  shards          " << shards.size() << (ck.sharded() ? " (model.safetensors.index.json)" : "") << "\n";
  for (const std::string& s : shards) {
    const seqedit::io::SafetensorsFile f(s);
    os << "  " << fs::path(s).filename().string() << ": " << f.tensors().size() << " tensors, " << f.file_size()
       << " bytes\n";
    print_tensors(os, f, "    ");
  }
  if (ck.model_type().empty()) return;
  os << "  FFN output projection W (d_v x d_k) per layer:\n";
  for (int layer = 0; layer < 100000; ++layer) {
    seqedit::io::TensorLocation loc;
    try {
      loc = ck.ffn_output(layer);
    } catch (const seqedit::io::format_error& e) {
      if (layer == 0) os << "    (" << e.what() << ")\n";
      break;
    }
    const seqedit::io::SafetensorsFile f(ck.shard_of(loc.tensor));
    const auto& t = f.info(loc.tensor);
    const bool in_out = loc.orientation == seqedit::io::Orientation::InOut;
    os << "    layer " << layer << ": " << loc.tensor << "  " << seqedit::io::dtype_name(t.dtype) << " "
       << shape_text(t.shape) << (in_out ? " stores W^T (in-out)" : " stores W (out-in)");
    if (t.shape.size() == 2) os << ", W is " << (in_out ? t.shape[1] : t.shape[0]) << " x " << (in_out ? t.shape[0] : t.shape[1]);
    os << "\n";
  }
}

/// Prints what `path` holds; throws on unreadable or unknown files.
void inspect(std::ostream& os, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw cli_error(path + ": no such file or folder");
  if (fs::is_directory(path, ec)) return inspect_checkpoint(os, path);
  if (ends_with(path, ".safetensors")) return inspect_safetensors(os, path);
  if (ends_with(path, ".npz")) return inspect_npz(os, path);
  if (ends_with(path, ".npy")) {
    os << path << ": npy, ";
    print_npy(os, seqedit::io::read_npy(path), "");
    return;
  }
  throw cli_error(path + ": unknown file type (expected a folder, .safetensors, .npz or .npy)");
}

class InspectCommand : public Command {
 public:
  std::string name() const override { return "inspect"; }
  std::string description() const override {
    return "Show tensors, dtypes, shapes and metadata of a safetensors/npy/npz file, a checkpoint folder "
           "(model_type, shards, the FFN tensor of each layer) or a seqedit state file (steps, journal ids)";
  }
  void add_options(CLI::App& app) override {
    app.add_option("path", paths_, "FILE or DIR to inspect")->required();
  }
  int run() override {
    for (const std::string& p : paths_) inspect(std::cout, p);
    return 0;
  }

 private:
  std::vector<std::string> paths_;
};

}  // namespace

SEQEDIT_CLI_COMMAND(InspectCommand)

}  // namespace seqedit_cli
