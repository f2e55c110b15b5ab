// Peak heap of io::save_editor_state and io::load_editor_state at a real layer shape, as a
// multiple of the state file's size (the goal is at most 1.2 times: the editor's matrices
// once, plus small chunk buffers, never a second or third copy of the state).
//
//   bench_state_memory [--dk 14336] [--dv 4096] [--type f32|f64] [--edits 2000]
//                      [--repeats 3] [--path <dir>/bench_state.safetensors]
//
// The editor starts from a state with a diagonal C0 (M_0⁻¹ = (λ C0)⁻¹, so no O(d_k³)
// construction is needed), then makes edits/100 real steps of 100 edits (keys drawn from C0,
// V = W0 K + noise), so that the journal holds `edits` edits. Each repetition saves the
// editor, drops it, and loads it back (the loaded editor is the next repetition's source).
// Heap bytes are counted by mem_tracker.cpp (every malloc/free of the process); times are
// wall clock and CPU seconds of the process (getrusage: user + system). The state file is
// removed at the end.

#include <seqedit/io/editor_state.hpp>
#include <seqedit/sequential_editor.hpp>

#include <Eigen/Core>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit_bench {
bool heap_tracking();
std::int64_t heap_bytes();
std::int64_t heap_peak();
void reset_heap_peak();
}  // namespace seqedit_bench

namespace {

namespace sb = seqedit_bench;
using Index = Eigen::Index;
using Clock = std::chrono::steady_clock;

struct Options {
  Index dk = 14336, dv = 4096;
  std::string type = "f32";
  int edits = 2000;
  int repeats = 3;
  std::string path = "bench_state.safetensors";
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec) + double(ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_stime.tv_usec);
}

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

struct Timer {
  Clock::time_point wall0 = Clock::now();
  double cpu0 = cpu_seconds();
  double wall() const { return std::chrono::duration<double>(Clock::now() - wall0).count(); }
  double cpu() const { return cpu_seconds() - cpu0; }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

template <typename T>
struct Loaded {
  seqedit::SequentialEditor<T> ed;
  explicit Loaded(const std::string& path) : ed(seqedit::io::load_editor_state<T>(path)) {}
};

template <typename T>
int run(const Options& o) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  const double lambda = 15000.0;
  std::mt19937_64 gen(0x5EEDULL);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_real_distribution<double> u(std::log(1e-3), std::log(1e-1));
  const auto gaussian = [&](Index r, Index c, double scale) {
    Mat m(r, c);
    for (Index j = 0; j < c; ++j)
      for (Index i = 0; i < r; ++i) m(i, j) = T(scale * nd(gen));
    return m;
  };
  Vec s(o.dk);
  for (Index i = 0; i < o.dk; ++i) s(i) = T(std::exp(u(gen)));

  std::optional<Loaded<T>> holder;  // the loaded editors
  std::optional<seqedit::SequentialEditor<T>> first;
  {
    seqedit::EditorState<T> st;
    st.initial_weights = gaussian(o.dv, o.dk, 1.0 / std::sqrt(double(o.dk)));
    st.weights = st.initial_weights;
    st.system_inverse = Mat::Zero(o.dk, o.dk);
    st.system_inverse.diagonal() = (T(lambda) * s).cwiseInverse();
    st.objective = seqedit::Objective<T>::memit(T(lambda));
    st.editor_tag = 0x0123456789ABCDEFULL;
    st.journal_keys.resize(o.dk, 0);
    st.journal_values.resize(o.dv, 0);
    first.emplace(std::move(st));
  }
  std::cerr << "editor state built (d_k = " << o.dk << ", d_v = " << o.dv << ", " << o.type << "); "
            << o.edits / 100 << " steps of 100 edits" << std::endl;
  {
    const Timer t;
    for (int b = 0; b < o.edits / 100; ++b) {
      Mat k = s.cwiseSqrt().asDiagonal() * gaussian(o.dk, 100, 1.0);
      Mat v = gaussian(o.dv, 100, 0.1);
      v.noalias() += first->initial_weights() * k;
      first->apply(k, v);
    }
    std::cerr << "steps done in " << t.wall() << " s wall, " << t.cpu() << " s CPU" << std::endl;
  }
  const double w_norm = double(first->weights().norm());
  const Index journal = first->journal().size();

