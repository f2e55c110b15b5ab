#include "methods.hpp"

#include <cerrno>
#include <cmath>

namespace seqedit_cli {

const std::vector<MethodSpec>& method_table() {
  using seqedit::Compensation;
  static const std::vector<MethodSpec> table = {
      {"memit", "MEMIT: least squares with retention weight lambda on the statistics C0", 15000, 0, false, 0,
       RegulariserKind::None, 0, Compensation::None},
      {"alphaedit", "AlphaEdit: edits confined to the null space of C0 (eigenvalues below --threshold)", 0, 10, true,
       2e-2, RegulariserKind::None, 0, Compensation::None},
      {"memit-prune", "MEMIT with PRUNE (large singular values of each update capped), error-compensated", 15000, 1,
       false, 0, RegulariserKind::Prune, 0, Compensation::Analytic},
      {"memit-rect", "MEMIT with RECT (only the top --p of relative changes kept), error-compensated", 15000, 1, false,
       0, RegulariserKind::Rect, 0.2, Compensation::Analytic},
  };
  return table;
}

std::string method_names(const char* separator) {
  std::string out;
  for (const MethodSpec& m : method_table()) out += (out.empty() ? "" : separator) + std::string(m.name);
  return out;
}

const MethodSpec& find_method(const std::string& name) {
  for (const MethodSpec& m : method_table())
    if (name == m.name) return m;
  throw cli_error("unknown method '" + name + "' (known: " + method_names(", ") + ")");
}

seqedit::Compensation parse_compensation(const std::string& name) {
  if (name == "none") return seqedit::Compensation::None;
  if (name == "analytic") return seqedit::Compensation::Analytic;
  throw cli_error("--compensation '" + name + "' is not none or analytic");
}

namespace {

/// The shortest decimal that reads back as the same double ("0.2", not "0.20000000000000001").
std::string fmt_exact(double x) {
  std::string s;
  for (int precision = 6; precision <= 17; ++precision) {
    s = fmt_real(x, precision);
    if (std::strtod(s.c_str(), nullptr) == x) break;
  }
  return s;
}

std::string defaults_of(double MethodSpec::*field, bool (*applies)(const MethodSpec&)) {
  std::string out;
  for (const MethodSpec& m : method_table()) {
    if (applies && !applies(m)) continue;
    out += (out.empty() ? "" : ", ") + std::string(m.name) + " " + fmt_real(m.*field);
  }
  return out;
}

std::string compensation_defaults() {
  std::string analytic;
  for (const MethodSpec& m : method_table())
    if (m.compensation == seqedit::Compensation::Analytic) analytic += (analytic.empty() ? "" : ", ") + std::string(m.name);
  return "none | analytic (default: analytic for " + analytic + ", else none)";
}

std::string method_help() {
  std::string out = method_names() + ":";
  for (const MethodSpec& m : method_table()) out += "\n  " + std::string(m.name) + ": " + m.summary;
  return out;
}

void check_applicable(const MethodArgs& a, const MethodSpec& spec) {
  if (a.given(a.threshold_opt) && !spec.projector) throw cli_error("--threshold applies to --method alphaedit only");
  if (a.given(a.p_opt) && spec.regulariser != RegulariserKind::Rect)
    throw cli_error("--p applies to --method memit-rect only");
}

double meta_real(const seqedit::io::EditorStateInfo& info, const std::string& key, double dflt) {
  const auto it = info.extra_metadata.find(key);
  if (it == info.extra_metadata.end()) return dflt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || errno != 0 || end != it->second.c_str() + it->second.size() || !std::isfinite(v))
    throw cli_error(info.path + ": metadata '" + key + "' = '" + it->second + "' is not a number");
  return v;
}

}  // namespace

void add_method_options(CLI::App& app, MethodArgs& a) {
  app.add_option("--method", a.method, method_help())->required();
  a.lambda_opt = app.add_option("--lambda", a.lambda,
                                "Retention weight lambda (default: " + defaults_of(&MethodSpec::lambda, nullptr) + ")");
  a.alpha_opt =
      app.add_option("--alpha", a.alpha, "Ridge weight alpha (default: " + defaults_of(&MethodSpec::alpha, nullptr) + ")");
  a.threshold_opt = app.add_option(
      "--threshold", a.threshold,
      "Eigenvalue threshold of the null-space projector (default: " +
          defaults_of(&MethodSpec::threshold, [](const MethodSpec& m) { return m.projector; }) + ")");
  a.p_opt = app.add_option(
      "--p", a.p,
      "Ratio of entries RECT keeps, in (0, 1] (default: " +
          defaults_of(&MethodSpec::p, [](const MethodSpec& m) { return m.regulariser == RegulariserKind::Rect; }) + ")");
  a.compensation_opt = app.add_option("--compensation", a.compensation, compensation_defaults());
}

