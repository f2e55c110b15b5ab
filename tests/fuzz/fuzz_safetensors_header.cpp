// libFuzzer target: safetensors header validation and tensor decoding of a whole file image.
#include <seqedit/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace seqedit::io;
  try {
    const char* bytes = reinterpret_cast<const char*>(data);
    const SafetensorsHeader h = parse_safetensors_header(bytes, size, size, "fuzz.safetensors");
    // Validation promises every tensor lies inside the image: decode them all.
    for (const TensorInfo& t : h.tensors) {
      if (t.shape.size() > 2) continue;
      const auto rc = detail::matrix_shape(t.shape, "fuzz.safetensors", t.name);
      const auto m = detail::decode_matrix<float>(data + h.data_start + t.begin, t.dtype, rc.first, rc.second, false);
      if (static_cast<std::uint64_t>(m.size()) * dtype_size(t.dtype) != t.end - t.begin) __builtin_trap();
    }
  } catch (const format_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
