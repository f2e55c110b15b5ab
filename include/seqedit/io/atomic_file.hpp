#ifndef SEQEDIT_IO_ATOMIC_FILE_HPP
#define SEQEDIT_IO_ATOMIC_FILE_HPP

/// \file atomic_file.hpp
/// Crash-safe replacement of a file: write a sibling temporary file, flush and fsync it,
/// rename it over the target, fsync the folder. Readers see either the old file or the
/// complete new one, never a mixture; a failure at any point leaves the old file intact
/// and removes the temporary file.
///
/// POSIX only (open/write/fsync/rename). The new file gets the permission bits of the
/// file it replaces, or 0644 for a new file.
///
/// Tests inject write failures through a seam in detail/write_fault.hpp (used by
/// tests/support/write_failure.hpp); it is not part of the public interface.

#include "detail/write_fault.hpp"
#include "error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace seqedit {
namespace io {

/// Writes a file atomically: data go to a temporary file in the target's folder, which
/// `commit()` flushes, fsyncs and renames over the target (then fsyncs the folder).
/// Destroying the writer without `commit()` removes the temporary file and leaves the
/// target untouched.
///
/// \code
/// seqedit::io::AtomicFileWriter w("out.bin");
/// w.write(bytes.data(), bytes.size());
/// w.commit();
/// \endcode
class AtomicFileWriter {
 public:
  /// Creates the temporary file `<folder>/.<name>.tmp.XXXXXX`. Throws io_error.
  explicit AtomicFileWriter(const std::string& path) : path_(path) {
    const std::string::size_type slash = path.find_last_of('/');
    dir_ = slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base.empty()) throw std::invalid_argument("seqedit::io: '" + path + "' is not a file path");
    std::string templ = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
                        "." + base + ".tmp.XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    fd_ = ::mkstemp(buf.data());
    if (fd_ < 0) detail::throw_io("cannot create a temporary file next to", path, errno);
    temp_ = buf.data();
    struct stat st;
    const mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
    if (::fchmod(fd_, mode) != 0) {
      const int err = errno;
      discard();
      detail::throw_io("cannot set the permissions of", temp_, err);
    }
    fail_after_ = detail::write_failure_budget().load();
  }

  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Removes the temporary file unless commit() succeeded.
  ~AtomicFileWriter() { discard(); }

  /// Appends `n` bytes. Throws io_error (the target stays untouched).
  void write(const void* data, std::size_t n) {
    if (fd_ < 0) throw std::logic_error("seqedit::io: write after commit or failure on '" + path_ + "'");
    if (fail_after_ >= 0 && written_ + n > static_cast<std::uint64_t>(fail_after_)) {
      discard();
      throw io_error("write to '" + temp_ + "' failed: injected failure after " +
                     std::to_string(fail_after_) + " bytes (for '" + path_ + "')");
    }
    const char* p = static_cast<const char*>(data);
    std::size_t left = n;
    while (left > 0) {
      const ::ssize_t k = ::write(fd_, p, left);
      if (k < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        discard();
        detail::throw_io("write failed for", temp_, err);
      }
      p += k;
      left -= static_cast<std::size_t>(k);
    }
    written_ += n;
  }

  /// Appends a string's bytes.
  void write(const std::string& s) { write(s.data(), s.size()); }

  /// Flushes, fsyncs, renames the temporary file over the target and fsyncs the folder.
  void commit() {
    if (fd_ < 0) throw std::logic_error("seqedit::io: commit after failure on '" + path_ + "'");
    if (::fsync(fd_) != 0) {
      const int err = errno;
      discard();
      detail::throw_io("fsync failed for", temp_, err);
    }
    if (::close(fd_) != 0) {
      const int err = errno;
      fd_ = -1;
      discard();
      detail::throw_io("close failed for", temp_, err);
    }
    fd_ = -1;
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      discard();
      detail::throw_io("cannot rename the temporary file over", path_, err);
    }
    temp_.clear();
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {  // best effort: the rename itself has happened
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }

  /// Bytes written so far.
  std::uint64_t bytes_written() const { return written_; }
  /// The target path.
  const std::string& path() const { return path_; }
  /// The temporary file's path (empty after commit or failure).
  const std::string& temp_path() const { return temp_; }

 private:
  void discard() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!temp_.empty()) {
      ::unlink(temp_.c_str());
      temp_.clear();
    }
  }

  std::string path_, dir_, temp_;
  int fd_ = -1;
  std::uint64_t written_ = 0;
  long long fail_after_ = -1;
};

/// Calls `fill(writer)` on an AtomicFileWriter for `path`, then commits it. If `fill`
/// throws, the temporary file is removed, the previous file is untouched, and the
/// exception propagates.
inline void write_file_atomically(const std::string& path,
                                  const std::function<void(AtomicFileWriter&)>& fill) {
  AtomicFileWriter w(path);
  fill(w);
  w.commit();
}

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_ATOMIC_FILE_HPP
