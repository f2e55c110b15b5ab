#ifndef SEQEDIT_IO_NPZ_HPP
#define SEQEDIT_IO_NPZ_HPP

/// \file npz.hpp
/// NumPy `.npz` archives (a ZIP file with one `<key>.npy` member per array), read with
/// libzip: stored (`np.savez`) and deflated (`np.savez_compressed`) members; Zip64
/// extra fields are libzip's business.
///
/// Decisions:
/// * Keys are member names with the `.npy` suffix removed (as numpy does); two members
///   giving the same key are an error.
/// * Zip bombs: a member is read header first (at most 10,012 bytes), then at most the
///   number of data bytes its npy header declares; memory grows only with data actually
///   delivered. A member that holds more bytes than its header declares, or whose
///   central-directory size disagrees with the header, is a format_error.
/// * libzip handles are not thread-safe: use one NpzFile per thread.

#include "error.hpp"
#include "npy.hpp"

#include <zip.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace seqedit {
namespace io {

/// A .npz archive opened for reading.
///
/// \code
/// seqedit::io::NpzFile z("stats.npz");
/// Eigen::MatrixXd S = z.read_matrix<double>("mom2.mom2");
/// \endcode
class NpzFile {
 public:
  /// Opens the archive at `path`. Throws io_error (cannot open) or format_error.
  explicit NpzFile(const std::string& path) : path_(path) {
    { detail::InputFile probe(path); }  // io_error with strerror for missing / unreadable files
    int err = 0;
    zip_t* za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!za) {
      zip_error_t ze;
      zip_error_init_with_code(&ze, err);
      const std::string msg = zip_error_strerror(&ze);
      zip_error_fini(&ze);
      throw format_error(path + ": not a valid npz (ZIP) archive: " + msg);
    }
    za_.reset(za, &zip_discard);
    index_members();
  }

  /// Opens an archive held in memory (the bytes are copied). `name` is used in messages.
  NpzFile(const char* bytes, std::size_t size, const std::string& name)
      : path_(name), mem_(std::make_shared<std::vector<char>>(bytes, bytes + size)) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t* src = zip_source_buffer_create(mem_->data(), mem_->size(), 0, &ze);
    if (!src) {
      const std::string msg = zip_error_strerror(&ze);
      zip_error_fini(&ze);
      throw format_error(name + ": cannot read the archive: " + msg);
    }
    zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!za) {
      const std::string msg = zip_error_strerror(&ze);
      zip_error_fini(&ze);
      zip_source_free(src);
      throw format_error(name + ": not a valid npz (ZIP) archive: " + msg);
    }
    zip_error_fini(&ze);
    za_.reset(za, &zip_discard);
    index_members();
  }

  /// The archive's path (or the name given to the in-memory constructor).
  const std::string& path() const { return path_; }
  /// The keys, in archive order.
  std::vector<std::string> keys() const { return keys_; }
  /// True if the archive has a member for `key`.
  bool contains(const std::string& key) const { return index_.count(key) != 0; }

  /// Reads and parses the member for `key`. Throws format_error (naming the archive and
  /// the key) for a missing key, a corrupt member, or a malformed npy image.
  NpyArray read(const std::string& key) const {
    const auto it = index_.find(key);
    if (it == index_.end()) detail::throw_npy(path_, key, "no such array in the archive");
    const zip_uint64_t idx = it->second;
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> zf(zip_fopen_index(za_.get(), idx, 0), &zip_fclose);
    if (!zf) detail::throw_npy(path_, key, std::string("cannot open the member: ") + zip_strerror(za_.get()));

    // 1. the preamble and header (bounded by numpy's header limit)
    std::vector<char> head(12 + npy_max_header_length);
    const std::size_t got = read_some(zf.get(), head.data(), head.size(), key);
    std::size_t off = 0;
    NpyArray a = detail::parse_npy_header(head.data(), got, path_, key, off);
    const std::uint64_t need = detail::npy_data_bytes(a, path_, key);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za_.get(), idx, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE) && st.size != off + need)
      detail::throw_npy(path_, key,
                        st.size > off + need
                            ? "member is larger than its npy header declares (" + std::to_string(st.size) +
                                  " bytes in the archive, header + data need " + std::to_string(off + need) + ")"
                            : "member is smaller than its npy header declares (" + std::to_string(st.size) +
                                  " bytes in the archive, header + data need " + std::to_string(off + need) + ")");
    // 2. the data: at most `need` bytes, memory grows with what actually arrives
    const std::uint64_t already = got - off;
    if (already > need)
      detail::throw_npy(path_, key, "member is larger than its npy header declares (" +
                                        std::to_string(already - need) + " extra bytes)");
    a.data.assign(head.begin() + static_cast<std::ptrdiff_t>(off), head.begin() + static_cast<std::ptrdiff_t>(got));
    std::vector<char>().swap(head);
    while (a.data.size() < need) {
      const std::size_t cur = a.data.size();
      const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(need - cur, std::uint64_t(1) << 24));
      a.data.resize(cur + chunk);
      const std::size_t k = read_some(zf.get(), a.data.data() + cur, chunk, key);
      a.data.resize(cur + k);
      if (k < chunk)
        detail::throw_npy(path_, key, "truncated npy data: shape and descr '" + a.descr + "' need " +
                                          std::to_string(need) + " bytes, " + std::to_string(a.data.size()) +
                                          " present");
    }
    char extra;
    if (read_some(zf.get(), &extra, 1, key) != 0)
      detail::throw_npy(path_, key, "member is larger than its npy header declares (more than " +
                                        std::to_string(need) + " data bytes)");
    return a;
  }

  /// Reads `key` as a matrix (see to_matrix()).
  /// \tparam Scalar float or double.
  template <typename Scalar>
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> read_matrix(const std::string& key) const {
    return to_matrix<Scalar>(read(key), detail::npy_where(path_, key));
  }

 private:
  void index_members() {
    const zip_int64_t n = zip_get_num_entries(za_.get(), 0);
    for (zip_int64_t i = 0; i < n; ++i) {
      const char* nm = zip_get_name(za_.get(), static_cast<zip_uint64_t>(i), 0);
      if (!nm) throw format_error(path_ + ": cannot read the name of archive member " + std::to_string(i));
      std::string key = nm;
      if (key.size() >= 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
      if (!index_.emplace(key, static_cast<zip_uint64_t>(i)).second)
        detail::throw_npy(path_, key, "appears twice in the archive");
      keys_.push_back(key);
    }
  }

  /// Reads up to n bytes (fewer only at the end of the member).
  std::size_t read_some(zip_file_t* zf, char* out, std::size_t n, const std::string& key) const {
    std::size_t got = 0;
    while (got < n) {
      const zip_int64_t k = zip_fread(zf, out + got, static_cast<zip_uint64_t>(n - got));
      if (k < 0) detail::throw_npy(path_, key, std::string("corrupt archive member: ") + zip_file_strerror(zf));
      if (k == 0) break;
      got += static_cast<std::size_t>(k);
    }
    return got;
  }

  std::string path_;
  std::shared_ptr<std::vector<char>> mem_;  // must outlive za_ (declared first)
  std::shared_ptr<zip_t> za_;
  std::map<std::string, zip_uint64_t> index_;
  std::vector<std::string> keys_;
};

}  // namespace io
}  // namespace seqedit

#endif  // SEQEDIT_IO_NPZ_HPP
