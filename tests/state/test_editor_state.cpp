// Tests of include/seqedit/io/editor_state.hpp: bit-exact save/load of a SequentialEditor,
// continuation and retraction after reload, and refusal of every malformed state file.

#include <catch2/catch.hpp>

#include "round_trip.hpp"
#include "state_cases.hpp"
#include "../support/write_failure.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/io/safetensors.hpp>

#include <cmath>
#include <cstdlib>
#include <utility>
#include <map>
#include <string>
#include <vector>

using namespace state_test;
namespace sio = seqedit::io;

namespace {

/// A valid double MEMIT state file after 3 steps, written to `path`.
void write_memit_state(const std::string& path, std::map<std::string, std::string> extra = {}) {
  const auto p = make_problem<double>(kDv, kDk, kN, 3, 7, false);
  seqedit::SequentialEditor<double> ed(p.w0, p.c0, config_objective<double>(Config::Memit));
  for (int t = 0; t < 3; ++t) ed.apply(p.ks[std::size_t(t)], p.vs[std::size_t(t)]);
  sio::save_editor_state(path, ed, extra);
}

/// Copies a safetensors file, letting `edit` change tensors and metadata on the way.
struct Rewrite {
  std::map<std::string, std::string> metadata;
  std::vector<std::string> drop;
  std::map<std::string, Eigen::MatrixXd> replace;  // written as F64
  std::map<std::string, Eigen::MatrixXd> add;      // written as F64
};

void rewrite(const std::string& from, const std::string& to, const Rewrite& r) {
  const sio::SafetensorsFile f(from);
  sio::SafetensorsWriter w;
  for (const auto& kv : f.metadata()) w.set_metadata(kv.first, kv.second);
  for (const auto& kv : r.metadata) w.set_metadata(kv.first, kv.second);
  for (const auto& t : f.tensors()) {
    if (std::find(r.drop.begin(), r.drop.end(), t.name) != r.drop.end()) continue;
    const auto it = r.replace.find(t.name);
    if (it != r.replace.end()) w.add(t.name, it->second, sio::DType::F64);
    else w.add_raw(t.name, t.dtype, t.shape, f.read_raw(t.name));
  }
  for (const auto& kv : r.add) w.add(kv.first, kv.second, sio::DType::F64);
  w.write(to);
}

}  // namespace

// The float half is in test_editor_state_float.cpp (a second translation unit, so that the
// two compile in parallel).
TEST_CASE("state round trip is bit-identical and continues bit-identically (double)", "[state]") {
  for (Config cfg : all_configs()) round_trip_and_continue<double>(cfg);
}

TEMPLATE_TEST_CASE("state of a fresh editor (empty journal) round-trips", "[state]", float, double) {
  using Scalar = TestType;
  const auto p = make_problem<Scalar>(kDv, kDk, kN, 2, 5, false);
  TempDir dir;
  const std::string path = dir.file("fresh.safetensors");
  seqedit::SequentialEditor<Scalar> ed(p.w0, p.c0, config_objective<Scalar>(Config::Memit));
  sio::save_editor_state(path, ed);
  auto loaded = sio::load_editor_state<Scalar>(path);
  require_same_state(ed.state(), loaded.state());
  ed.apply(p.ks[0], p.vs[0]);
  loaded.apply(p.ks[0], p.vs[0]);
  CHECK(bit_equal(ed.weights(), loaded.weights()));
}

TEST_CASE("lambda and alpha survive with every bit", "[state]") {
  const auto p = make_problem<double>(kDv, kDk, kN, 1, 9, false);
  TempDir dir;
  const std::string path = dir.file("s.safetensors");
  seqedit::Objective<double> obj;
  obj.lambda = 0.1 + 1e-17 * 3;  // not a short decimal
  obj.alpha = 1.0 / 3.0;
  seqedit::SequentialEditor<double> ed(p.w0, p.c0, obj);
  sio::save_editor_state(path, ed);
  const auto s = sio::read_editor_state<double>(path);
  CHECK(s.objective.lambda == obj.lambda);
  CHECK(s.objective.alpha == obj.alpha);

  seqedit::Objective<float> objf;
  objf.lambda = 0.1f;
  objf.alpha = 1.0f / 3.0f;
  seqedit::SequentialEditor<float> edf(p.w0.cast<float>(), p.c0.cast<float>(), objf);
  sio::save_editor_state(path, edf);
  const auto sf = sio::read_editor_state<float>(path);
  CHECK(sf.objective.lambda == objf.lambda);
  CHECK(sf.objective.alpha == objf.alpha);
}

