// The state of a fact-editing run: per-layer editor states and manifest.json (run_state.hpp).

#include "seqedit/facts/run_state.hpp"

#include "seqedit/io/atomic_file.hpp"
#include "seqedit/io/checkpoint.hpp"
#include "seqedit/io/editor_state.hpp"
#include "seqedit/io/error.hpp"
#include "seqedit/io/safetensors.hpp"

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string hash_bytes(const std::vector<char>& b) { return hex64(XXH3_64bits(b.data(), b.size())); }

/// XXH3-64 of a file's bytes, or "absent".
std::string hash_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return "absent";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io::io_error("cannot open '" + path + "' for reading");
  XXH3_state_t* st = XXH3_createState();
  if (!st) throw std::bad_alloc();
  XXH3_64bits_reset(st);
  std::vector<char> buf(std::size_t(1) << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) XXH3_64bits_update(st, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  const std::uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return hex64(h);
}

const char* history_key(History h) {
  switch (h) {
    case History::Aligned: return "aligned";
    case History::LatestOnly: return "latest";
    case History::None: return "none";
  }
  return "?";
}

std::string manifest_path(const std::string& dir) { return dir + "/manifest.json"; }

template <typename T>
T field(const json& j, const char* key, const std::string& path) {
  if (!j.is_object() || !j.contains(key))
    throw io::format_error(path + ": field '" + std::string(key) + "' is missing");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw io::format_error(path + ": field '" + std::string(key) + "' has the wrong type");
  }
}

/// The honoured fields as JSON (see hparams_json).
json hparams_object(const Hparams& hp) {
  json j;
  j["layers"] = hp.layers;
  j["fact_token"] = hp.fact_token;
  j["v_num_grad_steps"] = hp.v_num_grad_steps;
  j["v_lr"] = hp.v_lr;
  j["v_loss_layer"] = hp.v_loss_layer;
  j["v_weight_decay"] = hp.v_weight_decay;
  j["kl_factor"] = hp.kl_factor;
  j["clamp_norm_factor"] = hp.clamp_norm_factor;
  j["mom2_update_weight"] = hp.mom2_update_weight;
  j["rewrite_module_tmp"] = hp.rewrite_module_tmp;
  j["layer_module_tmp"] = hp.layer_module_tmp;
  j["ln_f_module"] = hp.ln_f_module;
  j["lm_head_module"] = hp.lm_head_module;
  j["mom2_n_samples"] = hp.mom2_n_samples;
  j["mom2_dtype"] = hp.mom2_dtype;
  j["nullspace_threshold"] = hp.nullspace_threshold;
  j["L2"] = hp.L2;
  return j;
}

}  // namespace

std::string hparams_json(const Hparams& hp) { return hparams_object(hp).dump(2); }

CheckpointFingerprint fingerprint_checkpoint(const std::string& model_dir, const std::vector<int>& layers) {
  CheckpointFingerprint fp;
  fp.config = hash_file(model_dir + "/config.json");
  fp.tokenizer = hash_file(model_dir + "/tokenizer.json");
  const io::Checkpoint ck(model_dir);
  for (int l : layers) {
    const io::TensorLocation loc = ck.ffn_output(l);
    const io::SafetensorsFile f(ck.shard_of(loc.tensor));
    fp.tensors.push_back(loc.tensor);
    fp.hashes.push_back(hash_bytes(f.read_raw(loc.tensor)));
  }
  return fp;
}

bool is_run_state(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(manifest_path(dir), ec);
}

