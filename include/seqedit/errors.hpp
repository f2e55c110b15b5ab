#ifndef SEQEDIT_ERRORS_HPP
#define SEQEDIT_ERRORS_HPP

/// \file errors.hpp
/// Exceptions thrown by seqedit.
///
/// * `std::invalid_argument`: wrong sizes, NaN/Inf in inputs, parameters out of range,
///   unknown edit identifiers. The message names the argument and the sizes involved.
/// * `std::logic_error`: a call the editor's configuration does not allow
///   (e.g. retraction with `History::LatestOnly`).
/// * `seqedit::error`: the common base of the library's own failures, derived from
///   `std::runtime_error` (so code catching `std::runtime_error` still catches them):
///   - `seqedit::numerical_error`: the data make the problem singular or indefinite
///     (e.g. λ = α = 0 with P = I and fewer edits than d_k, or a downdate that would make
///     A_t lose definiteness). The object that threw is left unchanged.
///   - `seqedit::io::format_error` and `seqedit::io::io_error` (io/error.hpp): malformed
///     files and operating-system failures of the loader.
///
/// Catching `const seqedit::error&` catches every failure that is not a misuse of the API
/// (misuse stays `std::invalid_argument` / `std::logic_error`, as in the standard library).

#include <stdexcept>
#include <string>

namespace seqedit {

/// Base of every exception seqedit defines (numerical_error, io::format_error,
/// io::io_error). Derives from std::runtime_error.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

/// A linear system of the problem is singular, indefinite, or too ill-conditioned
/// to be solved in the working precision.
class numerical_error : public error {
 public:
  explicit numerical_error(const std::string& what) : error(what) {}
};

}  // namespace seqedit

#endif  // SEQEDIT_ERRORS_HPP