TEST_CASE("describe_regulariser names the regularisers", "[state]") {
  CHECK(sio::describe_regulariser(seqedit::NoRegulariser<double>()) == "none");
  CHECK(sio::describe_regulariser(seqedit::Prune<float>()) == "prune");
  CHECK(sio::describe_regulariser(seqedit::Rect<double>(0.2)) == "rect p=0.2");
  CHECK(sio::describe_regulariser(seqedit::Rect<float>(0.4)) == "rect p=0.4");
}

TEST_CASE("state loading refuses what does not fit the request", "[state][errors]") {
  TempDir dir;
  const std::string path = dir.file("memit.safetensors");
  write_memit_state(path);

  SECTION("wrong scalar type") {
    try {
      (void)sio::load_editor_state<float>(path);
      FAIL("loaded a float64 state as float");
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(msg.find(path) != std::string::npos);
      CHECK(msg.find("state file holds float64, asked for float") != std::string::npos);
    }
  }
  SECTION("other regulariser") {
    try {
      (void)sio::load_editor_state<double, seqedit::Rect<double>>(path, seqedit::Rect<double>(0.2));
      FAIL("loaded with another regulariser");
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(msg.find("'none'") != std::string::npos);
      CHECK(msg.find("'rect p=0.2'") != std::string::npos);
    }
  }
  SECTION("reserved extra metadata") {
    const auto p = make_problem<double>(kDv, kDk, kN, 1, 7, false);
    seqedit::SequentialEditor<double> ed(p.w0, p.c0, config_objective<double>(Config::Memit));
    CHECK_THROWS_AS(sio::save_editor_state(path, ed, {{"seqedit.steps", "9"}}), std::invalid_argument);
    CHECK_THROWS_AS(sio::save_editor_state(path, ed, {{"format", "np"}}), std::invalid_argument);
  }
}

namespace {

/// Loads `path` and returns the format_error message (or fails).
std::string load_error(const std::string& path) {
  try {
    (void)sio::load_editor_state<double>(path);
  } catch (const sio::format_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected seqedit::io::format_error, got: " << e.what());
  }
  FAIL("a malformed state file loaded without error");
  return {};
}

void check_error(const std::string& path, const std::string& needle, const std::string& or_needle = "\x01") {
  const std::string msg = load_error(path);
  INFO(msg);
  CHECK(msg.rfind(path, 0) == 0);  // starts with the file name
  CHECK((msg.find(needle) != std::string::npos || msg.find(or_needle) != std::string::npos));
}

}  // namespace

