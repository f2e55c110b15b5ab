#ifndef SEQEDIT_PROGRESS_HPP
#define SEQEDIT_PROGRESS_HPP

/// \file progress.hpp
/// Progress reports for long computations (projector, factorisations).

#include <functional>
#include <string>

namespace seqedit {

/// Called with a stage name and the fraction of the whole computation done (0 … 1).
/// An empty function reports nothing. Callbacks must not throw.
using ProgressCallback = std::function<void(const std::string& stage, double fraction)>;

namespace detail {
inline void report(const ProgressCallback& cb, const char* stage, double fraction) {
  if (cb) cb(stage, fraction);
}
}  // namespace detail

}  // namespace seqedit

#endif  // SEQEDIT_PROGRESS_HPP
