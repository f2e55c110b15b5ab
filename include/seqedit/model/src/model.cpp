// The transformer runtime: loading, the forward pass with captures and interventions, the
// reverse pass with respect to the interventions, incremental passes (pipeline.md §5, §10).

#include "seqedit/model/model.hpp"

#include "kernels.hpp"
#include "seqedit/io/detail/file.hpp"
#include "seqedit/io/detail/json.hpp"
#include "seqedit/io/safetensors.hpp"
#include "weights.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seqedit::model uses float32 weights in place and needs a little-endian machine"
#endif

namespace seqedit {
namespace model {

namespace detail {

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io::detail::throw_io("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    io::detail::throw_io("cannot stat", path, err);
  }
  n_ = static_cast<std::size_t>(st.st_size);
  if (n_ > 0) {
    p_ = ::mmap(nullptr, n_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p_ == MAP_FAILED) {
      const int err = errno;
      p_ = nullptr;
      ::close(fd);
      io::detail::throw_io("cannot map", path, err);
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (p_) ::munmap(p_, n_);
}

template <typename Scalar>
struct PassStateAccess {
  static Batch& batch(PassState<Scalar>& s) { return s.batch_; }
  static std::vector<Eigen::Index>& offsets(PassState<Scalar>& s) { return s.offsets_; }
  static std::vector<Mat<Scalar>>& outputs(PassState<Scalar>& s) { return s.outputs_; }
  static std::vector<Mat<Scalar>>& keys(PassState<Scalar>& s) { return s.keys_; }
  static std::vector<Mat<Scalar>>& values(PassState<Scalar>& s) { return s.values_; }
  static std::vector<std::vector<Site>>& sites(PassState<Scalar>& s) { return s.intervention_sites_; }
  static const std::vector<Mat<Scalar>>& keys(const PassState<Scalar>& s) { return s.keys_; }
  static const std::vector<Mat<Scalar>>& values(const PassState<Scalar>& s) { return s.values_; }
  static const std::vector<std::vector<Site>>& sites(const PassState<Scalar>& s) { return s.intervention_sites_; }
};

}  // namespace detail

namespace {

using detail::Mat;
using detail::Vec;
using detail::WeightView;
using Index = Eigen::Index;

[[noreturn]] void bad_arg(const std::string& what) { throw std::invalid_argument("seqedit::model: " + what); }

std::string site_str(const Site& s) {
  return "(prompt " + std::to_string(s.prompt) + ", position " + std::to_string(s.position) + ")";
}

/// Rows of the packed token matrices: prompt i's positions start[i] .. len[i]−1 are columns
/// act[i] .. act[i] + len[i] − start[i] − 1; the full layout (all positions) starts prompt i
/// at column off[i].
struct Layout {
  int P = 0;
  std::vector<int> len, start;
  std::vector<Index> off, act;
  Index N = 0, T = 0;
  int max_len = 0;
  std::vector<int> pos;  // absolute position of each active column
  Index col(const Site& s) const {
    return act[static_cast<std::size_t>(s.prompt)] + s.position - start[static_cast<std::size_t>(s.prompt)];
  }
  Index full(const Site& s) const { return off[static_cast<std::size_t>(s.prompt)] + s.position; }
};

}  // namespace

template <typename Scalar>
struct Model<Scalar>::Impl {
  using MatS = Mat<Scalar>;
  using VecS = Vec<Scalar>;

  struct Layer {
    VecS n1w, n1b, n2w, n2b;
    WeightView qkv, q, k, v, o, up, gate, down;
    VecS qkv_b, q_b, k_b, v_b, o_b, up_b, gate_b, down_b;
    bool has_override = false;
    MatS down_override;  // d × d_ff, math orientation
  };

  /// Activations of one block kept for the backward (or reused by every block in a forward).
  struct Acts {
    MatS x_in, q, kf, vf, x_mid, pre, up;
    VecS mean1, rstd1, mean2, rstd2;
    std::vector<MatS> probs;
  };

  /// Buffers reused between passes.
  struct Workspace {
    std::vector<Acts> acts;
    MatS x, h, qkv, knew, vnew, attn, a, key, f;
    MatS dx, dh, dh2, dattn, dq, dk, dv, dkf, dvf, dkey, dpre, dup, dxmid, dqkv;
    detail::GemmScratch<Scalar> scratch;
  };

  std::string dir;
  ModelConfig cfg;
  std::vector<std::unique_ptr<detail::MappedFile>> files;
  std::size_t bytes = 0;
  WeightView wte, wpe, head;
  VecS head_b, fw, fb;
  std::vector<Layer> layers;
  std::vector<double> inv_freq;
  mutable std::mutex mu;
  mutable Workspace ws;

  // ------------------------------------------------------------------ loading
  struct Stored {
    std::string file;
    const unsigned char* data;
    io::TensorInfo info;
  };
  std::map<std::string, Stored> tensors;
  std::set<std::string> used;

  void map_shard(const std::string& path) {
    const io::SafetensorsFile f(path);
    auto mf = std::make_unique<detail::MappedFile>(path);
    if (mf->size() != f.file_size()) throw io::io_error("'" + path + "' changed size while being opened");
    for (const io::TensorInfo& t : f.tensors()) {
      if (tensors.count(t.name))
        io::detail::throw_format(path, t.name, "also present in shard '" + tensors[t.name].file + "'");
      tensors.emplace(t.name, Stored{path, mf->data() + f.data_start() + t.begin, t});
    }
    files.push_back(std::move(mf));
  }

  void discover() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const std::string index = dir + "/model.safetensors.index.json";
    if (fs::exists(index, ec)) {
      const std::vector<char> text = io::detail::read_whole_file(index, std::uint64_t(1) << 28);
      const nlohmann::json j = io::detail::parse_json_strict(text.data(), text.data() + text.size(), index, "invalid JSON");
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw io::format_error(index + ": key 'weight_map': missing or not an object");
      std::map<std::string, std::string> wm;
      std::set<std::string> shards;
      for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
        if (!it->is_string()) io::detail::throw_format(index, it.key(), "weight_map value is not a string");
        const std::string shard = it->get<std::string>();
        if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
            shard.find('\\') != std::string::npos)
          io::detail::throw_format(index, it.key(), "shard name '" + shard + "' is not a plain file name in the folder");
        wm.emplace(it.key(), dir + "/" + shard);
        shards.insert(dir + "/" + shard);
      }
      for (const std::string& s : shards) map_shard(s);
      for (const auto& kv : wm) {
        const auto t = tensors.find(kv.first);
        if (t == tensors.end() || t->second.file != kv.second)
          io::detail::throw_format(index, kv.first, "listed for '" + kv.second + "' but not found there");
      }
      for (const auto& kv : tensors)
        if (!wm.count(kv.first))
          io::detail::throw_format(kv.second.file, kv.first, "not listed in model.safetensors.index.json");
    } else {
      const std::string single = dir + "/model.safetensors";
      if (!fs::exists(single, ec))
        throw io::format_error(dir + ": neither model.safetensors nor model.safetensors.index.json exists");
      map_shard(single);
    }
  }

