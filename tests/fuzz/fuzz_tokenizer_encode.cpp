// libFuzzer target: arbitrary bytes (valid and invalid UTF-8) encoded by a fixed small
// tokenizer exercising every stage (added tokens, NFKC + Lowercase + Replace, Split +
// ByteLevel, BPE with byte-level merges, template, decoder). Invalid input must throw
// std::invalid_argument; valid input must give in-range offsets and decode back.
#include <seqedit/text/tokenizer.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

const seqedit::text::Tokenizer& tokenizer() {
  static const seqedit::text::Tokenizer tok = [] {
    // Byte-level BPE over the 256 byte characters with a few merges.
    std::string vocab;
    std::string chars[256];
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const int c = direct ? b : next++;
      std::string u;
      if (c < 0x80) u.push_back(static_cast<char>(c));
      else {
        u.push_back(static_cast<char>(0xC0 | (c >> 6)));
        u.push_back(static_cast<char>(0x80 | (c & 0x3F)));
      }
      chars[b] = u;
    }
    auto esc = [](const std::string& s) {
      std::string o;
      for (const char ch : s) {
        if (ch == '"' || ch == '\\') o += '\\';
        o += ch;
      }
      return o;
    };
    for (int b = 0; b < 256; ++b) vocab += "\"" + esc(chars[b]) + "\":" + std::to_string(b) + ",";
    const std::string sp = chars[0x20];
    vocab += "\"" + sp + "t\":256,\"he\":257,\"" + sp + "the\":258,\"in\":259,\"" + sp + "a\":260";
    const std::string merges = "[\"" + sp + " t\",\"h e\",\"" + sp + "t he\",\"i n\",\"" + sp + " a\"]";
    const std::string json =
        std::string("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,") +
        "\"added_tokens\":[{\"id\":261,\"content\":\"<|x|>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":true,"
        "\"normalized\":false,\"special\":true},{\"id\":262,\"content\":\"word\",\"single_word\":true,\"lstrip\":false,"
        "\"rstrip\":false,\"normalized\":true,\"special\":false}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s{3,}\"},\"content\":\"  \"}]},"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"(?i:'s|'t)|\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":"
        "\"Isolated\",\"invert\":false},{\"type\":\"Digits\",\"individual_digits\":true},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":false}]},"
        "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
        "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":true,"
        "\"vocab\":{" + vocab + "},\"merges\":" + merges + "},"
        "\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\",\"trim_offsets\":true},"
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|x|>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{\"<|x|>\":{\"id\":\"<|x|>\","
        "\"ids\":[261],\"tokens\":[\"<|x|>\"]}}}]},"
        "\"decoder\":{\"type\":\"ByteLevel\"}}";
    return seqedit::text::Tokenizer::from_json(json, "fuzz_encode.json");
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& tok = tokenizer();
  try {
    const auto enc = tok.encode(text, size % 2 == 0);
    if (enc.ids.size() != enc.offsets.size() || enc.ids.size() != enc.tokens.size()) __builtin_trap();
    for (const auto& [b, e] : enc.offsets)
      if (b > e || e > text.size()) __builtin_trap();
    for (const auto id : enc.ids)
      if (id < 0 || static_cast<std::size_t>(id) >= tok.vocab_size()) __builtin_trap();
    (void)tok.decode(enc.ids);
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