MethodSettings new_method_settings(const MethodArgs& a) {
  const MethodSpec& spec = find_method(a.method);
  check_applicable(a, spec);
  MethodSettings m;
  m.spec = &spec;
  m.method = spec.name;
  m.lambda = a.given(a.lambda_opt) ? a.lambda : spec.lambda;
  m.alpha = a.given(a.alpha_opt) ? a.alpha : spec.alpha;
  m.threshold = a.given(a.threshold_opt) ? a.threshold : spec.threshold;
  m.p = a.given(a.p_opt) ? a.p : spec.p;
  m.compensation = a.given(a.compensation_opt) ? parse_compensation(a.compensation) : spec.compensation;
  if (!(m.lambda >= 0) || !std::isfinite(m.lambda))
    throw cli_error("--lambda must be a finite number >= 0, got " + fmt_real(m.lambda));
  if (!(m.alpha >= 0) || !std::isfinite(m.alpha))
    throw cli_error("--alpha must be a finite number >= 0, got " + fmt_real(m.alpha));
  if (spec.projector && !(m.threshold > 0 && std::isfinite(m.threshold)))
    throw cli_error("--threshold must be a finite number > 0, got " + fmt_real(m.threshold));
  if (spec.regulariser == RegulariserKind::Rect && !(m.p > 0 && m.p <= 1))
    throw cli_error("--p must be in (0, 1], got " + fmt_real(m.p));
  return m;
}

MethodSettings resumed_method_settings(const MethodArgs& a, const seqedit::io::EditorStateInfo& info) {
  const MethodSpec& spec = find_method(a.method);
  check_applicable(a, spec);
  const auto recorded = info.extra_metadata.find("cli.method");
  if (recorded == info.extra_metadata.end())
    throw cli_error(info.path + ": this state file was not written by the seqedit tool (no 'cli.method' metadata)");
  if (recorded->second != spec.name)
    throw cli_error(info.path + ": the state was made with --method " + recorded->second + ", not " + spec.name);
  MethodSettings m;
  m.spec = &spec;
  m.method = spec.name;
  m.lambda = info.lambda;
  m.alpha = info.alpha;
  m.compensation = info.compensation;
  m.threshold = spec.projector ? meta_real(info, "cli.threshold", spec.threshold) : 0.0;
  if (spec.regulariser == RegulariserKind::Rect) m.p = parse_rect_description(info.path, info.regulariser);

  // The state holds lambda and alpha as the editor did, rounded to its precision; a value
  // given on the command line is compared after the same rounding. The other settings are
  // kept in double by the tool and compared exactly.
  const bool single = info.scalar == "float32";
  const auto as_stored = [single](double x) { return single ? double(float(x)) : x; };
  const auto same = [&](bool given, double value, double stored, bool round, const char* name) {
    if (given && (round ? as_stored(value) : value) != stored)
      throw cli_error(info.path + ": the state was made with --" + name + " " + fmt_exact(stored) + ", not " +
                      fmt_exact(value));
  };
  same(a.given(a.lambda_opt), a.lambda, m.lambda, true, "lambda");
  same(a.given(a.alpha_opt), a.alpha, m.alpha, true, "alpha");
  same(a.given(a.threshold_opt), a.threshold, m.threshold, false, "threshold");
  same(a.given(a.p_opt), a.p, m.p, false, "p");
  if (a.given(a.compensation_opt) && parse_compensation(a.compensation) != m.compensation)
    throw cli_error(info.path + ": the state was made with --compensation " +
                    seqedit::io::compensation_name(m.compensation) + ", not " + a.compensation);
  return m;
}

std::map<std::string, std::string> method_metadata(const MethodSettings& m) {
  std::map<std::string, std::string> meta = {{"cli.method", m.method}};
  if (m.spec->projector) meta["cli.threshold"] = fmt_real(m.threshold, 17);
  if (m.spec->regulariser == RegulariserKind::Rect) meta["cli.p"] = fmt_real(m.p, 17);
  return meta;
}

RegulariserKind described_regulariser(const std::string& path, const std::string& desc) {
  if (desc == seqedit::NoRegulariser<double>().describe()) return RegulariserKind::None;
  if (desc == seqedit::Prune<double>().describe()) return RegulariserKind::Prune;
  if (desc.compare(0, 5, "rect ") == 0) return RegulariserKind::Rect;
  throw cli_error(path + ": regulariser '" + desc + "' is not one the seqedit tool knows (none, prune, rect p=...)");
}

double parse_rect_description(const std::string& path, const std::string& desc) {
  try {
    return seqedit::Rect<double>::parse(desc).ratio();  // the constructor checks p in (0, 1]
  } catch (const std::invalid_argument& e) {
    throw cli_error(path + ": regulariser '" + desc + "' is not a valid RECT description (" + e.what() + ")");
  }
}

}  // namespace seqedit_cli