  /// The tensor `name` of stored shape `shape` ([rows, cols] or [n]).
  WeightView take(const std::string& name, std::vector<std::int64_t> shape, bool transposed = false) {
    const auto it = tensors.find(name);
    if (it == tensors.end())
      throw io::format_error(dir + ": tensor '" + name + "': missing (needed by the " + cfg.model_type + " config)");
    const Stored& s = it->second;
    if (s.info.dtype == io::DType::I64)
      io::detail::throw_format(s.file, name, "has dtype I64; weights must be F32, F16, BF16 or F64");
    if (s.info.shape != shape)
      io::detail::throw_format(s.file, name, "has shape " + io::detail::shape_string(s.info.shape) + " but config.json implies " +
                                                 io::detail::shape_string(shape));
    if (detail::has_non_finite(s.data, s.info.dtype, static_cast<std::size_t>(s.info.numel())))
      io::detail::throw_format(s.file, name, "contains NaN or infinite values");
    used.insert(name);
    bytes += static_cast<std::size_t>(s.info.end - s.info.begin);
    WeightView w;
    w.name = name;
    w.data = s.data;
    w.dtype = s.info.dtype;
    w.rows = static_cast<Index>(shape[0]);
    w.cols = shape.size() > 1 ? static_cast<Index>(shape[1]) : 1;
    w.transposed = transposed;
    return w;
  }
  /// W (out × in, math orientation), stored [out, in] or, for Conv1D, [in, out].
  WeightView matrix(const std::string& name, int out, int in) {
    if (cfg.conv1d) return take(name, {in, out}, true);
    return take(name, {out, in}, false);
  }
  VecS vector(const std::string& name, int n) {
    if (name.empty()) return VecS();
    const WeightView w = take(name, {n});
    VecS v(n);
    detail::decode<Scalar>(w.data, w.dtype, n, v.data());
    return v;
  }

  void load() {
    cfg = ModelConfig::from_file(dir + "/config.json");
    discover();
    TensorNames& nm = cfg.names;
    std::string prefix;
    if (cfg.family == Family::GPT2) {
      const bool a = tensors.count("transformer.wte.weight") != 0, b = tensors.count("wte.weight") != 0;
      if (a && b) throw io::format_error(dir + ": tensor 'wte.weight': present both with and without the 'transformer.' prefix");
      if (a) prefix = "transformer.";
    }
    auto N = [&](const std::string& pat, int l) { return pat.empty() ? pat : prefix + TensorNames::at(pat, l); };
    const int d = cfg.d_model, V = cfg.vocab_size, F = cfg.d_ff, qd = cfg.q_dim(), kvd = cfg.kv_dim();
    wte = take(N(nm.token_embedding, 0), {V, d});
    if (!nm.position_embedding.empty()) wpe = take(N(nm.position_embedding, 0), {cfg.max_positions, d});
    layers.resize(static_cast<std::size_t>(cfg.n_layer));
    for (int l = 0; l < cfg.n_layer; ++l) {
      Layer& L = layers[static_cast<std::size_t>(l)];
      L.n1w = vector(N(nm.norm1_weight, l), d);
      L.n1b = vector(N(nm.norm1_bias, l), d);
      L.n2w = vector(N(nm.norm2_weight, l), d);
      L.n2b = vector(N(nm.norm2_bias, l), d);
      if (!nm.qkv_weight.empty()) {
        L.qkv = matrix(N(nm.qkv_weight, l), qd + 2 * kvd, d);
        L.qkv_b = vector(N(nm.qkv_bias, l), qd + 2 * kvd);
      } else {
        L.q = matrix(N(nm.q_weight, l), qd, d);
        L.k = matrix(N(nm.k_weight, l), kvd, d);
        L.v = matrix(N(nm.v_weight, l), kvd, d);
        L.q_b = vector(N(nm.q_bias, l), qd);
        L.k_b = vector(N(nm.k_bias, l), kvd);
        L.v_b = vector(N(nm.v_bias, l), kvd);
      }
      L.o = matrix(N(nm.o_weight, l), d, qd);
      L.o_b = vector(N(nm.o_bias, l), d);
      L.up = matrix(N(nm.up_weight, l), F, d);
      L.up_b = vector(N(nm.up_bias, l), F);
      if (!nm.gate_weight.empty()) {
        L.gate = matrix(N(nm.gate_weight, l), F, d);
        L.gate_b = vector(N(nm.gate_bias, l), F);
      }
      L.down = matrix(N(nm.down_weight, l), d, F);
      L.down_b = vector(N(nm.down_bias, l), d);
    }
    fw = vector(N(nm.final_norm_weight, 0), d);
    fb = vector(N(nm.final_norm_bias, 0), d);
    if (!nm.lm_head_weight.empty()) {
      head = take(N(nm.lm_head_weight, 0), {V, d});
      head_b = vector(N(nm.lm_head_bias, 0), V);
    } else {
      head = wte;
    }
    for (const auto& kv : tensors) {
      if (used.count(kv.first)) continue;
      bool ignored = false;
      for (const std::string& suf : nm.ignored_suffixes)
        if (kv.first.size() >= suf.size() && kv.first.compare(kv.first.size() - suf.size(), suf.size(), suf) == 0)
          ignored = true;
      if (cfg.tie_word_embeddings && kv.first == "lm_head.weight") ignored = true;
      if (!ignored)
        io::detail::throw_format(kv.second.file, kv.first,
                                 "unexpected: not part of a " + cfg.model_type + " model with this config.json");
    }
    tensors.clear();
    used.clear();
    init_rotary();
  }

