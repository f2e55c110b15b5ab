#ifndef SEQEDIT_JOURNAL_HPP
#define SEQEDIT_JOURNAL_HPP

/// \file journal.hpp
/// Stable edit identifiers and the journal of applied (key, value) columns (math.md section 7).

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "detail/checks.hpp"
#include "tolerances.hpp"

namespace seqedit {

/// Identifier of one applied edit column. `editor` is a 64-bit tag drawn at random when
/// an editor is created (and kept when its state is saved and loaded); `serial` counts the
/// editor's edits from 1. Ids of another editor are rejected by name.
struct EditId {
  std::uint64_t editor = 0;
  std::uint64_t serial = 0;

  friend bool operator==(const EditId& a, const EditId& b) {
    return a.editor == b.editor && a.serial == b.serial;
  }
  friend bool operator!=(const EditId& a, const EditId& b) { return !(a == b); }
  friend bool operator<(const EditId& a, const EditId& b) {
    return a.editor != b.editor ? a.editor < b.editor : a.serial < b.serial;
  }
  friend std::ostream& operator<<(std::ostream& os, const EditId& id) {
    return os << "edit #" << id.serial << " of editor " << std::hex << id.editor << std::dec;
  }
};

}  // namespace seqedit

template <>
struct std::hash<seqedit::EditId> {
  std::size_t operator()(const seqedit::EditId& id) const noexcept {
    return std::hash<std::uint64_t>()(id.editor * 0x9E3779B97F4A7C15ULL ^ id.serial);
  }
};

namespace seqedit {

/// The (key, value) columns an editor has applied and not retracted, in order of
/// application, under their `EditId`s.
///
/// Memory: (d_k + d_v) scalars per live edit, with up to 2× capacity slack (columns are
/// stored contiguously and the capacity doubles when full).
///
/// \tparam Scalar_ `float` or `double`.
template <typename Scalar_>
class Journal {
 public:
  using Scalar = Scalar_;
  using RealScalar = typename Eigen::NumTraits<Scalar>::Real;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Index = Eigen::Index;

  Journal() = default;
  Journal(Index key_dim, Index value_dim) : keys_(key_dim, 0), values_(value_dim, 0) {}

  /// Number of live edits.
  Index size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Index key_dim() const { return keys_.rows(); }
  Index value_dim() const { return values_.rows(); }
  /// Ids of the live edits, in order of application.
  const std::vector<EditId>& ids() const { return ids_; }
  bool contains(const EditId& id) const { return index_.count(id) != 0; }
  /// Keys of the live edits (d_k × size), column j belongs to ids()[j].
  Eigen::Block<const Matrix, Eigen::Dynamic, Eigen::Dynamic, true> keys() const { return keys_.leftCols(size_); }
  /// Values of the live edits (d_v × size).
  Eigen::Block<const Matrix, Eigen::Dynamic, Eigen::Dynamic, true> values() const { return values_.leftCols(size_); }

  /// Column positions of `ids`; std::invalid_argument for an unknown, retracted, foreign
  /// or repeated id.
  std::vector<Index> locate(const std::vector<EditId>& ids, std::uint64_t editor_tag) const {
    std::vector<Index> cols;
    cols.reserve(ids.size());
    std::unordered_set<EditId> seen;
    for (const EditId& id : ids) {
      std::ostringstream os;
      if (id.editor != editor_tag) {
        os << "seqedit: " << id << " belongs to another editor (this editor is " << std::hex
           << editor_tag << ")";
        throw std::invalid_argument(os.str());
      }
      if (!seen.insert(id).second) {
        os << "seqedit: " << id << " is listed twice";
        throw std::invalid_argument(os.str());
      }
      const auto it = index_.find(id);
      if (it == index_.end()) {
        os << "seqedit: " << id << " is unknown or already retracted";
        throw std::invalid_argument(os.str());
      }
      cols.push_back(it->second);
    }
    return cols;
  }

  /// Gathers the given columns of keys (d_k × m) and values (d_v × m).
  void gather(const std::vector<Index>& cols, Matrix& k, Matrix& v) const {
    k.resize(keys_.rows(), Index(cols.size()));
    v.resize(values_.rows(), Index(cols.size()));
    for (std::size_t j = 0; j < cols.size(); ++j) {
      k.col(Index(j)) = keys_.col(cols[j]);
      v.col(Index(j)) = values_.col(cols[j]);
    }
  }

  /// Makes room for `extra` more columns (may throw std::bad_alloc; changes no content).
  void reserve_extra(Index extra) {
    const Index need = size_ + extra;
    if (need <= keys_.cols()) return;
    const Index cap = std::max(need, 2 * keys_.cols());
    Matrix nk(keys_.rows(), cap), nv(values_.rows(), cap);
    nk.leftCols(size_) = keys_.leftCols(size_);
    nv.leftCols(size_) = values_.leftCols(size_);
    keys_.swap(nk);
    values_.swap(nv);
    ids_.reserve(std::size_t(cap));
    index_.reserve(std::size_t(cap));
  }

