// The command table: every `shortlink` subcommand, its one-line summary and its setup function
// (ninja's tool table). main() wires the table into CLI11; tests check that every entry has a man
// page and appears in every completion script. One file per command: cli/cmd_<name>.cpp holds its
// options struct, setup_<name>() and run_<name>() (CLI11's examples/subcom_in_files).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace shortlink::cli {

// Options every command sees; filled by main() before any command runs.
struct GlobalOptions {
    std::string db_path = "shortlink.db";  // --db, or $SHORTLINK_DB
    std::string actor;                     // --actor, default $USER; recorded in the audit log
    // --default-domain, $SHORTLINK_DOMAIN or the config file: the domain of a link named by its
    // code without --domain; empty: the catch-all domain "*".
    std::string default_domain;
};

struct Command {
    std::string_view name;
    std::string_view summary;
    // Adds the subcommand (and its callback) to `app`. `globals` outlives the parse.
    void (*setup)(CLI::App& app, const GlobalOptions& globals);
};

const std::vector<Command>& command_table();

}  // namespace shortlink::cli
