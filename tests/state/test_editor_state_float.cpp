// The float half of the editor-state round trip (see round_trip.hpp); the double half and
// the other state tests are in test_editor_state.cpp.

#include <catch2/catch.hpp>

#include "round_trip.hpp"

using namespace state_test;

TEST_CASE("state round trip is bit-identical and continues bit-identically (float)", "[state]") {
  for (Config cfg : all_configs()) round_trip_and_continue<float>(cfg);
}