  void init_rotary() {
    if (cfg.positions == PositionKind::Learned) return;
    const int rd = cfg.rotary_dim;
    inv_freq.resize(static_cast<std::size_t>(rd / 2));
    const RopeScaling& s = cfg.rope_scaling;
    for (int i = 0; i < rd / 2; ++i) {
      double f = 1.0 / std::pow(cfg.rope_theta, (2.0 * i) / rd);
      if (s.kind == RopeScaling::Kind::Linear) {
        f /= s.factor;
      } else if (s.kind == RopeScaling::Kind::Llama3) {
        const double pi = 3.14159265358979323846;
        const double wavelen = 2 * pi / f;
        const double old = s.original_max_position_embeddings;
        const double low_wl = old / s.low_freq_factor, high_wl = old / s.high_freq_factor;
        if (wavelen > low_wl) {
          f = f / s.factor;
        } else if (wavelen >= high_wl) {
          const double smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          f = (1 - smooth) * f / s.factor + smooth * f;
        }
      }
      inv_freq[static_cast<std::size_t>(i)] = f;
    }
  }

  // ------------------------------------------------------------------ products
  /// Y (+)= W X (+ b), W math orientation out × in.
  template <typename XT, typename YT>
  void linear(const WeightView& w, const VecS& b, const XT& X, YT&& Y, bool accumulate = false) const {
    detail::stored_gemm<Scalar>(w, w.transposed, X, Y, accumulate, ws.scratch);
    if (b.size() > 0) Y.colwise() += b;
  }
  /// dX (+)= Wᵀ dY.
  template <typename XT, typename YT>
  void linear_t(const WeightView& w, const XT& dY, YT&& dX, bool accumulate = false) const {
    detail::stored_gemm<Scalar>(w, !w.transposed, dY, dX, accumulate, ws.scratch);
  }
  template <typename XT, typename YT>
  void down_fwd(const Layer& L, const XT& key, YT&& f) const {
    if (L.has_override) detail::dense_gemm<Scalar>(L.down_override, false, key, f);
    else detail::stored_gemm<Scalar>(L.down, L.down.transposed, key, f, false, ws.scratch);
    if (L.down_b.size() > 0) f.colwise() += L.down_b;
  }
  template <typename XT, typename YT>
  void down_bwd(const Layer& L, const XT& df, YT&& dkey) const {
    if (L.has_override) detail::dense_gemm<Scalar>(L.down_override, true, df, dkey);
    else detail::stored_gemm<Scalar>(L.down, !L.down.transposed, df, dkey, false, ws.scratch);
  }

  // ------------------------------------------------------------------ the pass
  struct Plan {
    Layout lay;
    const RunOptions<Scalar>* opt;
    const Loss<Scalar>* loss;
    bool resume = false;
    int first_block = 0;  // first block computed
    int grad_low = -1;    // lowest intervention layer (backward stops there); −1: no backward
    MatS cos_t, sin_t;
    std::vector<std::vector<std::pair<Index, Index>>> iv_at;  // per layer: (intervention, column j) pairs
    std::vector<Site> head_sites;
    std::map<std::pair<int, int>, Index> head_index;
  };

  void check_site(const Plan& p, const Site& s, const std::string& what) const {
    if (s.prompt < 0 || s.prompt >= p.lay.P)
      bad_arg(what + ": prompt " + std::to_string(s.prompt) + " outside the batch of " + std::to_string(p.lay.P) + " prompts");
    const int len = p.lay.len[static_cast<std::size_t>(s.prompt)];
    if (s.position < 0 || s.position >= len)
      bad_arg(what + ": position " + std::to_string(s.position) + " outside prompt " + std::to_string(s.prompt) + " of length " +
              std::to_string(len));
    if (p.resume && s.position < p.lay.start[static_cast<std::size_t>(s.prompt)])
      bad_arg(what + ": site " + site_str(s) + " lies before the resumed positions (from = " +
              std::to_string(p.lay.start[static_cast<std::size_t>(s.prompt)]) + ")");
  }
  void check_layer(const Plan& p, int l, const std::string& what, bool allow_resume_layer) const {
    if (l < 0 || l >= cfg.n_layer)
      bad_arg(what + ": layer " + std::to_string(l) + " outside [0, " + std::to_string(cfg.n_layer) + ")");
    if (p.resume) {
      const int rl = p.first_block - 1;
      if (l < rl || (l == rl && !allow_resume_layer))
        bad_arg(what + ": layer " + std::to_string(l) + " is not recomputed by a pass resumed at layer " + std::to_string(rl));
    }
  }
  void add_head_site(Plan& p, const Site& s) const {
    const auto key = std::make_pair(s.prompt, s.position);
    if (!p.head_index.count(key)) {
      p.head_index.emplace(key, static_cast<Index>(p.head_sites.size()));
      p.head_sites.push_back(s);
    }
  }

