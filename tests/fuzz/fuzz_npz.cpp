// libFuzzer target: .npz archives (libzip) with their npy members and MEMIT statistics.
#include <seqedit/io/npz.hpp>
#include <seqedit/io/stats.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace seqedit::io;
  try {
    const NpzFile z(reinterpret_cast<const char*>(data), size, "fuzz.npz");
    for (const std::string& key : z.keys()) {
      try {
        const NpyArray a = z.read(key);
        if (a.numeric && a.shape.size() <= 2) (void)to_matrix<float>(a, key);
      } catch (const format_error&) {
      } catch (const std::invalid_argument&) {
      }
    }
    (void)load_mom2_stats<double>(z);
  } catch (const format_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
