// seqedit: command-line tool to edit facts in the FFN output projection of a Hugging Face
// checkpoint by closed-form least squares, sequentially, with exact undo.
//
// Each subcommand is one object in its own file (cmd_<name>.cpp, see command.hpp); this
// file builds the application from the registered commands, in name order.
//
// Exit codes: 0 success; 1 `verify` found a deviation above the tolerance; 2 an error
// (message on stderr, prefixed "seqedit: error:"); command-line syntax errors use
// CLI11's codes (non-zero).

#include "command.hpp"

#include <seqedit/version.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace seqedit_cli;
  CLI::App app{"seqedit " + std::string(seqedit::version_string) +
               ": exact sequential editing of facts in the FFN output projection of a language model "
               "(closed-form least squares; MEMIT, AlphaEdit, PRUNE/RECT with error compensation)"};
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "seqedit: error: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });
  app.require_subcommand(1);
  app.set_version_flag("--version", seqedit::version_string);

  std::vector<std::unique_ptr<Command>> commands;
  for (const CommandFactory make : command_registry()) commands.push_back(make());
  std::sort(commands.begin(), commands.end(),
            [](const std::unique_ptr<Command>& a, const std::unique_ptr<Command>& b) { return a->name() < b->name(); });
  std::vector<std::pair<CLI::App*, Command*>> subs;
  for (const auto& c : commands) {
    CLI::App* sub = app.add_subcommand(c->name(), c->description());
    c->add_options(*sub);
    subs.emplace_back(sub, c.get());
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    for (const auto& s : subs)
      if (s.first->parsed()) return s.second->run();
  } catch (const std::exception& e) {
    std::cerr << "seqedit: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
