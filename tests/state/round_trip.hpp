// Shared by the editor-state test translation units: the bit-exact save / load /
// continue / retract round trip of every editor configuration.
#ifndef SEQEDIT_TESTS_STATE_ROUND_TRIP_HPP
#define SEQEDIT_TESTS_STATE_ROUND_TRIP_HPP

#include <catch2/catch.hpp>

#include "state_cases.hpp"

#include <seqedit/io/editor_state.hpp>

#include <string>
#include <type_traits>
#include <vector>

namespace state_test {

constexpr Eigen::Index kDv = 6, kDk = 10, kN = 3;

template <typename Scalar>
inline void require_same_state(const seqedit::EditorState<Scalar>& a, const seqedit::EditorState<Scalar>& b) {
  CHECK(bit_equal(a.initial_weights, b.initial_weights));
  CHECK(bit_equal(a.weights, b.weights));
  CHECK(bit_equal(a.cumulative_update, b.cumulative_update));
  CHECK(bit_equal(a.drift_probes, b.drift_probes));
  CHECK(bit_equal(a.drift_probe_images, b.drift_probe_images));
  CHECK(bit_equal(a.system_inverse, b.system_inverse));
  CHECK(bit_equal(a.deviation, b.deviation));
  REQUIRE(a.projector_basis.has_value() == b.projector_basis.has_value());
  if (a.projector_basis) CHECK(bit_equal(*a.projector_basis, *b.projector_basis));
  CHECK(bit_equal(a.journal_keys, b.journal_keys));
  CHECK(bit_equal(a.journal_values, b.journal_values));
  CHECK(a.journal_serials == b.journal_serials);
  CHECK(a.objective.lambda == b.objective.lambda);
  CHECK(a.objective.alpha == b.objective.alpha);
  CHECK(a.history == b.history);
  CHECK(a.compensation == b.compensation);
  CHECK(a.steps == b.steps);
  CHECK(a.editor_tag == b.editor_tag);
  CHECK(a.next_serial == b.next_serial);
}

template <typename Scalar>
inline void round_trip_and_continue(Config cfg) {
  INFO("configuration " << config_name(cfg));
  const auto p = make_problem<Scalar>(kDv, kDk, kN, 8, 100 + std::uint64_t(cfg), uses_null_space(cfg));
  TempDir dir;
  const std::string path = dir.file("state.safetensors");
  with_regulariser<Scalar>(cfg, [&](const auto& reg) {
    using Reg = std::decay_t<decltype(reg)>;
    seqedit::SequentialEditor<Scalar, Reg> ed(p.w0, p.c0, config_objective<Scalar>(cfg),
                                              config_options<Scalar>(cfg, p.c0), reg);
    std::vector<std::vector<seqedit::EditId>> ids;
    for (int t = 0; t < 4; ++t) ids.push_back(ed.apply(p.ks[std::size_t(t)], p.vs[std::size_t(t)]));

    seqedit::io::save_editor_state(path, ed, {{"note", "round trip"}});
    auto loaded = seqedit::io::load_editor_state<Scalar, Reg>(path, reg);
    require_same_state(ed.state(), loaded.state());
    CHECK(loaded.tag() == ed.tag());
    CHECK(loaded.steps() == ed.steps());

    const auto info = seqedit::io::read_editor_state_info(path, true);
    CHECK(info.checksum_verified);
    CHECK(info.scalar == (std::is_same<Scalar, double>::value ? "float64" : "float32"));
    CHECK(info.value_dim == kDv);
    CHECK(info.key_dim == kDk);
    CHECK(info.has_projector == uses_null_space(cfg));
    CHECK(info.steps == 4);
    CHECK(info.journal_serials.size() == std::size_t(4 * kN));
    CHECK(info.regulariser == seqedit::io::describe_regulariser(reg));
    CHECK(info.extra_metadata.at("note") == "round trip");
    CHECK(info.extra_metadata.size() == 1);
    CHECK(info.checksum_algorithm == "xxh3-64");
    CHECK(info.checksum.rfind("xxh3-64:", 0) == 0);
    // The drift estimate is stored and reproduced bit for bit by the loaded editor.
    CHECK(info.has_drift_probes);
    CHECK(info.drift_estimate == double(ed.drift_estimate()));
    CHECK(loaded.drift_estimate() == ed.drift_estimate());
    CHECK(ed.drift_estimate() < 1e3 * double(Eigen::NumTraits<Scalar>::epsilon()));

    // Continue both editors with the same batches: bit-identical.
    for (int t = 4; t < 8; ++t) {
      ed.apply(p.ks[std::size_t(t)], p.vs[std::size_t(t)]);
      loaded.apply(p.ks[std::size_t(t)], p.vs[std::size_t(t)]);
    }
    CHECK(bit_equal(ed.weights(), loaded.weights()));
    CHECK(bit_equal(ed.deviation(), loaded.deviation()));

    // Retraction after reload, of edits made before the save.
    ed.retract(ids[1]);
    loaded.retract(ids[1]);
    CHECK(bit_equal(ed.weights(), loaded.weights()));
    require_same_state(ed.state(), loaded.state());

    // Save/load again after the retraction (a journal with a gap in its serials).
    seqedit::io::save_editor_state(path, loaded);
    auto again = seqedit::io::load_editor_state<Scalar, Reg>(path, reg);
    require_same_state(loaded.state(), again.state());
  });
}

}  // namespace state_test

#endif  // SEQEDIT_TESTS_STATE_ROUND_TRIP_HPP
