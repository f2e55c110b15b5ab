#ifndef SEQEDIT_IO_DETAIL_FILE_HPP
#define SEQEDIT_IO_DETAIL_FILE_HPP

/// \file detail/file.hpp
/// A read-only file handle with positioned, bounds-checked reads (POSIX pread).

#include "../error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

namespace seqedit {
namespace io {
namespace detail {

/// Owns a file descriptor opened read-only; every read checks it got all bytes.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw_io("cannot open", path, errno);
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      ::close(fd_);
      throw_io("cannot stat", path, err);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw io_error("cannot read '" + path + "': not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  /// Reads exactly `n` bytes at `offset` into `out`; throws if the file is shorter.
  void read_at(std::uint64_t offset, void* out, std::size_t n) const {
    char* p = static_cast<char*>(out);
    while (n > 0) {
      const std::size_t chunk = n < (std::size_t(1) << 30) ? n : (std::size_t(1) << 30);
      const ::ssize_t k = ::pread(fd_, p, chunk, static_cast<off_t>(offset));
      if (k < 0) {
        if (errno == EINTR) continue;
        throw_io("read failed for", path_, errno);
      }
      if (k == 0)
        throw io_error("read failed for '" + path_ + "': unexpected end of file at byte " +
                       std::to_string(offset) + " (was the file changed while reading?)");
      p += k;
      n -= static_cast<std::size_t>(k);
      offset += static_cast<std::uint64_t>(k);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// Reads a whole file (for small files such as JSON configs and npy/npz files).
inline std::vector<char> read_whole_file(const std::string& path, std::uint64_t max_bytes) {
  InputFile f(path);
  if (f.size() > max_bytes)
    throw format_error(path + ": file is " + std::to_string(f.size()) +
                       " bytes, more than the limit of " + std::to_string(max_bytes));
  std::vector<char> buf(static_cast<std::size_t>(f.size()));
  f.read_at(0, buf.data(), buf.size());
  return buf;
}

}  // namespace detail
}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_DETAIL_FILE_HPP
