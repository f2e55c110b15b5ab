// Retention statistics: exact fixed-point accumulation of Σ k kᵀ and MEMIT's npz
// (pipeline.md §7).

#include "seqedit/facts/stats.hpp"

#include "seqedit/io/atomic_file.hpp"
#include "seqedit/io/error.hpp"
#include "seqedit/io/npz.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace seqedit {
namespace facts {

namespace {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

constexpr int frac_bits = 64;  // grid 2^-64
// |entry| of one Gram matrix, and of the accumulator, must stay below 2^62 (so that 2^126 in
// fixed point leaves one bit of headroom per addition before the overflow check).
constexpr double max_entry = 4611686018427387904.0;  // 2^62

i128 to_fixed(double x) {
  const double y = std::ldexp(x, frac_bits);  // exact: a power-of-two scaling
  const double r = std::nearbyint(y);         // round half to even, once
  if (std::fabs(r) < 9007199254740992.0) return static_cast<i128>(static_cast<std::int64_t>(r));
  int e = 0;
  const double f = std::frexp(r, &e);  // r = f · 2^e, 0.5 ≤ |f| < 1, e ≥ 54
  const std::int64_t m = static_cast<std::int64_t>(std::ldexp(f, 53));
  const int shift = e - 53;
  const u128 mag = static_cast<u128>(m < 0 ? -m : m) << shift;
  return m < 0 ? -static_cast<i128>(mag) : static_cast<i128>(mag);
}

double from_fixed(i128 v) {
  // Correctly rounded conversion (libgcc's __floattidf), then an exact scaling.
  return std::ldexp(static_cast<double>(v), -frac_bits);
}

i128 load(const std::vector<std::int64_t>& w, std::size_t i) {
  const u128 hi = static_cast<u128>(static_cast<std::uint64_t>(w[2 * i]));
  const u128 lo = static_cast<u128>(static_cast<std::uint64_t>(w[2 * i + 1]));
  return static_cast<i128>((hi << 64) | lo);
}

void store(std::vector<std::int64_t>& w, std::size_t i, i128 v) {
  const u128 u = static_cast<u128>(v);
  w[2 * i] = static_cast<std::int64_t>(static_cast<std::uint64_t>(u >> 64));
  w[2 * i + 1] = static_cast<std::int64_t>(static_cast<std::uint64_t>(u));
}

const i128 limit = static_cast<i128>(static_cast<u128>(1) << 126);

i128 checked_add(i128 a, i128 b) {
  const i128 s = a + b;  // |a|, |b| < 2^126: no overflow of the 128-bit type
  if (s >= limit || s <= -limit)
    throw std::invalid_argument("SecondMoment: an entry of the sum exceeds 2^62 (the accumulator's range)");
  return s;
}

std::size_t packed_size(Eigen::Index d) { return static_cast<std::size_t>(d) * static_cast<std::size_t>(d + 1) / 2; }

}  // namespace

SecondMoment::SecondMoment(Eigen::Index d_k) : d_(d_k) {
  if (d_k < 1) throw std::invalid_argument("SecondMoment: d_k is " + std::to_string(d_k) + "; it must be >= 1");
  words_.assign(2 * packed_size(d_k), 0);
}

void SecondMoment::add_gram(const Eigen::MatrixXd& g) {
  std::size_t i = 0;
  for (Eigen::Index c = 0; c < d_; ++c)
    for (Eigen::Index r = 0; r <= c; ++r, ++i) {
      const double x = g(r, c);
      if (!(std::fabs(x) < max_entry))
        throw std::invalid_argument("SecondMoment: entry (" + std::to_string(r) + ", " + std::to_string(c) +
                                    ") of a text's Gram matrix is " + std::to_string(x) +
                                    " (non-finite or beyond 2^62)");
      store(words_, i, checked_add(load(words_, i), to_fixed(x)));
    }
}

void SecondMoment::add(const Eigen::Ref<const Eigen::MatrixXd>& keys, std::int64_t texts) {
  if (d_ == 0) throw std::logic_error("SecondMoment::add on an accumulator without a dimension");
  if (keys.rows() != d_)
    throw std::invalid_argument("SecondMoment::add: keys have " + std::to_string(keys.rows()) +
                                " rows, the accumulator has d_k = " + std::to_string(d_));
  if (texts < 0) throw std::invalid_argument("SecondMoment::add: texts is negative");
  if (!keys.allFinite()) throw std::invalid_argument("SecondMoment::add: a key is NaN or infinite");
  if (keys.cols() > 0) {
    Eigen::MatrixXd g = Eigen::MatrixXd::Zero(d_, d_);
    g.selfadjointView<Eigen::Upper>().rankUpdate(keys);
    add_gram(g);
  }
  count_ += static_cast<std::int64_t>(keys.cols());
  samples_ += texts;
}

void SecondMoment::add(const Eigen::Ref<const Eigen::MatrixXf>& keys, std::int64_t texts) {
  const Eigen::MatrixXd k = keys.cast<double>();
  add(k, texts);
}

void SecondMoment::merge(const SecondMoment& o) {
  if (o.d_ != d_)
    throw std::invalid_argument("SecondMoment::merge: d_k " + std::to_string(o.d_) + " into d_k " + std::to_string(d_));
  const std::size_t n = packed_size(d_);
  for (std::size_t i = 0; i < n; ++i) store(words_, i, checked_add(load(words_, i), load(o.words_, i)));
  count_ += o.count_;
  samples_ += o.samples_;
}

Eigen::MatrixXd SecondMoment::sum() const {
  Eigen::MatrixXd s(d_, d_);
  std::size_t i = 0;
  for (Eigen::Index c = 0; c < d_; ++c)
    for (Eigen::Index r = 0; r <= c; ++r, ++i) s(r, c) = s(c, r) = from_fixed(load(words_, i));
  return s;
}

Eigen::MatrixXd SecondMoment::second_moment() const {
  if (count_ == 0) throw std::logic_error("SecondMoment::second_moment: no tokens were accumulated");
  return sum() / static_cast<double>(count_);
}

bool SecondMoment::operator==(const SecondMoment& o) const {
  return d_ == o.d_ && count_ == o.count_ && samples_ == o.samples_ && words_ == o.words_;
}

SecondMoment SecondMoment::from_words(Eigen::Index d_k, std::vector<std::int64_t> words, std::int64_t count,
                                      std::int64_t samples) {
  SecondMoment m(d_k);
  if (words.size() != m.words_.size())
    throw std::invalid_argument("SecondMoment::from_words: " + std::to_string(words.size()) + " words for d_k " +
                                std::to_string(d_k) + " (need " + std::to_string(m.words_.size()) + ")");
  for (std::size_t i = 0; i < packed_size(d_k); ++i) {
    const i128 v = load(words, i);
    if (v >= limit || v <= -limit) throw std::invalid_argument("SecondMoment::from_words: an entry is out of range");
  }
  if (count < 0 || samples < 0) throw std::invalid_argument("SecondMoment::from_words: negative count");
  m.words_ = std::move(words);
  m.count_ = count;
  m.samples_ = samples;
  return m;
}

SecondMoment SecondMoment::from_sum(const Eigen::Ref<const Eigen::MatrixXd>& s, std::int64_t count,
                                    std::int64_t samples) {
  if (s.rows() != s.cols() || s.rows() < 1)
    throw std::invalid_argument("SecondMoment::from_sum: the sum is " + std::to_string(s.rows()) + " x " +
                                std::to_string(s.cols()) + ", not a non-empty square matrix");
  SecondMoment m(s.rows());
  std::size_t i = 0;
  for (Eigen::Index c = 0; c < s.cols(); ++c)
    for (Eigen::Index r = 0; r <= c; ++r, ++i) {
      const double x = s(r, c);
      if (!(std::fabs(x) < max_entry))
        throw std::invalid_argument("SecondMoment::from_sum: entry (" + std::to_string(r) + ", " + std::to_string(c) +
                                    ") is " + std::to_string(x));
      if (x != s(c, r))
        throw std::invalid_argument("SecondMoment::from_sum: the sum is not symmetric at (" + std::to_string(r) +
                                    ", " + std::to_string(c) + ")");
      store(m.words_, i, to_fixed(x));
    }
  if (count < 0 || samples < 0) throw std::invalid_argument("SecondMoment::from_sum: negative count");
  m.count_ = count;
  m.samples_ = samples;
  return m;
}

std::string mom2_file_name(const std::string& module, const std::string& dtype, std::int64_t samples) {
  return module + "_" + dtype + "_mom2_" + std::to_string(samples) + ".npz";
}

// ------------------------------------------------------------------------- npz writing

namespace {

std::uint32_t crc32(const std::string& data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}

/// An .npy image (v1.0) with the given descr and shape ("()" / "(3, 4)") and raw data.
std::string npy_image(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  put16(out, static_cast<std::uint32_t>(header.size()));
  return out + header + data;
}

std::string le64(std::int64_t v) {
  std::string s(8, '\0');
  const std::uint64_t u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((u >> (8 * i)) & 0xFF);
  return s;
}

std::string f64_matrix(const Eigen::MatrixXd& m) {  // C order
  std::string s;
  s.reserve(static_cast<std::size_t>(m.size()) * 8);
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c) {
      std::uint64_t u;
      const double x = m(r, c);
      std::memcpy(&u, &x, 8);
      s += le64(static_cast<std::int64_t>(u));
    }
  return s;
}

std::string utf32_string(const std::string& ascii) {
  std::string s;
  for (char ch : ascii) {
    s.push_back(ch);
    s.append(3, '\0');
  }
  return s;
}

/// A stored (uncompressed) ZIP archive of the members, in order; fixed timestamps, so the
/// same content gives the same bytes.
std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& members) {
  std::string body, central;
  const std::uint32_t dos_time = 0, dos_date = (0u << 9) | (1u << 5) | 1u;  // 1980-01-01
  for (const auto& m : members) {
    if (m.second.size() >= 0xFFFFFFFFull || body.size() + m.second.size() + 100 >= 0xFFFFFFFFull)
      throw std::invalid_argument("write_mom2_npz: member '" + m.first +
                                  "' would exceed 4 GiB (Zip64 is not written)");
    const std::uint32_t crc = crc32(m.second);
    const std::uint32_t offset = static_cast<std::uint32_t>(body.size());
    const std::uint32_t size = static_cast<std::uint32_t>(m.second.size());
    std::string local;
    put32(local, 0x04034b50);
    put16(local, 20);
    put16(local, 0);
    put16(local, 0);
    put16(local, dos_time);
    put16(local, dos_date);
    put32(local, crc);
    put32(local, size);
    put32(local, size);
    put16(local, static_cast<std::uint32_t>(m.first.size()));
    put16(local, 0);
    body += local + m.first + m.second;
    put32(central, 0x02014b50);
    put16(central, 20);
    put16(central, 20);
    put16(central, 0);
    put16(central, 0);
    put16(central, dos_time);
    put16(central, dos_date);
    put32(central, crc);
    put32(central, size);
    put32(central, size);
    put16(central, static_cast<std::uint32_t>(m.first.size()));
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put32(central, 0);
    put32(central, offset);
    central += m.first;
  }
  std::string end;
  put32(end, 0x06054b50);
  put16(end, 0);
  put16(end, 0);
  put16(end, static_cast<std::uint32_t>(members.size()));
  put16(end, static_cast<std::uint32_t>(members.size()));
  put32(end, static_cast<std::uint32_t>(central.size()));
  put32(end, static_cast<std::uint32_t>(body.size()));
  put16(end, 0);
  return body + central + end;
}