  std::vector<double> save_wall, save_cpu, load_wall, load_cpu;
  double file_bytes = 0, save_held = 0, save_peak = 0, load_base = 0, load_peak = 0, load_held = 0;
  for (int rep = 0; rep < o.repeats; ++rep) {
    const seqedit::SequentialEditor<T>& src = first ? *first : holder->ed;
    const std::int64_t held = sb::heap_bytes();
    sb::reset_heap_peak();
    {
      const Timer t;
      seqedit::io::save_editor_state(o.path, src);
      save_wall.push_back(t.wall());
      save_cpu.push_back(t.cpu());
    }
    save_held = double(held);
    save_peak = std::max(save_peak, double(sb::heap_peak()));
    file_bytes = double(std::filesystem::file_size(o.path));
    first.reset();
    holder.reset();
    const std::int64_t base = sb::heap_bytes();
    sb::reset_heap_peak();
    {
      const Timer t;
      holder.emplace(o.path);
      load_wall.push_back(t.wall());
      load_cpu.push_back(t.cpu());
    }
    load_base = double(base);
    load_peak = std::max(load_peak, double(sb::heap_peak() - base));
    load_held = double(sb::heap_bytes() - base);
    if (double(holder->ed.weights().norm()) != w_norm || holder->ed.journal().size() != journal) {
      std::cerr << "round trip changed the editor\n";
      return 1;
    }
    std::fprintf(stderr, "rep %d: save %.3f s wall %.3f s CPU, load %.3f s wall %.3f s CPU\n", rep + 1,
                 save_wall.back(), save_cpu.back(), load_wall.back(), load_cpu.back());
  }
  std::filesystem::remove(o.path);

  std::printf("shape d_k=%ld d_v=%ld %s, journal %ld edits, heap tracking %s, Eigen threads %d\n",
              long(o.dk), long(o.dv), o.type.c_str(), long(journal), sb::heap_tracking() ? "yes" : "no",
              Eigen::nbThreads());
  std::printf("state file                 %10.2f MiB\n", mib(file_bytes));
  std::printf("save: heap held before     %10.2f MiB (%.3fx the file)\n", mib(save_held), save_held / file_bytes);
  std::printf("save: peak heap            %10.2f MiB (%.3fx the file; extra %.2f MiB = %.3fx)\n", mib(save_peak),
              save_peak / file_bytes, mib(save_peak - save_held), (save_peak - save_held) / file_bytes);
  std::printf("load: heap before          %10.2f MiB\n", mib(load_base));
  std::printf("load: peak heap above it   %10.2f MiB (%.3fx the file); held after %.2f MiB (%.3fx)\n",
              mib(load_peak), load_peak / file_bytes, mib(load_held), load_held / file_bytes);
  std::printf("save time: wall min %.3f median %.3f s; CPU min %.3f median %.3f s (%d runs)\n", minimum(save_wall),
              median(save_wall), minimum(save_cpu), median(save_cpu), o.repeats);
  std::printf("load time: wall min %.3f median %.3f s; CPU min %.3f median %.3f s (%d runs)\n", minimum(load_wall),
              median(load_wall), minimum(load_cpu), median(load_cpu), o.repeats);
  std::printf("RESULT file_bytes=%.0f save_held=%.0f save_peak=%.0f load_peak=%.0f load_held=%.0f "
              "save_ratio=%.4f load_ratio=%.4f\n",
              file_bytes, save_held, save_peak, load_peak, load_held, save_peak / file_bytes, load_peak / file_bytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--dk") o.dk = std::stol(value());
      else if (a == "--dv") o.dv = std::stol(value());
      else if (a == "--type") o.type = value();
      else if (a == "--edits") o.edits = std::stoi(value());
      else if (a == "--repeats") o.repeats = std::stoi(value());
      else if (a == "--path") o.path = value();
      else throw std::invalid_argument("unknown argument '" + a + "'");
    }
    if (o.dk <= 0 || o.dv <= 0 || o.edits < 0 || o.repeats < 1)
      throw std::invalid_argument("--dk, --dv, --repeats must be positive and --edits non-negative");
    if (o.type == "f32") return run<float>(o);
    if (o.type == "f64") return run<double>(o);
    throw std::invalid_argument("--type must be f32 or f64, not '" + o.type + "'");
  } catch (const std::exception& e) {
    std::cerr << "bench_state_memory: " << e.what() << "\n";
    return 2;
  }
}
