// 16-bit conversions by bit pattern, rounding ties, and the element codecs.
#include <seqedit/io/dtype.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

using namespace seqedit::io;

namespace {
bool f16_is_nan(std::uint16_t b) { return (b & 0x7c00) == 0x7c00 && (b & 0x03ff) != 0; }
bool bf16_is_nan(std::uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x007f) != 0; }
bool f32_is_nan(std::uint32_t b) { return (b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0; }
}  // namespace

TEST_CASE("dtype names and sizes", "[io][dtype]") {
  for (DType t : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64}) {
    const auto back = dtype_from_name(dtype_name(t));
    REQUIRE(back.has_value());
    CHECK(*back == t);
  }
  CHECK(dtype_size(DType::F64) == 8);
  CHECK(dtype_size(DType::F32) == 4);
  CHECK(dtype_size(DType::F16) == 2);
  CHECK(dtype_size(DType::BF16) == 2);
  CHECK(dtype_size(DType::I64) == 8);
  CHECK_FALSE(dtype_from_name("U8").has_value());
  CHECK_FALSE(dtype_from_name("f32").has_value());
}

TEST_CASE("f16: all 65,536 patterns round-trip through float; NaN stays NaN", "[io][dtype]") {
  int nan_count = 0;
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const std::uint16_t bits = static_cast<std::uint16_t>(b);
    const float f = f16_bits_to_float(bits);
    const std::uint16_t back = float_to_f16_bits(f);
    if (f16_is_nan(bits)) {
      ++nan_count;
      REQUIRE(f32_is_nan(float_bits(f)));
      REQUIRE(f16_is_nan(back));
    } else {
      INFO("pattern " << b);
      REQUIRE(back == bits);
      REQUIRE(double_to_f16_bits(static_cast<double>(f)) == bits);
    }
  }
  CHECK(nan_count == 2 * 1023);
}

TEST_CASE("bf16: all 65,536 patterns round-trip through float; NaN stays NaN", "[io][dtype]") {
  int nan_count = 0;
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const std::uint16_t bits = static_cast<std::uint16_t>(b);
    const float f = bf16_bits_to_float(bits);
    CHECK(float_bits(f) == (b << 16));  // widening is a shift: exact
    const std::uint16_t back = float_to_bf16_bits(f);
    if (bf16_is_nan(bits)) {
      ++nan_count;
      REQUIRE(bf16_is_nan(back));
    } else {
      INFO("pattern " << b);
      REQUIRE(back == bits);
      REQUIRE(double_to_bf16_bits(static_cast<double>(f)) == bits);
    }
  }
  CHECK(nan_count == 2 * 127);
}

TEST_CASE("narrowing float rounds to nearest even, by constructed ties", "[io][dtype]") {
  // bf16: 0x3f80 = 1.0; float 0x3f808000 is exactly halfway to 0x3f81.
  CHECK(float_to_bf16_bits(float_from_bits(0x3f808000u)) == 0x3f80);  // tie -> even (down)
  CHECK(float_to_bf16_bits(float_from_bits(0x3f818000u)) == 0x3f82);  // tie -> even (up)
  CHECK(float_to_bf16_bits(float_from_bits(0x3f808001u)) == 0x3f81);  // above the tie
  CHECK(float_to_bf16_bits(float_from_bits(0x3f807fffu)) == 0x3f80);  // below the tie
  CHECK(float_to_bf16_bits(float_from_bits(0xbf808000u)) == 0xbf80);  // negative tie
  // f16: 1.0 = 0x3c00, ulp 2^-10.
  CHECK(float_to_f16_bits(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);
  CHECK(float_to_f16_bits(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
  CHECK(float_to_f16_bits(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)) == 0x3c01);
  // overflow
  CHECK(float_to_f16_bits(1e6f) == 0x7c00);
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::max()) == 0x7f80);
}

TEST_CASE("a NaN with only low mantissa bits stays NaN (naive rounding makes it Inf)", "[io][dtype]") {
  for (std::uint32_t pattern : {0x7f800001u, 0xff800001u, 0x7f800fffu, 0x7fc00000u}) {
    const float x = float_from_bits(pattern);
    CHECK(bf16_is_nan(float_to_bf16_bits(x)));
    CHECK(f16_is_nan(float_to_f16_bits(x)));
    CHECK(bf16_is_nan(double_to_bf16_bits(static_cast<double>(x))));
    CHECK(f16_is_nan(double_to_f16_bits(static_cast<double>(x))));
  }
}