  Plan plan(const Batch& batch, const RunOptions<Scalar>& opt, const Loss<Scalar>* loss) const {
    Plan p;
    p.opt = &opt;
    p.loss = loss;
    Layout& L = p.lay;
    if (batch.prompts.empty()) bad_arg("batch: no prompts");
    L.P = static_cast<int>(batch.prompts.size());
    const int limit = cfg.sliding_window > 0 ? std::min(cfg.max_positions, cfg.sliding_window) : cfg.max_positions;
    for (int i = 0; i < L.P; ++i) {
      const auto& pr = batch.prompts[static_cast<std::size_t>(i)];
      if (pr.empty()) bad_arg("batch: prompt " + std::to_string(i) + " is empty");
      if (pr.size() > static_cast<std::size_t>(limit))
        bad_arg("batch: prompt " + std::to_string(i) + " has " + std::to_string(pr.size()) + " tokens, more than " +
                (cfg.sliding_window > 0 && cfg.sliding_window < cfg.max_positions
                     ? "the sliding window of " + std::to_string(cfg.sliding_window) + " (longer prompts are refused)"
                     : "max_positions = " + std::to_string(cfg.max_positions)));
      for (std::size_t t = 0; t < pr.size(); ++t)
        if (pr[t] < 0 || pr[t] >= cfg.vocab_size)
          bad_arg("batch: prompt " + std::to_string(i) + " position " + std::to_string(t) + ": token id " +
                  std::to_string(pr[t]) + " outside [0, " + std::to_string(cfg.vocab_size) + ")");
      L.len.push_back(static_cast<int>(pr.size()));
      L.max_len = std::max(L.max_len, static_cast<int>(pr.size()));
    }
    // resume
    const Resume<Scalar>& rs = opt.resume;
    p.resume = rs.state != nullptr;
    L.start.assign(static_cast<std::size_t>(L.P), 0);
    if (p.resume) {
      if (opt.save_state) bad_arg("options: save_state together with resume is not supported");
      const PassState<Scalar>& st = *rs.state;
      if (st.layers() != cfg.n_layer) bad_arg("resume: the state has " + std::to_string(st.layers()) + " layers, the model " + std::to_string(cfg.n_layer));
      if (st.batch().prompts != batch.prompts) bad_arg("resume: the batch differs from the batch of the saved state");
      if (rs.layer < 0 || rs.layer >= cfg.n_layer)
        bad_arg("resume.layer " + std::to_string(rs.layer) + " outside [0, " + std::to_string(cfg.n_layer) + ")");
      if (rs.from.size() != static_cast<std::size_t>(L.P))
        bad_arg("resume.from has " + std::to_string(rs.from.size()) + " entries for " + std::to_string(L.P) + " prompts");
      for (int i = 0; i < L.P; ++i) {
        const int f = rs.from[static_cast<std::size_t>(i)];
        if (f < 0 || f >= L.len[static_cast<std::size_t>(i)])
          bad_arg("resume.from[" + std::to_string(i) + "] = " + std::to_string(f) + " outside [0, " +
                  std::to_string(L.len[static_cast<std::size_t>(i)]) + ")");
        L.start[static_cast<std::size_t>(i)] = f;
      }
      const auto& old_sites = detail::PassStateAccess<Scalar>::sites(st);
      for (int l = rs.layer; l < cfg.n_layer; ++l)
        for (const Site& s : old_sites[static_cast<std::size_t>(l)])
          if (s.position < L.start[static_cast<std::size_t>(s.prompt)])
            bad_arg("resume: the saved pass has an intervention at layer " + std::to_string(l) + " " + site_str(s) +
                    " before the resumed positions; resume from a pass without it");
      p.first_block = rs.layer + 1;
    }
    Index off = 0, act = 0;
    for (int i = 0; i < L.P; ++i) {
      L.off.push_back(off);
      L.act.push_back(act);
      off += L.len[static_cast<std::size_t>(i)];
      for (int t = L.start[static_cast<std::size_t>(i)]; t < L.len[static_cast<std::size_t>(i)]; ++t) L.pos.push_back(t);
      act += L.len[static_cast<std::size_t>(i)] - L.start[static_cast<std::size_t>(i)];
    }
    L.N = off;
    L.T = act;

    // requests
    for (std::size_t k = 0; k < opt.logprobs.size(); ++k) {
      const TokenQuery& q = opt.logprobs[k];
      const std::string w = "logprobs[" + std::to_string(k) + "]";
      check_site(p, {q.prompt, q.position}, w);
      if (q.token < 0 || q.token >= cfg.vocab_size)
        bad_arg(w + ": token id " + std::to_string(q.token) + " outside [0, " + std::to_string(cfg.vocab_size) + ")");
      add_head_site(p, {q.prompt, q.position});
    }
    for (std::size_t k = 0; k < opt.distributions.size(); ++k) {
      check_site(p, opt.distributions[k], "distributions[" + std::to_string(k) + "]");
      add_head_site(p, opt.distributions[k]);
    }
    for (std::size_t k = 0; k < opt.logits.size(); ++k) {
      check_site(p, opt.logits[k], "logits[" + std::to_string(k) + "]");
      add_head_site(p, opt.logits[k]);
    }
    for (std::size_t k = 0; k < opt.key_layers.size(); ++k)
      check_layer(p, opt.key_layers[k], "key_layers[" + std::to_string(k) + "]", false);
    for (std::size_t k = 0; k < opt.key_sites.size(); ++k) check_site(p, opt.key_sites[k], "key_sites[" + std::to_string(k) + "]");
    for (std::size_t k = 0; k < opt.residual_layers.size(); ++k)
      check_layer(p, opt.residual_layers[k], "residual_layers[" + std::to_string(k) + "]", true);
    for (std::size_t k = 0; k < opt.residual_sites.size(); ++k)
      check_site(p, opt.residual_sites[k], "residual_sites[" + std::to_string(k) + "]");
    p.iv_at.assign(static_cast<std::size_t>(cfg.n_layer), {});
    for (std::size_t k = 0; k < opt.interventions.size(); ++k) {
      const Intervention<Scalar>& iv = opt.interventions[k];
      const std::string w = "interventions[" + std::to_string(k) + "]";
      check_layer(p, iv.layer, w, true);
      if (iv.delta.rows() != cfg.d_model || iv.delta.cols() != static_cast<Index>(iv.sites.size()))
        bad_arg(w + ": delta is " + std::to_string(iv.delta.rows()) + " x " + std::to_string(iv.delta.cols()) + ", expected " +
                std::to_string(cfg.d_model) + " x " + std::to_string(iv.sites.size()) + " (d_model x sites)");
      if (!iv.delta.allFinite()) bad_arg(w + ": delta has NaN or infinite entries");
      for (std::size_t j = 0; j < iv.sites.size(); ++j) {
        check_site(p, iv.sites[j], w + ".sites[" + std::to_string(j) + "]");
        p.iv_at[static_cast<std::size_t>(iv.layer)].push_back({static_cast<Index>(k), static_cast<Index>(j)});
      }
    }
    if (loss) {
      if (opt.interventions.empty()) bad_arg("gradient: no interventions to differentiate with respect to");
      int low = cfg.n_layer;
      for (const auto& iv : opt.interventions) low = std::min(low, iv.layer);
      p.grad_low = low;
      for (std::size_t k = 0; k < loss->nll.size(); ++k) {
        const NllTerm& t = loss->nll[k];
        const std::string w = "loss.nll[" + std::to_string(k) + "]";
        check_site(p, {t.prompt, t.position}, w);
        if (t.token < 0 || t.token >= cfg.vocab_size)
          bad_arg(w + ": token id " + std::to_string(t.token) + " outside [0, " + std::to_string(cfg.vocab_size) + ")");
        if (!std::isfinite(t.weight)) bad_arg(w + ": weight is not finite");
        add_head_site(p, {t.prompt, t.position});
      }
      for (std::size_t k = 0; k < loss->kl.size(); ++k) {
        const KlTerm<Scalar>& t = loss->kl[k];
        const std::string w = "loss.kl[" + std::to_string(k) + "]";
        check_site(p, {t.prompt, t.position}, w);
        if (t.reference.size() != cfg.vocab_size)
          bad_arg(w + ": reference has " + std::to_string(t.reference.size()) + " entries, the vocabulary " +
                  std::to_string(cfg.vocab_size));
        if (!t.reference.allFinite()) bad_arg(w + ": reference log-probabilities must be finite");
        if (!std::isfinite(t.weight)) bad_arg(w + ": weight is not finite");
        add_head_site(p, {t.prompt, t.position});
      }
    }
    // rotary tables over the positions of the batch
    if (cfg.positions != PositionKind::Learned) {
      const int half = cfg.rotary_dim / 2;
      p.cos_t.resize(half, L.max_len);
      p.sin_t.resize(half, L.max_len);
      for (int t = 0; t < L.max_len; ++t)
        for (int i = 0; i < half; ++i) {
          const double a = static_cast<double>(t) * inv_freq[static_cast<std::size_t>(i)];
          p.cos_t(i, t) = static_cast<Scalar>(std::cos(a));
          p.sin_t(i, t) = static_cast<Scalar>(std::sin(a));
        }
    }
    return p;
  }

