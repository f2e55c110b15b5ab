// Helpers shared by the loader's tests: temporary folders, byte files, fuzz seeds.
#ifndef SEQEDIT_TESTS_IO_TEST_UTIL_HPP
#define SEQEDIT_TESTS_IO_TEST_UTIL_HPP

#include <seqedit/io/dtype.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace iotest {

namespace fs = std::filesystem;

/// A fresh folder under the system's temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("seqedit-io-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Files of a folder other than `except` (to find leftover temporary files).
inline std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

/// With SEQEDIT_IO_WRITE_CORPUS=<dir> set, also stores `bytes` as a fuzz seed
/// <dir>/<target>/<name> (used to refresh tests/fuzz/corpus).
inline void save_seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const char* dir = std::getenv("SEQEDIT_IO_WRITE_CORPUS");
  if (!dir || !*dir) return;
  const fs::path d = fs::path(dir) / target;
  fs::create_directories(d);
  write_bytes((d / name).string(), bytes);
}

/// u64 little-endian as 8 bytes.
inline std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  seqedit::io::detail::store_le64(reinterpret_cast<unsigned char*>(&s[0]), v);
  return s;
}

/// A safetensors image from a header text and a data buffer.
inline std::string safetensors_image(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

/// An npy v1.0 image from a header dict text (padded to 64) and data.
inline std::string npy_image(std::string dict, const std::string& data, int major = 1) {
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + dict.size() + 1) % 64 != 0) dict.push_back(' ');
  dict.push_back('\n');
  std::string s("\x93NUMPY", 6);
  s.push_back(static_cast<char>(major));
  s.push_back('\0');
  if (major == 1) {
    s.push_back(static_cast<char>(dict.size() & 0xff));
    s.push_back(static_cast<char>(dict.size() >> 8));
  } else {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((dict.size() >> (8 * i)) & 0xff));
  }
  return s + dict + data;
}

/// Little-endian bytes of doubles.
inline std::string f8_bytes(const std::vector<double>& v) {
  std::string s(8 * v.size(), '\0');
  for (std::size_t i = 0; i < v.size(); ++i)
    seqedit::io::detail::encode_element<double>(reinterpret_cast<unsigned char*>(&s[0]), i, seqedit::io::DType::F64, v[i]);
  return s;
}

/// Little-endian bytes of int64s.
inline std::string i8_bytes(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::int64_t x : v) s += le64(static_cast<std::uint64_t>(x));
  return s;
}

}  // namespace iotest

#endif
