// Writing an edited checkpoint: each touched shard once, atomically (checkpoint_out.hpp).

#include "seqedit/facts/checkpoint_out.hpp"

#include "seqedit/io/atomic_file.hpp"
#include "seqedit/io/checkpoint.hpp"
#include "seqedit/io/error.hpp"
#include "seqedit/io/safetensors.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {
namespace {

namespace fs = std::filesystem;

struct Replacement {
  std::string tensor;
  std::uint64_t begin = 0, end = 0;
  std::vector<char> bytes;
};

/// Writes `src` with the replacements into a temporary file for `target` (not committed).
std::unique_ptr<io::AtomicFileWriter> write_shard(const std::string& src, std::vector<Replacement> reps,
                                                  const std::string& target) {
  const io::SafetensorsFile file(src);
  std::sort(reps.begin(), reps.end(), [](const Replacement& a, const Replacement& b) { return a.begin < b.begin; });
  std::ifstream in(src, std::ios::binary);
  if (!in) throw io::io_error("cannot open '" + src + "' for reading");
  auto w = std::make_unique<io::AtomicFileWriter>(target);
  std::vector<char> buf(std::size_t(1) << 22);
  std::uint64_t pos = 0;
  const auto copy_to = [&](std::uint64_t to) {
    in.seekg(static_cast<std::streamoff>(pos));
    while (pos < to) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), to - pos));
      in.read(buf.data(), static_cast<std::streamsize>(k));
      if (static_cast<std::size_t>(in.gcount()) != k) throw io::io_error("cannot read '" + src + "'");
      w->write(buf.data(), k);
      pos += k;
    }
  };
  for (const Replacement& r : reps) {
    copy_to(file.data_start() + r.begin);
    w->write(r.bytes.data(), r.bytes.size());
    pos = file.data_start() + r.end;
  }
  copy_to(file.file_size());
  return w;
}

}  // namespace

void write_edited_checkpoint(const std::string& model_dir, const std::vector<LayerWeights>& layers,
                             const std::string& out_dir) {
  const io::Checkpoint ck(model_dir);
  std::map<std::string, std::vector<Replacement>> by_shard;  // shard path → its replacements
  for (const LayerWeights& lw : layers) {
    const io::TensorLocation loc = ck.ffn_output(lw.layer);
    const std::string shard = ck.shard_of(loc.tensor);
    const io::SafetensorsFile f(shard);
    const io::TensorInfo& t = f.info(loc.tensor);
    const bool in_out = loc.orientation == io::Orientation::InOut;
    if (t.shape.size() != 2)
      throw io::format_error(shard + ": tensor '" + loc.tensor + "' is not 2-D");
    const Eigen::Index dv = static_cast<Eigen::Index>(in_out ? t.shape[1] : t.shape[0]);
    const Eigen::Index dk = static_cast<Eigen::Index>(in_out ? t.shape[0] : t.shape[1]);
    if (lw.weights.rows() != dv || lw.weights.cols() != dk)
      throw std::invalid_argument("write_edited_checkpoint: layer " + std::to_string(lw.layer) + ": W is " +
                                  std::to_string(lw.weights.rows()) + " x " + std::to_string(lw.weights.cols()) +
                                  " but tensor '" + loc.tensor + "' holds " + std::to_string(dv) + " x " +
                                  std::to_string(dk));
    Replacement r;
    r.tensor = loc.tensor;
    r.begin = t.begin;
    r.end = t.end;
    r.bytes = in_out ? io::detail::encode_matrix(lw.weights.transpose(), t.dtype)
                     : io::detail::encode_matrix(lw.weights, t.dtype);
    for (const Replacement& o : by_shard[shard])
      if (o.tensor == r.tensor)
        throw std::invalid_argument("write_edited_checkpoint: layer " + std::to_string(lw.layer) + " given twice");
    by_shard[shard].push_back(std::move(r));
  }

  if (out_dir.empty()) {
    std::vector<std::unique_ptr<io::AtomicFileWriter>> pending;
    for (auto& kv : by_shard) pending.push_back(write_shard(kv.first, kv.second, kv.first));
    for (auto& w : pending) w->commit();
    return;
  }

  std::error_code ec;
  if (fs::exists(out_dir, ec))
    throw std::invalid_argument("--out folder '" + out_dir + "' exists; give a new folder (or write in place)");
  {
    // The new folder may not lie inside the checkpoint (it would be copied into itself).
    const fs::path src = fs::weakly_canonical(model_dir), dst = fs::weakly_canonical(out_dir);
    const auto mismatch = std::mismatch(src.begin(), src.end(), dst.begin(), dst.end());
    if (mismatch.first == src.end())
      throw std::invalid_argument("--out folder '" + out_dir + "' lies inside the checkpoint folder '" + model_dir +
                                  "'; give a folder outside it");
  }
  const std::string tmp = out_dir + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec))
    throw io::io_error("cannot create the folder '" + tmp + "': " + ec.message());
  // Shards (always in the checkpoint folder itself) by file name.
  std::map<std::string, const std::vector<Replacement>*> by_name;
  for (const auto& kv : by_shard) by_name[fs::path(kv.first).filename().string()] = &kv.second;
  // The iterator yields base / relative path; `prefix` is that string's fixed head.
  const fs::path base(model_dir);
  const std::string marker = (base / "x").string();
  const std::string prefix = marker.substr(0, marker.size() - 1);
  try {
    for (auto it = fs::recursive_directory_iterator(base); it != fs::recursive_directory_iterator(); ++it) {
      const fs::directory_entry& entry = *it;
      const std::string full = entry.path().string();
      if (full.compare(0, prefix.size(), prefix) != 0)
        throw io::io_error("unexpected path '" + full + "' while copying '" + model_dir + "'");
      const std::string rel = full.substr(prefix.size());
      const std::string dst = tmp + "/" + rel;
      if (entry.is_directory()) {
        if (!fs::create_directory(dst, ec) && ec)
          throw io::io_error("cannot create the folder '" + dst + "': " + ec.message());
        continue;
      }
      if (!entry.is_regular_file()) continue;  // sockets, fifos, broken links
      const auto shard = it.depth() == 0 ? by_name.find(rel) : by_name.end();
      if (shard != by_name.end()) {
        write_shard(entry.path().string(), *shard->second, dst)->commit();
        continue;
      }
      // A symbolic link (a Hugging Face cache snapshot) is followed: the new folder gets the
      // file it names, so that relative links do not break.
      const fs::path src = fs::canonical(entry.path(), ec);
      if (ec) throw io::io_error("cannot resolve '" + entry.path().string() + "': " + ec.message());
      fs::create_hard_link(src, dst, ec);
      if (ec) {
        ec.clear();
        fs::copy_file(src, dst, ec);
        if (ec) throw io::io_error("cannot copy '" + src.string() + "' to '" + dst + "': " + ec.message());
      }
    }
    fs::rename(tmp, out_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace facts
}  // namespace seqedit