TEST_CASE("double -> 16-bit rounds once (no double rounding through float)", "[io][dtype]") {
  const double above_tie = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40);
  // Through float the value lands on the tie and then goes to even: the wrong answer.
  REQUIRE(float_to_bf16_bits(static_cast<float>(above_tie)) == 0x3f80);
  CHECK(double_to_bf16_bits(above_tie) == 0x3f81);
  const double above_tie16 = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  REQUIRE(float_to_f16_bits(static_cast<float>(above_tie16)) == 0x3c00);
  CHECK(double_to_f16_bits(above_tie16) == 0x3c01);

  // Every positive finite pattern: the exact tie goes to even, one double ulp either side
  // goes to the nearer neighbour.
  for (std::uint32_t p = 0; p < 0x7f7f; ++p) {
    const double lo = bf16_bits_to_float(static_cast<std::uint16_t>(p));
    const double hi = bf16_bits_to_float(static_cast<std::uint16_t>(p + 1));
    const double tie = (lo + hi) / 2;
    const std::uint16_t even = static_cast<std::uint16_t>((p & 1) ? p + 1 : p);
    INFO("bf16 pattern " << p);
    REQUIRE(double_to_bf16_bits(tie) == even);
    REQUIRE(double_to_bf16_bits(std::nextafter(tie, 1e300)) == p + 1);
    REQUIRE(double_to_bf16_bits(std::nextafter(tie, -1e300)) == p);
  }
  for (std::uint32_t p = 0; p < 0x7bff; ++p) {
    const double lo = f16_bits_to_float(static_cast<std::uint16_t>(p));
    const double hi = f16_bits_to_float(static_cast<std::uint16_t>(p + 1));
    const double tie = (lo + hi) / 2;
    const std::uint16_t even = static_cast<std::uint16_t>((p & 1) ? p + 1 : p);
    INFO("f16 pattern " << p);
    REQUIRE(double_to_f16_bits(tie) == even);
    REQUIRE(double_to_f16_bits(std::nextafter(tie, 1e300)) == p + 1);
    REQUIRE(double_to_f16_bits(std::nextafter(tie, -1e300)) == p);
  }
  CHECK(double_to_bf16_bits(1e300) == 0x7f80);
  CHECK(double_to_bf16_bits(-1e300) == 0xff80);
  CHECK(double_to_f16_bits(1e300) == 0x7c00);
  CHECK(double_to_bf16_bits(1e-300) == 0x0000);
  CHECK(double_to_bf16_bits(-1e-300) == 0x8000);
}

TEMPLATE_TEST_CASE("element codecs round-trip every dtype", "[io][dtype]", float, double) {
  unsigned char buf[8 * 4];
  const TestType values[4] = {TestType(1.5), TestType(-0.25), TestType(1024), TestType(0)};
  for (DType t : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64}) {
    for (int i = 0; i < 4; ++i) {
      if (t == DType::I64 && values[i] != std::floor(values[i])) continue;
      detail::encode_element<TestType>(buf, static_cast<std::size_t>(i), t, values[i]);
      CHECK(detail::decode_as<TestType>(buf, static_cast<std::size_t>(i), t) == values[i]);
    }
  }
  // little-endian byte order, independent of the host
  detail::encode_element<TestType>(buf, 0, DType::F32, TestType(1));
  CHECK(buf[0] == 0x00);
  CHECK(buf[1] == 0x00);
  CHECK(buf[2] == 0x80);
  CHECK(buf[3] == 0x3f);
  CHECK_THROWS_AS(detail::encode_element<TestType>(buf, 0, DType::I64, TestType(0.5)), std::invalid_argument);
}

TEST_CASE("finite / NaN tests work on bits", "[io][dtype]") {
  CHECK(detail::is_finite_bits(1.0));
  CHECK(detail::is_finite_bits(-0.0));
  CHECK_FALSE(detail::is_finite_bits(std::numeric_limits<double>::infinity()));
  CHECK_FALSE(detail::is_finite_bits(std::numeric_limits<double>::quiet_NaN()));
  CHECK(detail::is_nan_bits(std::numeric_limits<double>::quiet_NaN()));
  CHECK_FALSE(detail::is_nan_bits(std::numeric_limits<double>::infinity()));
}