  /// Appends columns under consecutive serials; `reserve_extra` must have been called.
  /// Strong guarantee: if inserting into the id index throws (std::bad_alloc), the columns
  /// appended so far are removed again and `next_serial` is restored.
  std::vector<EditId> append(const Eigen::Ref<const Matrix>& k, const Eigen::Ref<const Matrix>& v,
                             std::uint64_t editor_tag, std::uint64_t& next_serial) {
    reserve_extra(k.cols());
    std::vector<EditId> out;
    out.reserve(std::size_t(k.cols()));
    const Index size0 = size_;
    const std::uint64_t serial0 = next_serial;
    try {
      for (Index j = 0; j < k.cols(); ++j) {
        const EditId id{editor_tag, next_serial};
        keys_.col(size_) = k.col(j);
        values_.col(size_) = v.col(j);
        index_.emplace(id, size_);
        ids_.push_back(id);  // capacity reserved: cannot throw
        ++next_serial;
        ++size_;
        out.push_back(id);
      }
    } catch (...) {
      for (Index j = size0; j < size_; ++j) index_.erase(ids_[std::size_t(j)]);
      ids_.resize(std::size_t(size0));
      size_ = size0;
      next_serial = serial0;
      throw;
    }
    return out;
  }

  /// Appends one column under a given id (used when restoring a saved state).
  void restore(const EditId& id, const Eigen::Ref<const Matrix>& k,
               const Eigen::Ref<const Matrix>& v) {
    reserve_extra(1);
    keys_.col(size_) = k;
    values_.col(size_) = v;
    index_.emplace(id, size_);
    ids_.push_back(id);
    ++size_;
  }

  /// Removes the given columns, keeping the order of the others.
  void erase(const std::vector<Index>& cols) {
    std::vector<Index> sorted = cols;
    std::sort(sorted.begin(), sorted.end());
    erase_sorted(sorted);
  }

  /// Removes the given columns (ascending, distinct), keeping the order of the others.
  /// Allocates nothing and cannot throw.
  void erase_sorted(const std::vector<Index>& sorted_cols) noexcept {
    std::size_t next = 0;
    Index w = 0;
    for (Index r = 0; r < size_; ++r) {
      if (next < sorted_cols.size() && sorted_cols[next] == r) {
        ++next;
        index_.erase(ids_[std::size_t(r)]);
        continue;
      }
      if (w != r) {
        keys_.col(w) = keys_.col(r);
        values_.col(w) = values_.col(r);
        ids_[std::size_t(w)] = ids_[std::size_t(r)];
        index_.find(ids_[std::size_t(w)])->second = w;
      }
      ++w;
    }
    ids_.resize(std::size_t(w));
    size_ = w;
  }

  /// For each column k of `k`, the ids of the journal entries whose key matches it:
  /// ‖k_j − k‖₂ ≤ tol · max(‖k_j‖₂, ‖k‖₂); tol = 0 means bit-for-bit equal.
  /// Cost: one GEMM (size × n × d_k) to screen candidates, then an exact check of each.
  std::vector<std::vector<EditId>> matches(const Eigen::Ref<const Matrix>& k,
                                           RealScalar tol = RealScalar(0)) const {
    detail::check_rows(k, keys_.rows(), "K", "d_k of the journal");
    detail::check_finite(k, "K");
    if (!(tol >= RealScalar(0))) throw std::invalid_argument("seqedit: tolerance must be >= 0");
    std::vector<std::vector<EditId>> out(std::size_t(k.cols()));
    if (size_ == 0 || k.cols() == 0) return out;
    const auto jk = keys();
    const Matrix gram = jk.transpose() * k;  // size x n
    const auto jn2 = jk.colwise().squaredNorm();
    const auto kn2 = k.colwise().squaredNorm();
    const RealScalar slack = tolerances::key_match_slack<RealScalar>(keys_.rows());
    for (Index c = 0; c < k.cols(); ++c) {
      for (Index j = 0; j < size_; ++j) {
        const RealScalar scale2 = std::max(jn2(j), kn2(c));
        const RealScalar d2 = jn2(j) + kn2(c) - RealScalar(2) * gram(j, c);
        if (d2 > (tol * tol + slack) * scale2 + slack * (jn2(j) + kn2(c))) continue;
        const RealScalar exact2 = (jk.col(j) - k.col(c)).squaredNorm();
        if (exact2 <= tol * tol * scale2) out[std::size_t(c)].push_back(ids_[std::size_t(j)]);
      }
    }
    return out;
  }

 private:
  Matrix keys_;
  Matrix values_;
  Index size_ = 0;
  std::vector<EditId> ids_;
  std::unordered_map<EditId, Index> index_;
};

}  // namespace seqedit

#endif  // SEQEDIT_JOURNAL_HPP
