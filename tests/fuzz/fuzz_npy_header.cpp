// libFuzzer target: .npy parsing and conversion to a matrix.
#include <seqedit/io/npy.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace seqedit::io;
  try {
    const NpyArray a = parse_npy(reinterpret_cast<const char*>(data), size, "fuzz.npy");
    if (a.data.size() != a.numel() * a.itemsize) __builtin_trap();
    if (a.numeric && a.shape.size() <= 2) {
      const auto m = to_matrix<double>(a, "fuzz.npy");
      if (static_cast<std::uint64_t>(m.size()) != a.numel()) __builtin_trap();
    }
  } catch (const format_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