RunManifest read_run_manifest(const std::string& dir) {
  const std::string path = manifest_path(dir);
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw io::io_error("cannot open '" + path + "' for reading: " + ec.message());
  if (size > max_manifest_bytes) throw io::format_error(path + ": larger than 64 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io::io_error("cannot open '" + path + "' for reading");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<std::size_t>(in.gcount()) != text.size() || in.get() != std::char_traits<char>::eof())
    throw io::io_error("'" + path + "' changed size while being read");
  return parse_run_manifest(text, path);
}

RunManifest parse_run_manifest(const std::string& text, const std::string& path) {
  if (text.size() > max_manifest_bytes) throw io::format_error(path + ": larger than 64 MiB");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw io::format_error(path + ": not JSON: " + e.what());
  }
  RunManifest m;
  if (field<std::string>(j, "format", path) != "seqedit-fact-run")
    throw io::format_error(path + ": field 'format' is not \"seqedit-fact-run\"");
  m.version = field<int>(j, "version", path);
  if (m.version != run_state_version)
    throw io::format_error(path + ": version " + std::to_string(m.version) + " (this build reads version " +
                           std::to_string(run_state_version) + ")");
  m.generation = field<std::uint64_t>(j, "generation", path);
  try {
    m.method = parse_method(field<std::string>(j, "method", path));
  } catch (const std::invalid_argument& e) {
    throw io::format_error(path + ": field 'method': " + e.what());
  }
  const std::string h = field<std::string>(j, "history", path);
  if (h == "aligned") m.history = History::Aligned;
  else if (h == "latest") m.history = History::LatestOnly;
  else if (h == "none") m.history = History::None;
  else throw io::format_error(path + ": field 'history' is '" + h + "' (aligned, latest or none)");
  const std::string c = field<std::string>(j, "compensation", path);
  if (c == "analytic") m.compensation = Compensation::Analytic;
  else if (c == "none") m.compensation = Compensation::None;
  else throw io::format_error(path + ": field 'compensation' is '" + c + "' (analytic or none)");
  if (m.method == Method::MemitRect) m.rect_ratio = field<double>(j, "rect_ratio", path);
  if (!j.contains("hparams") || !j["hparams"].is_object()) throw io::format_error(path + ": field 'hparams' is missing");
  m.hparams = parse_hparams(j["hparams"].dump(), path + " (hparams)");
  m.templates.groups = field<std::vector<std::vector<std::string>>>(j, "templates", path);
  try {
    m.templates.check();
  } catch (const std::invalid_argument& e) {
    throw io::format_error(path + ": field 'templates': " + e.what());
  }
  m.stats = field<std::string>(j, "stats", path);
  m.checkpoint = field<std::string>(j, "checkpoint", path);
  m.config = field<std::string>(j, "config", path);
  m.tokenizer = field<std::string>(j, "tokenizer", path);
  const json layers = j.contains("layers") ? j["layers"] : json();
  if (!layers.is_array() || layers.size() != m.hparams.layers.size())
    throw io::format_error(path + ": field 'layers' must list the " + std::to_string(m.hparams.layers.size()) +
                           " edited layers of 'hparams'");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const json& e = layers[i];
    const int l = field<int>(e, "layer", path);
    if (l != m.hparams.layers[i])
      throw io::format_error(path + ": layers[" + std::to_string(i) + "] is layer " + std::to_string(l) +
                             " but hparams edit layer " + std::to_string(m.hparams.layers[i]));
    m.layers.push_back(l);
    m.tensors.push_back(field<std::string>(e, "tensor", path));
    const std::string file = field<std::string>(e, "file", path);
    if (file.empty() || file.find('/') != std::string::npos || file[0] == '.')
      throw io::format_error(path + ": layers[" + std::to_string(i) + "].file '" + file +
                             "' is not a plain file name");
    m.files.push_back(file);
    m.checksums.push_back(field<std::string>(e, "checksum", path));
    m.original.push_back(field<std::string>(e, "original", path));
    m.current.push_back(field<std::string>(e, "current", path));
  }
  const json cases = j.contains("cases") ? j["cases"] : json();
  if (!cases.is_array()) throw io::format_error(path + ": field 'cases' is missing or not a list");
  std::map<std::int64_t, bool> seen;
  for (const json& e : cases) {
    const std::int64_t id = field<std::int64_t>(e, "case_id", path);
    std::vector<std::uint64_t> serials = field<std::vector<std::uint64_t>>(e, "serials", path);
    if (serials.size() != m.layers.size())
      throw io::format_error(path + ": case_id " + std::to_string(id) + " has " + std::to_string(serials.size()) +
                             " serials for " + std::to_string(m.layers.size()) + " layers");
    if (seen[id]) throw io::format_error(path + ": case_id " + std::to_string(id) + " is listed twice");
    seen[id] = true;
    m.case_order.push_back(id);
    m.case_serials.push_back(std::move(serials));
  }
  return m;
}

