#ifndef SEQEDIT_TESTS_SUPPORT_WRITE_FAILURE_HPP
#define SEQEDIT_TESTS_SUPPORT_WRITE_FAILURE_HPP

/// \file write_failure.hpp
/// Fault injection for tests of failure atomicity: while a `ScopedWriteFailure fail(n)`
/// lives, every seqedit::io::AtomicFileWriter created throws io_error as soon as more than
/// `n` bytes would have been written by it (before its rename).

#include <seqedit/io/detail/write_fault.hpp>

namespace seqedit_test {

class ScopedWriteFailure {
 public:
  explicit ScopedWriteFailure(long long bytes) { seqedit::io::detail::write_failure_budget().store(bytes); }
  ~ScopedWriteFailure() { seqedit::io::detail::write_failure_budget().store(-1); }
  ScopedWriteFailure(const ScopedWriteFailure&) = delete;
  ScopedWriteFailure& operator=(const ScopedWriteFailure&) = delete;
};

}  // namespace seqedit_test

#endif  // SEQEDIT_TESTS_SUPPORT_WRITE_FAILURE_HPP