TEST_CASE("malformed state files are refused with the file name and the reason", "[state][errors]") {
  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  const std::string bad = dir.file("bad.safetensors");
  write_memit_state(good);

  SECTION("missing tensor") {
    rewrite(good, bad, Rewrite{{}, {"system_inverse"}, {}, {}});
    check_error(bad, "tensor 'system_inverse' is missing");
  }
  SECTION("wrong shape") {
    rewrite(good, bad, Rewrite{{}, {}, {{"cumulative_update", Eigen::MatrixXd::Zero(kDv, kDk - 1)}}, {}});
    check_error(bad, "tensor 'cumulative_update' has shape [6, 9] but [6, 10] is expected");
  }
  SECTION("unexpected tensor") {
    rewrite(good, bad, Rewrite{{}, {}, {}, {{"extra", Eigen::MatrixXd::Zero(2, 2)}}});
    check_error(bad, "unexpected tensor 'extra'");
  }
  SECTION("bad metadata") {
    rewrite(good, bad, Rewrite{{{"seqedit.history", "sideways"}}, {}, {}, {}});
    check_error(bad, "'seqedit.history' = 'sideways'");
    rewrite(good, bad, Rewrite{{{"seqedit.lambda", "-3"}}, {}, {}, {}});
    check_error(bad, "'seqedit.lambda'");
    rewrite(good, bad, Rewrite{{{"seqedit.next_serial", "abc"}}, {}, {}, {}});
    check_error(bad, "'seqedit.next_serial'");
    rewrite(good, bad, Rewrite{{{"seqedit.state_version", "3"}}, {}, {}, {}});
    check_error(bad, "version 3 is not supported");
    rewrite(good, bad, Rewrite{{{"seqedit.checksum", "md5:0123"}}, {}, {}, {}});
    check_error(bad, "names no known algorithm");
  }
  SECTION("changed metadata value: checksum") {
    rewrite(good, bad, Rewrite{{{"seqedit.steps", "4"}}, {}, {}, {}});
    check_error(bad, "checksum mismatch");
  }
  SECTION("not a state file") {
    sio::SafetensorsWriter w;
    w.add("w", Eigen::MatrixXd::Zero(2, 2), sio::DType::F32);
    w.write(bad);
    check_error(bad, "not a seqedit state file");
  }
  SECTION("truncated file") {
    const std::string bytes = read_bytes(good);
    for (std::size_t cut : {std::size_t(1), std::size_t(8), std::size_t(100), bytes.size() - 8, bytes.size() - 4}) {
      write_bytes(bad, bytes.substr(0, bytes.size() - cut));
      INFO("cut " << cut << " bytes");
      (void)load_error(bad);
    }
    write_bytes(bad, bytes.substr(0, bytes.size() - 1));
    check_error(bad, "incomplete buffer");
    write_bytes(bad, bytes + "x");
    check_error(bad, "trailing");
  }
  SECTION("every flipped bit pattern in the header is refused") {
    const std::string bytes = read_bytes(good);
    const sio::SafetensorsFile f(good);
    const std::size_t header_end = std::size_t(f.data_start());
    int failures = 0;
    for (std::size_t i = 0; i < header_end; ++i) {
      for (unsigned mask : {0x01u, 0x20u, 0x80u}) {
        std::string b = bytes;
        b[i] = char(static_cast<unsigned char>(b[i]) ^ mask);
        write_bytes(bad, b);
        try {
          (void)sio::load_editor_state<double>(bad);
          ++failures;
          UNSCOPED_INFO("flip at byte " << i << " mask " << mask << " loaded without error");
        } catch (const sio::format_error& e) {
          if (std::string(e.what()).rfind(bad, 0) != 0) {
            ++failures;
            UNSCOPED_INFO("message without the file name: " << e.what());
          }
        } catch (const std::exception& e) {
          ++failures;
          UNSCOPED_INFO("flip at byte " << i << " mask " << mask << ": not a format_error: " << e.what());
        }
      }
    }
    CHECK(failures == 0);
  }
  SECTION("flipped bytes in the data are caught by the checksum") {
    const std::string bytes = read_bytes(good);
    const sio::SafetensorsFile f(good);
    for (std::size_t i = std::size_t(f.data_start()); i < bytes.size(); i += 37) {
      std::string b = bytes;
      b[i] = char(static_cast<unsigned char>(b[i]) ^ 0x01u);
      write_bytes(bad, b);
      INFO("flip at byte " << i);
      check_error(bad, "checksum mismatch", "tensor 'journal_serials': serial");
    }
  }
  SECTION("missing file") {
    CHECK_THROWS_AS(sio::load_editor_state<double>(dir.file("nope.safetensors")), sio::io_error);
  }
}

TEST_CASE("a failed save leaves the previous state file intact", "[state][errors]") {
  TempDir dir;
  const std::string path = dir.file("s.safetensors");
  write_memit_state(path);
  const std::string before = read_bytes(path);
  const auto p = make_problem<double>(kDv, kDk, kN, 1, 8, false);
  seqedit::SequentialEditor<double> ed(p.w0, p.c0, config_objective<double>(Config::Memit));
  {
    seqedit_test::ScopedWriteFailure fail(100);
    CHECK_THROWS_AS(sio::save_editor_state(path, ed), sio::io_error);
  }
  CHECK(read_bytes(path) == before);
  (void)sio::load_editor_state<double>(path);
}

// ------------------------------------------------------------------ new-process fixture

namespace {

template <typename Scalar>
void write_resume_fixture(const std::string& dir, Config cfg) {
  const std::string stem = dir + "/" + config_name(cfg) + "_" + sio::detail::scalar_label<Scalar>();
  const auto p = make_problem<Scalar>(kDv, kDk, kN, 20, 1000 + std::uint64_t(cfg), uses_null_space(cfg));
  with_regulariser<Scalar>(cfg, [&](const auto& reg) {
    using Reg = std::decay_t<decltype(reg)>;
    seqedit::SequentialEditor<Scalar, Reg> ed(p.w0, p.c0, config_objective<Scalar>(cfg),
                                              config_options<Scalar>(cfg, p.c0), reg);
    std::vector<std::vector<seqedit::EditId>> ids;
    for (int t = 0; t < 20; ++t) {
      ids.push_back(ed.apply(p.ks[std::size_t(t)], p.vs[std::size_t(t)]));
      if (t == 9) sio::save_editor_state(stem + ".state.safetensors", ed);
    }
    sio::SafetensorsWriter w;
    const sio::DType dt = std::is_same<Scalar, double>::value ? sio::DType::F64 : sio::DType::F32;
    for (int t = 10; t < 20; ++t) {
      w.add("k" + std::to_string(t), p.ks[std::size_t(t)], dt);
      w.add("v" + std::to_string(t), p.vs[std::size_t(t)], dt);
    }
    w.add("final", ed.weights(), dt);
    std::string serials;
    for (const auto& id : ids[2]) serials += (serials.empty() ? "" : ",") + std::to_string(id.serial);
    ed.retract(ids[2]);
    w.add("retracted", ed.weights(), dt);
    w.set_metadata("retract", serials);
    w.write(stem + ".reference.safetensors");
  });
}

}  // namespace

