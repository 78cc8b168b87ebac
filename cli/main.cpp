// shortlink: thin entry point. Wires the command table into CLI11, runs the chosen command and
// maps failures to the exit codes documented in man/shortlink.1 (cli/errors.h).
#include <cstdlib>
#include <exception>
#include <iostream>

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/command_table.h"
#include "cli/errors.h"

namespace {

// $USER, else the account name of the real user id (cron jobs and CI often have no $USER), so
// the audit log names a person or service account rather than "unknown".
std::string default_actor() {
    const char* user = std::getenv("USER");
    if (user != nullptr && *user != '\0') {
        return user;
    }
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_name != nullptr) {
        return pw->pw_name;
    }
    return "uid:" + std::to_string(getuid());
}

}  // namespace

int main(int argc, char** argv) {
    using namespace shortlink::cli;

    CLI::App app{"shortlink: short links from a local database, compiled into signed snapshots "
                 "and served from memory"};
    app.name("shortlink");
    app.require_subcommand(1);
    app.fallthrough();  // global options may also follow the subcommand
    app.set_version_flag("--version", std::string("shortlink ") + SHORTLINK_VERSION);

    GlobalOptions globals;
    globals.actor = default_actor();
    app.add_option("--db", globals.db_path, "SQLite database (default ./shortlink.db)")
        ->envname("SHORTLINK_DB");
    app.add_option("--actor", globals.actor, "Name recorded in the audit log (default $USER)");

    for (const Command& command : command_table()) {
        command.setup(app, globals);
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);  // --help, --version
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return k_exit_usage;
    } catch (const Error& e) {
        std::cerr << "shortlink: error: " << e.what() << '\n';
        return e.exit_code();
    } catch (const std::exception& e) {
        std::cerr << "shortlink: error: " << e.what() << '\n';
        return k_exit_runtime;
    } catch (...) {
        // Caught rather than left to std::terminate so the stack unwinds: each command's Store
        // closes its database (checkpointing the WAL into it) on every way out.
        std::cerr << "shortlink: error: unexpected failure\n";
        return k_exit_runtime;
    }
    return k_exit_ok;
}