  bool stores(const Plan& p, int b) const { return p.grad_low >= 0 && b > p.grad_low; }
  Acts& acts_for(const Plan& p, int b) const {
    const std::size_t n = static_cast<std::size_t>(cfg.n_layer) + 1;
    if (ws.acts.size() < n) ws.acts.resize(n);
    return ws.acts[stores(p, b) ? static_cast<std::size_t>(b) : static_cast<std::size_t>(cfg.n_layer)];
  }

  void attention_forward(const Plan& p, int b, const Layer& W, Acts& A, const PassState<Scalar>* st) const {
    const Layout& L = p.lay;
    const int H = cfg.n_head, KV = cfg.n_kv_head, hd = cfg.head_dim, G = H / KV;
    const Index qd = cfg.q_dim(), kvd = cfg.kv_dim(), T = L.T;
    A.q.resize(qd, T);
    if (!W.qkv.empty()) {
      ws.qkv.resize(qd + 2 * kvd, T);
      linear(W.qkv, W.qkv_b, ws.h, ws.qkv);
      A.q = ws.qkv.topRows(qd);
      ws.knew = ws.qkv.middleRows(qd, kvd);
      ws.vnew = ws.qkv.bottomRows(kvd);
    } else {
      ws.knew.resize(kvd, T);
      ws.vnew.resize(kvd, T);
      linear(W.q, W.q_b, ws.h, A.q);
      linear(W.k, W.k_b, ws.h, ws.knew);
      linear(W.v, W.v_b, ws.h, ws.vnew);
    }
    if (cfg.positions != PositionKind::Learned) {
      detail::rotary<Scalar>(cfg.positions, H, hd, cfg.rotary_dim, p.cos_t, p.sin_t, L.pos, A.q, Scalar(1));
      detail::rotary<Scalar>(cfg.positions, KV, hd, cfg.rotary_dim, p.cos_t, p.sin_t, L.pos, ws.knew, Scalar(1));
    }
    A.kf.resize(kvd, L.N);
    A.vf.resize(kvd, L.N);
    for (int i = 0; i < L.P; ++i) {
      const std::size_t iu = static_cast<std::size_t>(i);
      const Index s = L.start[iu], n = L.len[iu] - L.start[iu];
      if (s > 0) {
        A.kf.middleCols(L.off[iu], s) = detail::PassStateAccess<Scalar>::keys(*st)[static_cast<std::size_t>(b)].middleCols(L.off[iu], s);
        A.vf.middleCols(L.off[iu], s) = detail::PassStateAccess<Scalar>::values(*st)[static_cast<std::size_t>(b)].middleCols(L.off[iu], s);
      }
      A.kf.middleCols(L.off[iu] + s, n) = ws.knew.middleCols(L.act[iu], n);
      A.vf.middleCols(L.off[iu] + s, n) = ws.vnew.middleCols(L.act[iu], n);
    }
    ws.attn.resize(qd, T);
    A.probs.resize(static_cast<std::size_t>(L.P * H));
    const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
    const int PH = L.P * H;
    const Index work = static_cast<Index>(H) * L.N * L.max_len * hd;
    (void)work;  // only read by the OpenMP clause
    SEQEDIT_OMP(parallel for schedule(dynamic) if (PH > 1 && work >= 4 * detail::parallel_threshold))
    for (int idx = 0; idx < PH; ++idx) {
      const int i = idx / H, h = idx % H, g = h / G;
      const std::size_t iu = static_cast<std::size_t>(i);
      const Index len = L.len[iu], s = L.start[iu], n = len - s;
      MatS& Pm = A.probs[static_cast<std::size_t>(idx)];
      Pm.resize(len, n);
      Pm.noalias() = A.kf.block(g * hd, L.off[iu], hd, len).transpose() * A.q.block(h * hd, L.act[iu], hd, n);
      for (Index j = 0; j < n; ++j) {
        const Index t = s + j;  // keys 0..t are visible
        auto c = Pm.col(j);
        const Scalar m = (c.head(t + 1) * scale).maxCoeff();
        Scalar sum = 0;
        for (Index r = 0; r <= t; ++r) {
          const Scalar e = std::exp(c(r) * scale - m);
          c(r) = e;
          sum += e;
        }
        c.head(t + 1) /= sum;
        if (t + 1 < len) c.tail(len - t - 1).setZero();
      }
      ws.attn.block(h * hd, L.act[iu], hd, n).noalias() = A.vf.block(g * hd, L.off[iu], hd, len) * Pm;
    }
  }