// Hidden: run by CTest as the setup of the "state_resume_check" fixture
// (SEQEDIT_STATE_FIXTURE_DIR names the output folder).
TEST_CASE("write the resume fixture", "[.][resume_fixture]") {
  const char* dir = std::getenv("SEQEDIT_STATE_FIXTURE_DIR");
  REQUIRE(dir != nullptr);
  std::filesystem::create_directories(dir);
  for (Config cfg : all_configs()) {
    write_resume_fixture<float>(dir, cfg);
    write_resume_fixture<double>(dir, cfg);
  }
}

// Explicit instantiations: every member of the state API compiles for float and double.
template void sio::save_editor_state<float, seqedit::NoRegulariser<float>>(
    const std::string&, const seqedit::SequentialEditor<float>&, const std::map<std::string, std::string>&);
template void sio::save_editor_state<double, seqedit::Prune<double>>(
    const std::string&, const seqedit::SequentialEditor<double, seqedit::Prune<double>>&,
    const std::map<std::string, std::string>&);
template seqedit::SequentialEditor<double, seqedit::Rect<double>> sio::load_editor_state<double, seqedit::Rect<double>>(
    const std::string&, const seqedit::Rect<double>&);
template seqedit::EditorState<float> sio::read_editor_state<float>(const std::string&, sio::EditorStateInfo*);

// ------------------------------------------------------------------ version 1 files, checksum

namespace {

double rel_err_d(const Eigen::MatrixXd& x, const Eigen::MatrixXd& ref) { return (x - ref).norm() / ref.norm(); }

/// Writes `ed` as a version-1 state file, exactly as the version-1 writer did: W_t as
/// `weights`, no drift probes, the word-wise `seqedit-hash64` checksum.
void write_version1(const std::string& path, const seqedit::SequentialEditor<double>& ed) {
  const auto s = ed.state();
  std::map<std::string, std::string> meta;
  meta["format"] = "pt";
  meta["seqedit.state_version"] = "1";
  meta["seqedit.scalar"] = "float64";
  meta["seqedit.lambda"] = sio::detail::exact_real(s.objective.lambda);
  meta["seqedit.alpha"] = sio::detail::exact_real(s.objective.alpha);
  meta["seqedit.history"] = "aligned";
  meta["seqedit.compensation"] = "none";
  meta["seqedit.steps"] = std::to_string(s.steps);
  meta["seqedit.editor_tag"] = sio::detail::hex64(s.editor_tag);
  meta["seqedit.next_serial"] = std::to_string(s.next_serial);
  meta["seqedit.regulariser"] = "none";
  meta["seqedit.value_dim"] = std::to_string(s.initial_weights.rows());
  meta["seqedit.key_dim"] = std::to_string(s.initial_weights.cols());
  meta["seqedit.reduced_dim"] = std::to_string(s.system_inverse.rows());
  meta["seqedit.journal_size"] = std::to_string(s.journal_serials.size());
  std::vector<std::pair<std::string, Eigen::MatrixXd>> mats = {
      {"initial_weights", s.initial_weights}, {"weights", s.weights},       {"system_inverse", s.system_inverse},
      {"journal_keys", s.journal_keys},       {"journal_values", s.journal_values}};
  std::vector<char> serials(8 * s.journal_serials.size());
  for (std::size_t j = 0; j < s.journal_serials.size(); ++j)
    sio::detail::store_le64(reinterpret_cast<unsigned char*>(serials.data()) + 8 * j, s.journal_serials[j]);
  sio::detail::LegacyStateHasher h;
  const auto str = [&h](const std::string& x) {
    unsigned char b[8];
    sio::detail::store_le64(b, x.size());
    h.update(b, 8);
    h.update(x.data(), x.size());
  };
  const auto u64 = [&h](std::uint64_t v) {
    unsigned char b[8];
    sio::detail::store_le64(b, v);
    h.update(b, 8);
  };
  for (const auto& kv : meta) {
    str(kv.first);
    str(kv.second);
  }
  for (const auto& nm : mats) {
    const std::vector<char> bytes = sio::detail::encode_matrix(nm.second, sio::DType::F64);
    str(nm.first);
    str("F64");
    u64(2);
    u64(std::uint64_t(nm.second.rows()));
    u64(std::uint64_t(nm.second.cols()));
    h.update(bytes.data(), bytes.size());
  }
  str("journal_serials");
  str("I64");
  u64(1);
  u64(s.journal_serials.size());
  h.update(serials.data(), serials.size());
  meta["seqedit.checksum"] = "seqedit-hash64:" + sio::detail::hex64(h.finish());
  sio::SafetensorsWriter w;
  for (const auto& kv : meta) w.set_metadata(kv.first, kv.second);
  for (const auto& nm : mats) w.add(nm.first, nm.second, sio::DType::F64);
  w.add_raw("journal_serials", sio::DType::I64, {std::int64_t(s.journal_serials.size())}, serials);
  w.write(path);
}

}  // namespace

