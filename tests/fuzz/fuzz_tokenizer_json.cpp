// libFuzzer target: arbitrary bytes as a tokenizer.json. Parsing must either succeed or
// throw seqedit::io::format_error / io_error; a tokenizer that parses must encode and
// decode without crashing.
#include <seqedit/text/tokenizer.hpp>

#include <seqedit/io/error.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto tok = seqedit::text::Tokenizer::from_json(bytes, "fuzz.json");
    for (const std::string_view text : {std::string_view("Hello world, it's 2024! caf\xC3\xA9 \xF0\x9F\x98\x80"),
                                        std::string_view("  <s> a  b\t\r\n")}) {
      const auto enc = tok.encode(text);
      for (const auto& [b, e] : enc.offsets)
        if (b > e || e > text.size()) __builtin_trap();
      (void)tok.decode(enc.ids);
      (void)tok.decode(enc.ids, true);
    }
    (void)tok.vocab_size();
  } catch (const seqedit::io::format_error&) {
  } catch (const seqedit::io::io_error&) {
  }
  return 0;
}
