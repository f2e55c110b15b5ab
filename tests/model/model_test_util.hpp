// Shared helpers of the model runtime's tests: the torch fixtures and the runs built from them.
#ifndef SEQEDIT_TESTS_MODEL_TEST_UTIL_HPP
#define SEQEDIT_TESTS_MODEL_TEST_UTIL_HPP

#include <seqedit/io/safetensors.hpp>
#include <seqedit/model/model.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

namespace model_test {

using seqedit::model::Batch;
using seqedit::model::Model;
using seqedit::model::Site;

inline std::string refs_dir() {
  const char* env = std::getenv("SEQEDIT_MODEL_REFS");
  if (env && *env) return env;
  return SEQEDIT_MODEL_REFS;
}

/// The names of the generated cases (cases.txt, written last by torch_reference.py).
inline std::vector<std::string> cases() {
  std::ifstream in(refs_dir() + "/cases.txt");
  if (!in) FAIL("the torch fixtures are missing: " << refs_dir() << "/cases.txt (run the model_torch_fixtures test)");
  std::vector<std::string> out;
  for (std::string s; std::getline(in, s);)
    if (!s.empty()) out.push_back(s);
  REQUIRE(out.size() >= 6);
  return out;
}

/// The reference file of a case.
struct Ref {
  explicit Ref(const std::string& name) : file(refs_dir() + "/" + name + ".ref.safetensors"), dir(refs_dir() + "/" + name) {}
  seqedit::io::SafetensorsFile file;
  std::string dir;
  Eigen::MatrixXd get(const std::string& n) const { return file.read_matrix<double>(n); }
  bool has(const std::string& n) const { return file.contains(n); }

  Batch batch() const {
    Batch b;
    for (int p = 0; has("tokens." + std::to_string(p)); ++p) {
      const Eigen::MatrixXd t = get("tokens." + std::to_string(p));
      std::vector<std::int32_t> v;
      for (Eigen::Index i = 0; i < t.rows(); ++i) v.push_back(static_cast<std::int32_t>(t(i, 0)));
      b.prompts.push_back(v);
    }
    return b;
  }
  template <typename Scalar>
  std::vector<seqedit::model::Intervention<Scalar>> interventions() const {
    std::vector<seqedit::model::Intervention<Scalar>> out;
    for (int k = 0; has("delta." + std::to_string(k)); ++k) {
      seqedit::model::Intervention<Scalar> iv;
      iv.layer = static_cast<int>(get("delta_layer." + std::to_string(k))(0, 0));
      const Eigen::MatrixXd s = get("delta_sites." + std::to_string(k));
      for (Eigen::Index j = 0; j < s.rows(); ++j) iv.sites.push_back({static_cast<int>(s(j, 0)), static_cast<int>(s(j, 1))});
      iv.delta = get("delta." + std::to_string(k)).transpose().cast<Scalar>();
      out.push_back(iv);
    }
    return out;
  }
  template <typename Scalar>
  seqedit::model::Loss<Scalar> loss() const {
    seqedit::model::Loss<Scalar> l;
    const Eigen::MatrixXd nll = get("nll");
    for (Eigen::Index i = 0; i < nll.rows(); ++i)
      l.nll.push_back({static_cast<int>(nll(i, 0)), static_cast<int>(nll(i, 1)), static_cast<std::int32_t>(nll(i, 2)), nll(i, 3)});
    const Eigen::MatrixXd ks = get("kl_sites"), kw = get("kl_weight"), kr = get("kl_ref");
    for (Eigen::Index i = 0; i < ks.rows(); ++i)
      l.kl.push_back({static_cast<int>(ks(i, 0)), static_cast<int>(ks(i, 1)), kw(i, 0), kr.row(i).transpose().cast<Scalar>()});
    return l;
  }
};

/// Every (prompt, position) of a batch, prompt by prompt.
inline std::vector<Site> all_sites(const Batch& b) {
  std::vector<Site> s;
  for (std::size_t p = 0; p < b.prompts.size(); ++p)
    for (std::size_t t = 0; t < b.prompts[p].size(); ++t) s.push_back({static_cast<int>(p), static_cast<int>(t)});
  return s;
}

/// max |a − b| / max |b|.
template <typename A, typename B>
double rel_err(const A& a, const B& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  const Eigen::MatrixXd ad = a.template cast<double>(), bd = b.template cast<double>();
  const double s = bd.cwiseAbs().maxCoeff();
  return (ad - bd).cwiseAbs().maxCoeff() / (s > 0 ? s : 1.0);
}

template <typename Scalar>
constexpr double torch_tol() {
  return std::is_same<Scalar, double>::value ? 1e-10 : 1e-5;
}
template <typename Scalar>
const char* tag() {
  return std::is_same<Scalar, double>::value ? "f64" : "f32";
}

}  // namespace model_test

#endif