  /// ws.dattn (q_dim × T) → ws.dh (gradient at the attention's input, d × T).
  void attention_backward(const Plan& p, const Layer& W, Acts& A) const {
    const Layout& L = p.lay;
    const int H = cfg.n_head, KV = cfg.n_kv_head, hd = cfg.head_dim, G = H / KV;
    const Index qd = cfg.q_dim(), kvd = cfg.kv_dim(), T = L.T;
    ws.dq.resize(qd, T);
    ws.dkf.setZero(kvd, L.N);
    ws.dvf.setZero(kvd, L.N);
    const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
    const int PK = L.P * KV;
    const Index work = static_cast<Index>(H) * L.N * L.max_len * hd;
    (void)work;  // only read by the OpenMP clause
    SEQEDIT_OMP(parallel for schedule(dynamic) if (PK > 1 && work >= 4 * detail::parallel_threshold))
    for (int idx = 0; idx < PK; ++idx) {
      const int i = idx / KV, g = idx % KV;
      const std::size_t iu = static_cast<std::size_t>(i);
      const Index len = L.len[iu], s = L.start[iu], n = len - s;
      MatS dP(len, n);
      for (int h = g * G; h < (g + 1) * G; ++h) {
        const MatS& Pm = A.probs[static_cast<std::size_t>(i * H + h)];
        const auto dO = ws.dattn.block(h * hd, L.act[iu], hd, n);
        const auto K = A.kf.block(g * hd, L.off[iu], hd, len);
        const auto Vv = A.vf.block(g * hd, L.off[iu], hd, len);
        ws.dvf.block(g * hd, L.off[iu], hd, len).noalias() += dO * Pm.transpose();
        dP.noalias() = Vv.transpose() * dO;
        for (Index j = 0; j < n; ++j) {
          const Scalar dot = Pm.col(j).dot(dP.col(j));
          dP.col(j) = (Pm.col(j).array() * (dP.col(j).array() - dot) * scale).matrix();
        }
        ws.dq.block(h * hd, L.act[iu], hd, n).noalias() = K * dP;
        ws.dkf.block(g * hd, L.off[iu], hd, len).noalias() += A.q.block(h * hd, L.act[iu], hd, n) * dP.transpose();
      }
    }
    ws.dk.resize(kvd, T);
    ws.dv.resize(kvd, T);
    for (int i = 0; i < L.P; ++i) {
      const std::size_t iu = static_cast<std::size_t>(i);
      const Index s = L.start[iu], n = L.len[iu] - s;
      ws.dk.middleCols(L.act[iu], n) = ws.dkf.middleCols(L.off[iu] + s, n);
      ws.dv.middleCols(L.act[iu], n) = ws.dvf.middleCols(L.off[iu] + s, n);
    }
    if (cfg.positions != PositionKind::Learned) {
      detail::rotary<Scalar>(cfg.positions, H, hd, cfg.rotary_dim, p.cos_t, p.sin_t, L.pos, ws.dq, Scalar(-1));
      detail::rotary<Scalar>(cfg.positions, KV, hd, cfg.rotary_dim, p.cos_t, p.sin_t, L.pos, ws.dk, Scalar(-1));
    }
    ws.dh.resize(cfg.d_model, T);
    if (!W.qkv.empty()) {
      ws.dqkv.resize(qd + 2 * kvd, T);
      ws.dqkv.topRows(qd) = ws.dq;
      ws.dqkv.middleRows(qd, kvd) = ws.dk;
      ws.dqkv.bottomRows(kvd) = ws.dv;
      linear_t(W.qkv, ws.dqkv, ws.dh);
    } else {
      linear_t(W.q, ws.dq, ws.dh);
      linear_t(W.k, ws.dk, ws.dh, true);
      linear_t(W.v, ws.dv, ws.dh, true);
    }
  }

  /// ws.h (normalised input) → ws.f (MLP output); ws.key = the key; captures keys.
  void mlp_forward(const Plan& p, int b, const Layer& W, Acts& A, ForwardResult<Scalar>& out) const {
    const Index F = cfg.d_ff, T = p.lay.T;
    A.pre.resize(F, T);
    ws.key.resize(F, T);
    const Activation act = cfg.activation;
    if (cfg.gated_mlp) {
      A.up.resize(F, T);
      linear(W.gate, W.gate_b, ws.h, A.pre);
      linear(W.up, W.up_b, ws.h, A.up);
      detail::activate(act, A.pre, ws.key);
      ws.key.array() *= A.up.array();
    } else {
      linear(W.up, W.up_b, ws.h, A.pre);
      detail::activate(act, A.pre, ws.key);
    }
    const RunOptions<Scalar>& opt = *p.opt;
    for (std::size_t k = 0; k < opt.key_layers.size(); ++k) {
      if (opt.key_layers[k] != b) continue;
      MatS& K = out.keys[k];
      K.resize(F, static_cast<Index>(opt.key_sites.size()));
      for (std::size_t j = 0; j < opt.key_sites.size(); ++j) K.col(static_cast<Index>(j)) = ws.key.col(p.lay.col(opt.key_sites[j]));
    }
    ws.f.resize(cfg.d_model, T);
    down_fwd(W, ws.key, ws.f);
  }

  /// ws.f's gradient `df` → ws.dh2 (gradient at the MLP's input).
  template <typename DF>
  void mlp_backward(const Layer& W, Acts& A, const DF& df) const {
    const Activation act = cfg.activation;
    ws.dkey.resize(cfg.d_ff, df.cols());
    down_bwd(W, df, ws.dkey);
    ws.dh2.resize(cfg.d_model, df.cols());
    if (cfg.gated_mlp) {
      detail::activate_grad(act, A.pre, ws.dpre);
      ws.dpre.array() *= ws.dkey.array() * A.up.array();
      detail::activate(act, A.pre, ws.dup);
      ws.dup.array() *= ws.dkey.array();
      linear_t(W.gate, ws.dpre, ws.dh2);
      linear_t(W.up, ws.dup, ws.dh2, true);
    } else {
      detail::activate_grad(act, A.pre, ws.dpre);
      ws.dpre.array() *= ws.dkey.array();
      linear_t(W.up, ws.dpre, ws.dh2);
    }
  }

  void block_forward(const Plan& p, int b, ForwardResult<Scalar>& out, const PassState<Scalar>* st) const {
    const Layer& W = layers[static_cast<std::size_t>(b)];
    Acts& A = acts_for(p, b);
    const Scalar eps = static_cast<Scalar>(cfg.norm_eps);
    MatS& X = ws.x;
    A.x_in = X;
    ws.h.resize(cfg.d_model, p.lay.T);
    detail::norm_forward<Scalar>(cfg.norm, eps, X, W.n1w, W.n1b, ws.h, A.mean1, A.rstd1);
    attention_forward(p, b, W, A, st);
    ws.a.resize(cfg.d_model, p.lay.T);
    linear(W.o, W.o_b, ws.attn, ws.a);
    if (cfg.parallel_block) {
      mlp_forward(p, b, W, A, out);
      X += ws.a;
      X += ws.f;
    } else {
      X += ws.a;
      A.x_mid = X;
      detail::norm_forward<Scalar>(cfg.norm, eps, X, W.n2w, W.n2b, ws.h, A.mean2, A.rstd2);
      mlp_forward(p, b, W, A, out);
      X += ws.f;
    }
  }

  /// ws.dx: gradient at block b's output → at its input.
  void block_backward(const Plan& p, int b) const {
    const Layer& W = layers[static_cast<std::size_t>(b)];
    Acts& A = acts_for(p, b);
    if (cfg.parallel_block) {
      mlp_backward(W, A, ws.dx);
      ws.dattn.resize(cfg.q_dim(), p.lay.T);
      linear_t(W.o, ws.dx, ws.dattn);
      attention_backward(p, W, A);
      ws.dh += ws.dh2;
      detail::norm_backward<Scalar>(cfg.norm, A.x_in, W.n1w, A.mean1, A.rstd1, ws.dh, ws.dx);
    } else {
      mlp_backward(W, A, ws.dx);
      ws.dxmid = ws.dx;
      detail::norm_backward<Scalar>(cfg.norm, A.x_mid, W.n2w, A.mean2, A.rstd2, ws.dh2, ws.dxmid);
      ws.dattn.resize(cfg.q_dim(), p.lay.T);
      linear_t(W.o, ws.dxmid, ws.dattn);
      attention_backward(p, W, A);
      ws.dx = ws.dxmid;
      detail::norm_backward<Scalar>(cfg.norm, A.x_in, W.n1w, A.mean1, A.rstd1, ws.dh, ws.dx);
    }
  }

