#ifndef SEQEDIT_CLI_COMMAND_HPP
#define SEQEDIT_CLI_COMMAND_HPP

// One subcommand of the `seqedit` tool: its options and its run function, in a file of its
// own (examples/cli/cmd_<name>.cpp). A file registers its command with
//
//   SEQEDIT_CLI_COMMAND(TokenizeCommand);
//
// and main.cpp adds every registered command to the CLI11 application, in name order.
// A command only parses arguments and calls the library; it holds no mathematics.

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace seqedit_cli {

class Command {
 public:
  virtual ~Command() = default;
  /// The subcommand's name as typed (`tokenize`, `edit-facts`).
  virtual std::string name() const = 0;
  /// One line for `seqedit --help`.
  virtual std::string description() const = 0;
  /// Declares the options on the command's own CLI11 sub-application.
  virtual void add_options(CLI::App& app) = 0;
  /// Runs after a successful parse; returns the exit code. Errors are thrown
  /// (std::exception): main prints "seqedit: error: <what>" and exits with 2.
  virtual int run() = 0;
};

using CommandFactory = std::unique_ptr<Command> (*)();

/// Every command of this executable, filled before main() by SEQEDIT_CLI_COMMAND.
inline std::vector<CommandFactory>& command_registry() {
  static std::vector<CommandFactory> registry;
  return registry;
}

struct RegisterCommand {
  explicit RegisterCommand(CommandFactory factory) { command_registry().push_back(factory); }
};

}  // namespace seqedit_cli

#define SEQEDIT_CLI_COMMAND(Type)                                                          \
  namespace {                                                                              \
  const ::seqedit_cli::RegisterCommand seqedit_cli_register_##Type{                        \
      []() -> std::unique_ptr<::seqedit_cli::Command> { return std::make_unique<Type>(); }}; \
  }

#endif  // SEQEDIT_CLI_COMMAND_HPP