void save_run(const std::string& dir, const FactEditor& fe, const ContextTemplates& templates,
              const CheckpointFingerprint& written, const std::vector<std::string>& original,
              const std::string& checkpoint_dir, const std::string& stats_dir) {
  templates.check();
  const std::size_t n = fe.layers().size();
  if (written.hashes.size() != n || original.size() != n)
    throw std::invalid_argument("save_run: fingerprints of " + std::to_string(written.hashes.size()) + " and " +
                                std::to_string(original.size()) + " tensors for " + std::to_string(n) + " layers");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec)) throw io::io_error("cannot create the state folder '" + dir + "'");
  std::uint64_t generation = 1;
  std::vector<std::string> old_files;
  if (is_run_state(dir)) {
    const RunManifest prev = read_run_manifest(dir);
    generation = prev.generation + 1;
    old_files = prev.files;
  }
  json j;
  j["format"] = "seqedit-fact-run";
  j["version"] = run_state_version;
  j["generation"] = generation;
  j["method"] = method_name(fe.method());
  j["history"] = history_key(fe.history());
  const Compensation comp = fe.visit(0, [](const auto& ed) { return ed.options().compensation; });
  j["compensation"] = comp == Compensation::Analytic ? "analytic" : "none";
  if (fe.method() == Method::MemitRect) j["rect_ratio"] = fe.rect_editors().front().regulariser().ratio();
  j["hparams"] = hparams_object(fe.hparams());
  j["templates"] = templates.groups;
  j["stats"] = stats_dir;
  j["checkpoint"] = checkpoint_dir;
  j["config"] = written.config;
  j["tokenizer"] = written.tokenizer;
  std::vector<std::string> files;
  j["layers"] = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    const int l = fe.layers()[i];
    const std::string file = "layer-" + std::to_string(l) + ".g" + std::to_string(generation) + ".safetensors";
    const std::string path = dir + "/" + file;
    const std::map<std::string, std::string> meta{{"facts.layer", std::to_string(l)},
                                                  {"facts.method", method_name(fe.method())}};
    fe.visit(i, [&](const auto& ed) {
      io::save_editor_state(path, ed, meta);
      return 0;
    });
    files.push_back(file);
    j["layers"].push_back({{"layer", l},
                           {"tensor", written.tensors[i]},
                           {"file", file},
                           {"checksum", io::read_editor_state_info(path).checksum},
                           {"original", original[i]},
                           {"current", written.hashes[i]}});
  }
  j["cases"] = json::array();
  for (std::int64_t c : fe.case_order()) {
    std::vector<std::uint64_t> serials;
    for (const EditId& id : fe.cases().at(c)) serials.push_back(id.serial);
    j["cases"].push_back({{"case_id", c}, {"serials", serials}});
  }
  const std::string text = j.dump(1) + "\n";
  io::write_file_atomically(manifest_path(dir), [&](io::AtomicFileWriter& w) { w.write(text.data(), text.size()); });
  for (const std::string& f : old_files)
    if (std::find(files.begin(), files.end(), f) == files.end()) fs::remove(dir + "/" + f, ec);
}