TEST_CASE("version-1 state files (earlier checksum, W_t, no probes) still load", "[state][compat]") {
  const auto p = make_problem<double>(kDv, kDk, kN, 4, 21, false);
  seqedit::SequentialEditor<double> ed(p.w0, p.c0, config_objective<double>(Config::Memit));
  for (int t = 0; t < 3; ++t) ed.apply(p.ks[std::size_t(t)], p.vs[std::size_t(t)]);
  TempDir dir;
  const std::string v1 = dir.file("v1.safetensors");
  write_version1(v1, ed);
  const auto info = sio::read_editor_state_info(v1, true);
  CHECK(info.state_version == 1);
  CHECK(info.checksum_algorithm == "seqedit-hash64");
  CHECK(info.checksum_verified);
  CHECK(std::isnan(info.drift_estimate));
  CHECK_FALSE(info.has_drift_probes);
  auto loaded = sio::load_editor_state<double>(v1);
  CHECK(std::isnan(loaded.drift_estimate()));
  CHECK(loaded.journal().ids() == ed.journal().ids());
  // D is recovered as W_t − W0: equal to the editor's D up to one rounding of W_t.
  CHECK(rel_err_d(loaded.cumulative_update(), ed.cumulative_update()) < 1e-13);  // one rounding of W_t, relative to the smaller D_t
  ed.apply(p.ks[3], p.vs[3]);
  loaded.apply(p.ks[3], p.vs[3]);
  CHECK(rel_err_d(loaded.cumulative_update(), ed.cumulative_update()) < 1e-13);
  loaded.refresh(p.c0);
  CHECK(loaded.drift_estimate() < 1e-13);

  // A flipped data byte of a version-1 file is caught by the version-1 checksum.
  std::string bytes = read_bytes(v1);
  bytes[bytes.size() - 20] = char(bytes[bytes.size() - 20] ^ 0x04);
  const std::string bad = dir.file("bad.safetensors");
  write_bytes(bad, bytes);
  check_error(bad, "checksum mismatch", "tensor 'journal_serials': serial");
  // A version-1 file claiming the new algorithm is refused.
  rewrite(v1, bad, Rewrite{{{"seqedit.checksum", "xxh3-64:0000000000000000"}}, {}, {}, {}});
  check_error(bad, "does not use the algorithm of version 1");
}

TEST_CASE("state checksum is XXH3-64 (known answers) and its errors are seqedit::error", "[state][checksum]") {
  // Known answers of XXH3-64 (xxHash's reference values): "" and "abc".
  sio::detail::StateHasher empty(sio::detail::StateChecksum::Xxh3_64);
  CHECK(empty.finish() == 0x2D06800538D394C2ULL);
  sio::detail::StateHasher abc(sio::detail::StateChecksum::Xxh3_64);
  abc.update("abc", 3);
  CHECK(abc.finish() == 0x78AF5F94892F3950ULL);

  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  write_memit_state(good);
  const auto info = sio::read_editor_state_info(good, true);
  CHECK(info.state_version == 2);
  CHECK(info.checksum.rfind("xxh3-64:", 0) == 0);
  CHECK(info.checksum.size() == 8 + 16);
  const std::string bad = dir.file("bad.safetensors");
  rewrite(good, bad, Rewrite{{{"seqedit.steps", "4"}}, {}, {}, {}});
  CHECK_THROWS_AS(sio::load_editor_state<double>(bad), seqedit::error);
  CHECK_THROWS_AS(sio::load_editor_state<double>(bad), std::runtime_error);
  CHECK_THROWS_AS(sio::load_editor_state<double>(dir.file("missing.safetensors")), seqedit::error);
}
