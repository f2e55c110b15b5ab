#ifndef SEQEDIT_IO_DETAIL_WRITE_FAULT_HPP
#define SEQEDIT_IO_DETAIL_WRITE_FAULT_HPP

/// \file write_fault.hpp
/// The seam through which tests make AtomicFileWriter fail (tests/support/write_failure.hpp).
/// Not part of the public interface.

#include <atomic>

namespace seqedit {
namespace io {
namespace detail {

/// Byte budget after which every AtomicFileWriter created from then on throws io_error
/// (counted per writer, checked before the rename); negative: disabled, the default.
inline std::atomic<long long>& write_failure_budget() {
  static std::atomic<long long> budget{-1};
  return budget;
}

}  // namespace detail
}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_DETAIL_WRITE_FAULT_HPP