  void after_block(const Plan& p, int b, ForwardResult<Scalar>& out, PassState<Scalar>* save) const {
    const RunOptions<Scalar>& opt = *p.opt;
    for (std::size_t k = 0; k < opt.residual_layers.size(); ++k) {
      if (opt.residual_layers[k] != b) continue;
      MatS& R = out.residuals[k];
      R.resize(cfg.d_model, static_cast<Index>(opt.residual_sites.size()));
      for (std::size_t j = 0; j < opt.residual_sites.size(); ++j)
        R.col(static_cast<Index>(j)) = ws.x.col(p.lay.col(opt.residual_sites[j]));
    }
    if (save) {
      using Acc = detail::PassStateAccess<Scalar>;
      Acc::outputs(*save)[static_cast<std::size_t>(b)] = ws.x;  // full pass: active = full layout
      const Acts& A = acts_for(p, b);
      Acc::keys(*save)[static_cast<std::size_t>(b)] = A.kf;
      Acc::values(*save)[static_cast<std::size_t>(b)] = A.vf;
    }
    for (const auto& kj : p.iv_at[static_cast<std::size_t>(b)]) {
      const Intervention<Scalar>& iv = opt.interventions[static_cast<std::size_t>(kj.first)];
      ws.x.col(p.lay.col(iv.sites[static_cast<std::size_t>(kj.second)])) += iv.delta.col(kj.second);
    }
  }

  void pass(const Batch& batch, const RunOptions<Scalar>& opt, const Loss<Scalar>* loss, GradientResult<Scalar>& res) const {
    Plan p = plan(batch, opt, loss);
    const Layout& L = p.lay;
    ForwardResult<Scalar>& out = res.forward;
    out.keys.assign(opt.key_layers.size(), MatS());
    out.residuals.assign(opt.residual_layers.size(), MatS());
    const int d = cfg.d_model;
    const PassState<Scalar>* st = opt.resume.state.get();

    std::shared_ptr<PassState<Scalar>> save;
    if (opt.save_state) {
      using Acc = detail::PassStateAccess<Scalar>;
      save = std::make_shared<PassState<Scalar>>();
      Acc::batch(*save) = batch;
      Acc::offsets(*save) = L.off;
      Acc::outputs(*save).resize(static_cast<std::size_t>(cfg.n_layer));
      Acc::keys(*save).resize(static_cast<std::size_t>(cfg.n_layer));
      Acc::values(*save).resize(static_cast<std::size_t>(cfg.n_layer));
      auto& sites = Acc::sites(*save);
      sites.assign(static_cast<std::size_t>(cfg.n_layer), {});
      for (const auto& iv : opt.interventions)
        for (const Site& s : iv.sites) sites[static_cast<std::size_t>(iv.layer)].push_back(s);
    }

    // the residual stream entering the first computed block
    MatS& X = ws.x;
    X.resize(d, L.T);
    if (!p.resume) {
      for (int i = 0; i < L.P; ++i) {
        const auto& pr = batch.prompts[static_cast<std::size_t>(i)];
        for (int t = 0; t < L.len[static_cast<std::size_t>(i)]; ++t) {
          const Index c = L.act[static_cast<std::size_t>(i)] + t;
          detail::decode<Scalar>(wte.data + static_cast<std::size_t>(pr[static_cast<std::size_t>(t)]) * static_cast<std::size_t>(d) * io::dtype_size(wte.dtype),
                                 wte.dtype, d, X.col(c).data());
          if (!wpe.empty()) {
            VecS pe(d);
            detail::decode<Scalar>(wpe.data + static_cast<std::size_t>(t) * static_cast<std::size_t>(d) * io::dtype_size(wpe.dtype), wpe.dtype, d,
                                   pe.data());
            X.col(c) += pe;
          }
        }
      }
    } else {
      const MatS& R = st->block_output(opt.resume.layer);
      for (int i = 0; i < L.P; ++i) {
        const std::size_t iu = static_cast<std::size_t>(i);
        const Index s = L.start[iu], n = L.len[iu] - s;
        X.middleCols(L.act[iu], n) = R.middleCols(L.off[iu] + s, n);
      }
      after_block(p, opt.resume.layer, out, nullptr);
    }
    for (int b = p.first_block; b < cfg.n_layer; ++b) {
      block_forward(p, b, out, st);
      after_block(p, b, out, save.get());
    }

    // final norm and LM head at the sites that need them
    const Index S = static_cast<Index>(p.head_sites.size());
    MatS Hs(d, S), Hn(d, S);
    for (Index j = 0; j < S; ++j) Hs.col(j) = X.col(L.col(p.head_sites[static_cast<std::size_t>(j)]));
    VecS fmean, frstd;
    detail::norm_forward<Scalar>(cfg.norm, static_cast<Scalar>(cfg.norm_eps), Hs, fw, fb, Hn, fmean, frstd);
    MatS Z(cfg.vocab_size, S);
    if (S > 0) linear(head, head_b, Hn, Z);
    MatS LP(cfg.vocab_size, S);
    for (Index j = 0; j < S; ++j) {
      const Scalar m = Z.col(j).maxCoeff();
      const Scalar lse = m + std::log((Z.col(j).array() - m).exp().sum());
      LP.col(j) = Z.col(j).array() - lse;
    }
    auto hidx = [&](int pr, int pos) { return p.head_index.at(std::make_pair(pr, pos)); };
    out.logprobs.resize(opt.logprobs.size());
    for (std::size_t k = 0; k < opt.logprobs.size(); ++k) {
      const TokenQuery& q = opt.logprobs[k];
      out.logprobs[k] = LP(q.token, hidx(q.prompt, q.position));
    }
    out.distributions.resize(cfg.vocab_size, static_cast<Index>(opt.distributions.size()));
    for (std::size_t k = 0; k < opt.distributions.size(); ++k)
      out.distributions.col(static_cast<Index>(k)) = LP.col(hidx(opt.distributions[k].prompt, opt.distributions[k].position));
    out.logits.resize(cfg.vocab_size, static_cast<Index>(opt.logits.size()));
    for (std::size_t k = 0; k < opt.logits.size(); ++k)
      out.logits.col(static_cast<Index>(k)) = Z.col(hidx(opt.logits[k].prompt, opt.logits[k].position));
    out.state = save;
    if (!loss) return;

    // loss and its gradient at the logits
    MatS dZ = MatS::Zero(cfg.vocab_size, S);
    double total = 0;
    for (const NllTerm& t : loss->nll) {
      const Index j = hidx(t.prompt, t.position);
      const Scalar w = static_cast<Scalar>(t.weight);
      total -= t.weight * static_cast<double>(LP(t.token, j));
      dZ.col(j) += w * LP.col(j).array().exp().matrix();
      dZ(t.token, j) -= w;
    }
    for (const KlTerm<Scalar>& t : loss->kl) {
      const Index j = hidx(t.prompt, t.position);
      const Scalar w = static_cast<Scalar>(t.weight);
      const Eigen::Array<Scalar, Eigen::Dynamic, 1> pc = LP.col(j).array().exp();
      const Eigen::Array<Scalar, Eigen::Dynamic, 1> diff = LP.col(j).array() - t.reference.array();
      const Scalar kl = (pc * diff).sum();
      total += t.weight * static_cast<double>(kl);
      dZ.col(j) += (w * pc * (diff - kl)).matrix();
    }
    res.loss = static_cast<Scalar>(total);

    // back through the head and the final norm into the residual stream
    MatS dHn(d, S), dHs = MatS::Zero(d, S);
    if (S > 0) linear_t(head, dZ, dHn);
    detail::norm_backward<Scalar>(cfg.norm, Hs, fw, fmean, frstd, dHn, dHs);
    ws.dx.setZero(d, L.T);
    for (Index j = 0; j < S; ++j) ws.dx.col(L.col(p.head_sites[static_cast<std::size_t>(j)])) += dHs.col(j);

    res.delta_gradients.assign(opt.interventions.size(), MatS());
    for (std::size_t k = 0; k < opt.interventions.size(); ++k)
      res.delta_gradients[k].resize(d, static_cast<Index>(opt.interventions[k].sites.size()));
    for (int b = cfg.n_layer - 1; b >= p.grad_low; --b) {
      for (const auto& kj : p.iv_at[static_cast<std::size_t>(b)]) {
        const Intervention<Scalar>& iv = opt.interventions[static_cast<std::size_t>(kj.first)];
        res.delta_gradients[static_cast<std::size_t>(kj.first)].col(kj.second) =
            ws.dx.col(L.col(iv.sites[static_cast<std::size_t>(kj.second)]));
      }
      if (b == p.grad_low) break;
      block_backward(p, b);
    }
  }
};

