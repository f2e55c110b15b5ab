#ifndef SEQEDIT_IO_ERROR_HPP
#define SEQEDIT_IO_ERROR_HPP

/// \file error.hpp
/// Exceptions thrown by the seqedit file-format loader (`seqedit::io`).
///
/// * `seqedit::io::format_error`: the content of a file is malformed, unsupported or
///   inconsistent. The message always starts with the file's path, then names the
///   tensor / key concerned, then says what was wrong:
///   `"model.safetensors: tensor 'h.0.mlp.c_proj.weight': invalid offset ..."`.
/// * `seqedit::io::io_error`: the operating system refused an operation (open, read,
///   write, fsync, rename); the message names the path and carries `strerror(errno)`.
/// * Both derive from `seqedit::error` (errors.hpp), itself a `std::runtime_error`.
/// * `std::invalid_argument`: the caller asked for something impossible with a valid
///   file (a matrix of the wrong shape, a 3-D tensor as a matrix, an unknown tensor).

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../errors.hpp"

namespace seqedit {
namespace io {

/// Malformed, unsupported or inconsistent file content.
class format_error : public seqedit::error {
 public:
  explicit format_error(const std::string& what) : seqedit::error(what) {}
};

/// An operating-system level failure (open, read, write, fsync, rename).
class io_error : public seqedit::error {
 public:
  explicit io_error(const std::string& what) : seqedit::error(what) {}
};

namespace detail {

/// "path: tensor 'name': what" (or "path: what" when `tensor` is empty).
inline std::string format_message(const std::string& path, const std::string& kind,
                                  const std::string& tensor, const std::string& what) {
  std::string msg = path + ": ";
  if (!tensor.empty()) msg += kind + " '" + tensor + "': ";
  msg += what;
  return msg;
}

/// Throws format_error with the message "path: tensor 'name': what".
[[noreturn]] inline void throw_format(const std::string& path, const std::string& tensor,
                                      const std::string& what) {
  throw format_error(format_message(path, "tensor", tensor, what));
}

/// Throws format_error with the message "path: key 'name': what" (npy / npz / json keys).
[[noreturn]] inline void throw_format_key(const std::string& path, const std::string& key,
                                          const std::string& what) {
  throw format_error(format_message(path, "key", key, what));
}

/// Throws io_error "what 'path': strerror(err)".
[[noreturn]] inline void throw_io(const std::string& what, const std::string& path, int err) {
  throw io_error(what + " '" + path + "': " + std::strerror(err));
}

}  // namespace detail
}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_ERROR_HPP