FactEditor load_run(const std::string& dir, model::Model<float>& model, const std::string& model_dir,
                    const Hparams* expect, RunManifest* manifest_out) {
  RunManifest m = read_run_manifest(dir);
  if (expect) {
    const json a = hparams_object(*expect), b = hparams_object(m.hparams);
    for (auto it = b.begin(); it != b.end(); ++it)
      if (a.at(it.key()) != it.value())
        throw std::invalid_argument(dir + ": the state was run with hparams '" + it.key() + "' = " +
                                    it.value().dump() + ", this call gives " + a.at(it.key()).dump());
  }
  const CheckpointFingerprint fp = fingerprint_checkpoint(model_dir, m.layers);
  if (fp.config != m.config)
    throw std::invalid_argument(dir + ": the state belongs to another checkpoint: " + model_dir +
                                "/config.json differs from the one the state was written with (" + m.checkpoint + ")");
  if (fp.tokenizer != m.tokenizer)
    throw std::invalid_argument(dir + ": the state belongs to another checkpoint: " + model_dir +
                                "/tokenizer.json differs from the one the state was written with (" + m.checkpoint + ")");
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    if (fp.tensors[i] != m.tensors[i])
      throw std::invalid_argument(dir + ": layer " + std::to_string(m.layers[i]) + " is tensor '" + fp.tensors[i] +
                                  "' in " + model_dir + " but '" + m.tensors[i] + "' in the state");
    if (fp.hashes[i] != m.current[i])
      throw std::invalid_argument(dir + ": the state does not belong to the checkpoint " + model_dir + ": tensor '" +
                                  m.tensors[i] + "' (layer " + std::to_string(m.layers[i]) +
                                  ") differs from the one the state was last written to (" + m.checkpoint +
                                  (fp.hashes[i] == m.original[i] ? "; it is the unedited tensor" : "") + ")");
  }
  const io::Checkpoint ck(model_dir);
  const auto load_all = [&](auto reg) {
    using Reg = decltype(reg);
    std::vector<SequentialEditor<double, Reg>> eds;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
      const std::string path = dir + "/" + m.files[i];
      const io::EditorStateInfo info = io::read_editor_state_info(path);
      if (info.checksum != m.checksums[i])
        throw io::format_error(path + ": checksum " + info.checksum + " is not the manifest's " + m.checksums[i] +
                               " (a layer file of another save)");
      eds.push_back(io::load_editor_state<double, Reg>(path, reg));
      // W0 of the editor must be the checkpoint's original tensor (one rounding to its dtype)
      const io::TensorLocation loc = ck.ffn_output(m.layers[i]);
      const io::SafetensorsFile f(ck.shard_of(loc.tensor));
      const io::TensorInfo& t = f.info(loc.tensor);
      const Eigen::MatrixXd& w0 = eds.back().initial_weights();
      const std::vector<char> bytes = loc.orientation == io::Orientation::InOut
                                          ? io::detail::encode_matrix(w0.transpose(), t.dtype)
                                          : io::detail::encode_matrix(w0, t.dtype);
      if (hash_bytes(bytes) != m.original[i])
        throw std::invalid_argument(path + ": the editor's W0 is not the original tensor '" + m.tensors[i] +
                                    "' of the checkpoint the run started from");
      if (eds.back().options().history != m.history || eds.back().options().compensation != m.compensation)
        throw io::format_error(path + ": history or compensation differ from the manifest's");
    }
    std::map<std::int64_t, std::vector<EditId>> cases;
    for (std::size_t c = 0; c < m.case_order.size(); ++c) {
      std::vector<EditId>& ids = cases[m.case_order[c]];
      for (std::size_t i = 0; i < eds.size(); ++i) ids.push_back(EditId{eds[i].tag(), m.case_serials[c][i]});
    }
    for (std::size_t i = 0; i < eds.size(); ++i) {
      const std::size_t live = static_cast<std::size_t>(eds[i].journal().size());
      if (live != m.case_order.size())
        throw io::format_error(dir + "/" + m.files[i] + ": journal holds " + std::to_string(live) +
                               " edits but the manifest lists " + std::to_string(m.case_order.size()) + " cases");
    }
    return std::make_pair(std::move(eds), std::move(cases));
  };
  const auto finish = [&](auto&& pr) {
    FactEditor fe(model, m.hparams, m.method, std::move(pr.first), std::move(pr.second));
    fe.set_case_order(m.case_order);
    return fe;
  };
  FactEditor fe = m.method == Method::MemitPrune  ? finish(load_all(Prune<double>()))
                  : m.method == Method::MemitRect ? finish(load_all(Rect<double>(m.rect_ratio)))
                                                  : finish(load_all(NoRegulariser<double>()));
  if (manifest_out) *manifest_out = std::move(m);
  return fe;
}

}  // namespace facts
}  // namespace seqedit