// ------------------------------------------------------------------ Model

template <typename Scalar>
Model<Scalar>::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
template <typename Scalar>
Model<Scalar>::Model(Model&&) noexcept = default;
template <typename Scalar>
Model<Scalar>& Model<Scalar>::operator=(Model&&) noexcept = default;
template <typename Scalar>
Model<Scalar>::~Model() = default;

template <typename Scalar>
Model<Scalar> Model<Scalar>::load(const std::string& dir) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  while (impl->dir.size() > 1 && impl->dir.back() == '/') impl->dir.pop_back();
  std::error_code ec;
  if (!std::filesystem::is_directory(impl->dir, ec))
    throw io::io_error("'" + impl->dir + "' is not a checkpoint folder (not a directory)");
  impl->load();
  return Model(std::move(impl));
}

template <typename Scalar>
const ModelConfig& Model<Scalar>::config() const {
  return impl_->cfg;
}
template <typename Scalar>
const std::string& Model<Scalar>::dir() const {
  return impl_->dir;
}
template <typename Scalar>
std::size_t Model<Scalar>::weight_bytes() const {
  return impl_->bytes;
}

template <typename Scalar>
ForwardResult<Scalar> Model<Scalar>::run(const Batch& batch, const RunOptions<Scalar>& options) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  GradientResult<Scalar> r;
  impl_->pass(batch, options, nullptr, r);
  return std::move(r.forward);
}

template <typename Scalar>
GradientResult<Scalar> Model<Scalar>::gradient(const Batch& batch, const RunOptions<Scalar>& options,
                                               const Loss<Scalar>& loss) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  GradientResult<Scalar> r;
  impl_->pass(batch, options, &loss, r);
  return r;
}

template <typename Scalar>
void Model<Scalar>::set_ffn_output(int layer, const Matrix& W) {
  const ModelConfig& c = impl_->cfg;
  if (layer < 0 || layer >= c.n_layer)
    bad_arg("set_ffn_output: layer " + std::to_string(layer) + " outside [0, " + std::to_string(c.n_layer) + ")");
  if (W.rows() != c.d_model || W.cols() != c.d_ff)
    bad_arg("set_ffn_output: W is " + std::to_string(W.rows()) + " x " + std::to_string(W.cols()) + ", expected " +
            std::to_string(c.d_model) + " x " + std::to_string(c.d_ff) + " (d_model x d_ff)");
  if (!W.allFinite()) bad_arg("set_ffn_output: W has NaN or infinite entries");
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& L = impl_->layers[static_cast<std::size_t>(layer)];
  L.down_override = W;
  L.has_override = true;
}

template <typename Scalar>
void Model<Scalar>::reset_ffn_output(int layer) {
  if (layer < 0 || layer >= impl_->cfg.n_layer)
    bad_arg("reset_ffn_output: layer " + std::to_string(layer) + " outside [0, " + std::to_string(impl_->cfg.n_layer) + ")");
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& L = impl_->layers[static_cast<std::size_t>(layer)];
  L.has_override = false;
  L.down_override.resize(0, 0);
}

template <typename Scalar>
typename Model<Scalar>::Matrix Model<Scalar>::ffn_output(int layer) const {
  const ModelConfig& c = impl_->cfg;
  if (layer < 0 || layer >= c.n_layer)
    bad_arg("ffn_output: layer " + std::to_string(layer) + " outside [0, " + std::to_string(c.n_layer) + ")");
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto& L = impl_->layers[static_cast<std::size_t>(layer)];
  if (L.has_override) return L.down_override;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> S(L.down.rows, L.down.cols);
  detail::decode<Scalar>(L.down.data, L.down.dtype, L.down.rows * L.down.cols, S.data());
  if (L.down.transposed) return S.transpose();
  return S;
}

template class Model<float>;
template class Model<double>;

}  // namespace model
}  // namespace seqedit
