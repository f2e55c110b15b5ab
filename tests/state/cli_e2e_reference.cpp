// cli_e2e_reference MODEL_DIR LAYER STATS_NPZ OUT_NPY BATCH...
//
// The library's in-memory result for the end-to-end test of the seqedit tool: loads W0
// of the layer from an untouched copy of the checkpoint and C0 from the statistics, runs a
// SequentialEditor (MEMIT defaults: lambda 15000, alpha 0, double) over the batches (K and
// V, or K and R), and writes the final W (d_v x d_k, float64) to OUT_NPY.

#include <seqedit/io/io.hpp>
#include <seqedit/sequential_editor.hpp>

#include <Eigen/Core>

#include <exception>
#include <iostream>
#include <optional>
#include <string>

namespace {

Eigen::MatrixXd read_named(const std::string& path, const std::string& key, bool& found) {
  found = false;
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npz") == 0) {
    const seqedit::io::NpzFile z(path);
    if (!z.contains(key)) return {};
    found = true;
    return z.read_matrix<double>(key);
  }
  const seqedit::io::SafetensorsFile f(path);
  if (!f.contains(key)) return {};
  found = true;
  return f.read_matrix<double>(key);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: cli_e2e_reference MODEL_DIR LAYER STATS_NPZ OUT_NPY BATCH...\n";
    return 2;
  }
  try {
    const seqedit::io::Checkpoint ck(argv[1]);
    const auto loc = ck.ffn_output(std::stoi(argv[2]));
    const Eigen::MatrixXd w0 = ck.load<double>(loc);
    const Eigen::MatrixXd c0 = seqedit::io::load_mom2_stats<double>(argv[3]);
    seqedit::SequentialEditor<double> ed(w0, c0, seqedit::Objective<double>::memit(15000.0));
    for (int i = 5; i < argc; ++i) {
      bool has_k = false, has_v = false, has_r = false;
      const Eigen::MatrixXd k = read_named(argv[i], "K", has_k);
      const Eigen::MatrixXd v = read_named(argv[i], "V", has_v);
      const Eigen::MatrixXd r = read_named(argv[i], "R", has_r);
      if (!has_k || has_v == has_r) throw std::runtime_error(std::string(argv[i]) + ": needs K and one of V, R");
      if (has_v) ed.apply(k, v);
      else ed.apply_residual(k, r);
    }
    seqedit::io::write_npy(argv[4], ed.weights(), seqedit::io::DType::F64);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "cli_e2e_reference: error: " << e.what() << "\n";
    return 1;
  }
}
