// shortlink init: create the database with the current schema and the default domain "*".
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"

namespace shortlink::cli {
namespace {

void run_init(const GlobalOptions& globals) {
    store::Store s = unwrap(store::Store::create(globals.db_path, globals.actor));
    std::cout << "created " << globals.db_path << " (schema " << store::Store::schema_version()
              << ", default domain '*')\n";
}

}  // namespace

void setup_init(CLI::App& app, const GlobalOptions& globals) {
    CLI::App* sub = add_command(app, "init");
    sub->callback([&globals] { run_init(globals); });
}

}  // namespace shortlink::cli