std::int64_t scalar_i64(const io::NpzFile& z, const std::string& key) {
  const io::NpyArray a = z.read(key);
  const std::string where = z.path() + ": key '" + key + "'";
  if (!(a.shape.empty() || (a.shape.size() == 1 && a.shape[0] == 1)))
    throw io::format_error(where + ": must be a scalar");
  if (!a.numeric) throw io::format_error(where + ": dtype '" + a.descr + "' is not a number");
  const Eigen::MatrixXd v = io::to_matrix<double>(a, where);
  const double x = v(0, 0);
  if (!std::isfinite(x) || x != std::floor(x) || x < 0 || x > 9.0e15)
    throw io::format_error(where + ": " + std::to_string(x) + " is not a non-negative integer");
  return static_cast<std::int64_t>(x);
}

}  // namespace

void write_mom2_npz(const std::string& path, const SecondMoment& m,
                    const std::vector<std::pair<std::string, std::int64_t>>& extra_i64) {
  if (m.dim() < 1) throw std::invalid_argument("write_mom2_npz: empty accumulator for '" + path + "'");
  const std::string d = std::to_string(m.dim());
  const std::string ctor = "util.runningstats.SecondMoment()";
  std::string exact;
  exact.reserve(m.words().size() * 8);
  for (std::int64_t w : m.words()) exact += le64(w);
  std::vector<std::pair<std::string, std::string>> members{
      {"mom2.constructor.npy", npy_image("<U" + std::to_string(ctor.size()), "()", utf32_string(ctor))},
      {"mom2.count.npy", npy_image("<i8", "()", le64(m.count()))},
      {"mom2.mom2.npy", npy_image("<f8", "(" + d + ", " + d + ")", f64_matrix(m.sum()))},
      {"sample_size.npy", npy_image("<i8", "()", le64(m.samples()))},
      {"seqedit.mom2_exact.npy", npy_image("<i8", "(" + std::to_string(m.words().size() / 2) + ", 2)", exact)}};
  for (const auto& e : extra_i64) {
    if (e.first.rfind("seqedit.", 0) != 0 || e.first == "seqedit.mom2_exact")
      throw std::invalid_argument("write_mom2_npz: extra key '" + e.first + "' must start with 'seqedit.'");
    members.push_back({e.first + ".npy", npy_image("<i8", "()", le64(e.second))});
  }
  const std::string bytes = zip_stored(members);
  io::write_file_atomically(path, [&](io::AtomicFileWriter& w) { w.write(bytes); });
}

