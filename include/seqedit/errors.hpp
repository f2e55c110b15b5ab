#ifndef SEQEDIT_ERRORS_HPP
#define SEQEDIT_ERRORS_HPP

/// \file errors.hpp
/// Exceptions thrown by seqedit.
///
/// * `std::invalid_argument`: wrong sizes, NaN/Inf in inputs, parameters out of range,
///   unknown edit identifiers. The message names the argument and the sizes involved.
/// * `std::logic_error`: a call the editor's configuration does not allow
///   (e.g. retraction with `History::LatestOnly`).
/// * `seqedit::numerical_error`: the data make the problem singular or indefinite
///   (e.g. λ = α = 0 with P = I and fewer edits than d_k, or a downdate that would make
///   A_t lose definiteness). The object that threw is left unchanged.

#include <stdexcept>
#include <string>

namespace seqedit {

/// A linear system of the problem is singular, indefinite, or too ill-conditioned
/// to be solved in the working precision.
class numerical_error : public std::runtime_error {
 public:
  explicit numerical_error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace seqedit

#endif  // SEQEDIT_ERRORS_HPP
