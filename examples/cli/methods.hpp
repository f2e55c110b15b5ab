#ifndef SEQEDIT_CLI_METHODS_HPP
#define SEQEDIT_CLI_METHODS_HPP

/// \file methods.hpp
/// The editing methods of the `seqedit` tool in one table: their names, objectives,
/// regularisers, defaults and options. Shared by every command that edits or reads an
/// edited state (`edit`, `verify`, `retract`, `edit-facts`).
///
/// | method        | objective (math.md §2)     | projector (§8)      | regulariser (§5) | compensation (§6) |
/// |---------------|----------------------------|---------------------|------------------|-------------------|
/// | `memit`       | λ = 15000, α = 0           | none                | none             | none              |
/// | `alphaedit`   | λ = 0, α = 10              | eigenvalues < 2e-2  | none             | none              |
/// | `memit-prune` | λ = 15000, α = 1           | none                | PRUNE            | analytic          |
/// | `memit-rect`  | λ = 15000, α = 1           | none                | RECT, p = 0.2    | analytic          |

#include "cli_inputs.hpp"

#include <seqedit/io/editor_state.hpp>
#include <seqedit/objective.hpp>
#include <seqedit/projector.hpp>
#include <seqedit/prune.hpp>
#include <seqedit/rect.hpp>
#include <seqedit/regulariser.hpp>
#include <seqedit/sequential_editor.hpp>

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace seqedit_cli {

/// The post-processing regulariser a method applies to each step's update.
enum class RegulariserKind { None, Prune, Rect };

/// One row of the method table.
struct MethodSpec {
  const char* name;          ///< as typed after --method
  const char* summary;       ///< one line for --help
  double lambda;             ///< default retention weight λ
  double alpha;              ///< default ridge weight α
  bool projector;            ///< edits in the null space of C0 (AlphaEdit); option --threshold
  double threshold;          ///< default eigenvalue threshold of the projector
  RegulariserKind regulariser;
  double p;                  ///< RECT: default ratio of entries kept; option --p
  seqedit::Compensation compensation;  ///< default error compensation
};

/// Every method, in the order shown by --help.
const std::vector<MethodSpec>& method_table();
/// "memit | alphaedit | memit-prune | memit-rect".
std::string method_names(const char* separator = " | ");
/// The row of `name`; throws cli_error naming the known methods.
const MethodSpec& find_method(const std::string& name);

/// "none" or "analytic" to Compensation; throws cli_error otherwise.
seqedit::Compensation parse_compensation(const std::string& name);

/// A method with its settings resolved (defaults, options given, or a state's values).
struct MethodSettings {
  const MethodSpec* spec = nullptr;
  std::string method;
  double lambda = 0;
  double alpha = 0;
  double threshold = 0;  ///< with a projector
  double p = 0;          ///< RECT
  seqedit::Compensation compensation = seqedit::Compensation::None;
};

/// The method options of a command, bound to CLI11 by `add_method_options`.
struct MethodArgs {
  std::string method, compensation;
  double lambda = 0, alpha = 0, threshold = 0, p = 0;
  CLI::Option *lambda_opt = nullptr, *alpha_opt = nullptr, *threshold_opt = nullptr, *p_opt = nullptr,
              *compensation_opt = nullptr;

  bool given(const CLI::Option* o) const { return o != nullptr && o->count() > 0; }
};

/// Adds --method (required), --lambda, --alpha, --threshold, --p, --compensation; the
/// help texts list the table's defaults.
void add_method_options(CLI::App& app, MethodArgs& a);

/// Settings of a new edit sequence: the method's defaults, overridden by the options
/// given. Throws cli_error for an unknown method, an option the method does not have, or
/// a value out of range.
MethodSettings new_method_settings(const MethodArgs& a);

/// Settings of a resumed sequence: the state's values. Every method option given is
/// compared with the state (λ and α in the state's precision `scalar`, "float32" or
/// "float64", since the state stores them as the editor held them); a mismatch is a
/// cli_error naming both values.
MethodSettings resumed_method_settings(const MethodArgs& a, const seqedit::io::EditorStateInfo& info);

/// The method's entries of a state file's tool metadata (cli.method, cli.threshold, cli.p).
std::map<std::string, std::string> method_metadata(const MethodSettings& m);

/// Calls `f(regulariser)` with the regulariser of the method.
template <typename Scalar, typename F>
decltype(auto) with_regulariser(const MethodSettings& m, F&& f) {
  switch (m.spec->regulariser) {
    case RegulariserKind::Prune: return f(seqedit::Prune<Scalar>());
    case RegulariserKind::Rect: return f(seqedit::Rect<Scalar>(m.p));
    case RegulariserKind::None: break;
  }
  return f(seqedit::NoRegulariser<Scalar>());
}

/// Which of the tool's regularisers a state's description names (`describe()`: "none",
/// "prune", "rect p=<ratio>"); throws cli_error naming `path` for any other.
RegulariserKind described_regulariser(const std::string& path, const std::string& desc);

/// The ratio of a state's "rect p=<ratio>" description (`Rect::parse`); throws cli_error
/// naming `path` if it is malformed.
double parse_rect_description(const std::string& path, const std::string& desc);

/// Calls `f(regulariser)` with the regulariser a state file names, parsed by the
/// regulariser's own `parse`.
template <typename Scalar, typename F>
decltype(auto) with_described_regulariser(const std::string& path, const std::string& desc, F&& f) {
  switch (described_regulariser(path, desc)) {
    case RegulariserKind::Prune: return f(seqedit::Prune<Scalar>::parse(desc));
    case RegulariserKind::Rect: return f(seqedit::Rect<Scalar>(parse_rect_description(path, desc)));
    case RegulariserKind::None: break;
  }
  return f(seqedit::NoRegulariser<Scalar>::parse(desc));
}

/// The objective of the method, in the working precision.
template <typename Scalar>
seqedit::Objective<Scalar> method_objective(const MethodSettings& m) {
  seqedit::Objective<Scalar> obj;
  obj.lambda = Scalar(m.lambda);
  obj.alpha = Scalar(m.alpha);
  return obj;
}

/// The editor options of the method for a new sequence: compensation, and for a projector
/// method the null-space projector of C0 (its rank is reported on stderr).
template <typename Scalar>
seqedit::EditorOptions<Scalar> method_editor_options(const MethodSettings& m, const Matrix<Scalar>& c0) {
  seqedit::EditorOptions<Scalar> opts;
  opts.compensation = m.compensation;
  if (m.spec->projector) {
    opts.projector = seqedit::NullSpaceProjector<Scalar>(c0, Scalar(m.threshold), stderr_progress("projector"));
    std::cerr << "seqedit: null-space projector: rank " << opts.projector->rank() << " of " << c0.rows()
              << " (eigenvalues of C0 below " << fmt_real(m.threshold) << ")\n";
  }
  return opts;
}

// ------------------------------------------------------------------ float / double

/// Calls `f(Scalar{})` with Scalar = double for "double"/"float64" and float for
/// "float"/"float32"; the one place where the tool picks its working precision.
template <typename F>
decltype(auto) with_scalar(const std::string& name, F&& f) {
  if (name == "double" || name == "float64") return f(double{});
  if (name == "float" || name == "float32") return f(float{});
  throw cli_error("--scalar '" + name + "' is not double or float");
}

/// The precision label of a state file: "float64" or "float32".
template <typename Scalar>
const char* state_scalar_name() {
  return std::is_same<Scalar, double>::value ? "float64" : "float32";
}

/// "double" or "float".
template <typename Scalar>
const char* scalar_name() {
  return std::is_same<Scalar, double>::value ? "double" : "float";
}

}  // namespace seqedit_cli

#endif  // SEQEDIT_CLI_METHODS_HPP