SecondMoment read_mom2_npz(const std::string& path) {
  io::NpzFile z(path);
  for (const char* k : {"mom2.mom2", "mom2.count"})
    if (!z.contains(k))
      throw io::format_error(path + ": key '" + std::string(k) +
                             "' missing: a MEMIT statistics file has 'mom2.mom2' and 'mom2.count'");
  const std::int64_t count = scalar_i64(z, "mom2.count");
  const std::int64_t samples = z.contains("sample_size") ? scalar_i64(z, "sample_size") : 0;
  const io::NpyArray mom = z.read("mom2.mom2");
  if (mom.shape.size() != 2 || mom.shape[0] != mom.shape[1])
    throw io::format_error(path + ": key 'mom2.mom2': must be a square matrix");
  const Eigen::Index d = static_cast<Eigen::Index>(mom.shape[0]);
  if (d < 1) throw io::format_error(path + ": key 'mom2.mom2': is empty");
  if (z.contains("seqedit.mom2_exact")) {
    const io::NpyArray ex = z.read("seqedit.mom2_exact");
    const std::string where = path + ": key 'seqedit.mom2_exact'";
    const std::int64_t n = static_cast<std::int64_t>(d) * (d + 1) / 2;
    if (ex.descr != "<i8" || ex.fortran_order || ex.shape.size() != 2 || ex.shape[0] != n || ex.shape[1] != 2 ||
        ex.data.size() != static_cast<std::size_t>(n) * 16)
      throw io::format_error(where + ": must be <i8 of shape (" + std::to_string(n) + ", 2) for d_k " +
                             std::to_string(d));
    std::vector<std::int64_t> words(static_cast<std::size_t>(2 * n));
    for (std::size_t i = 0; i < words.size(); ++i) {
      std::uint64_t u = 0;
      for (int b = 7; b >= 0; --b) u = (u << 8) | static_cast<unsigned char>(ex.data[8 * i + static_cast<std::size_t>(b)]);
      words[i] = static_cast<std::int64_t>(u);
    }
    try {
      SecondMoment m = SecondMoment::from_words(d, std::move(words), count, samples);
      // the float sum must be the accumulator rounded: a file edited by hand is refused
      const Eigen::MatrixXd stored = io::to_matrix<double>(mom, path + ": key 'mom2.mom2'");
      if (!(stored.array() == m.sum().array()).all())
        throw io::format_error(path + ": 'mom2.mom2' disagrees with 'seqedit.mom2_exact'");
      return m;
    } catch (const std::invalid_argument& e) {
      throw io::format_error(where + ": " + e.what());
    }
  }
  const Eigen::MatrixXd s = io::to_matrix<double>(mom, path + ": key 'mom2.mom2'");
  try {
    return SecondMoment::from_sum(s, count, samples);
  } catch (const std::invalid_argument& e) {
    throw io::format_error(path + ": key 'mom2.mom2': " + e.what());
  }
}

std::int64_t read_npz_i64(const std::string& path, const std::string& key, std::int64_t fallback) {
  io::NpzFile z(path);
  return z.contains(key) ? scalar_i64(z, key) : fallback;
}

SecondMoment merge_mom2_files(const std::vector<std::string>& paths) {
  if (paths.empty()) throw std::invalid_argument("merge_mom2_files: no input files");
  SecondMoment total = read_mom2_npz(paths[0]);
  for (std::size_t i = 1; i < paths.size(); ++i) {
    const SecondMoment m = read_mom2_npz(paths[i]);
    if (m.dim() != total.dim())
      throw io::format_error(paths[i] + ": d_k is " + std::to_string(m.dim()) + " but " + paths[0] + " has " +
                             std::to_string(total.dim()));
    total.merge(m);
  }
  return total;
}

}  // namespace facts
}  // namespace seqedit
