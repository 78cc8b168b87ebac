// shortlink: thin entry point. Wires the command table into CLI11, runs the chosen command and
// maps failures to the exit codes documented in man/shortlink.1 (cli/errors.h).
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string_view>
#include <vector>

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

// Edits (insertions, deletions, substitutions, swaps of neighbours) from a to b.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> before(b.size() + 1), row(b.size() + 1), now(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        now[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            now[j] = std::min({row[j] + 1, now[j - 1] + 1, row[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                now[j] = std::min(now[j], before[j - 2] + 1);
            }
        }
        before.swap(row);
        row.swap(now);
    }
    return row[b.size()];
}

// The first word that is not a global option or its value: the command the user meant, or
// empty when there is none.
std::string_view command_word(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg(argv[i]);
        if (arg == "--db" || arg == "--actor") {
            ++i;  // its value
        } else if (arg.empty() || arg[0] != '-') {
            return arg;
        } else if (arg == "--") {
            return {};
        }
    }
    return {};
}

// "unknown command 'lst' (did you mean list?)" for a word that names no command, so a typo is
// not answered with CLI11's "A subcommand is required". Nothing for a known command or none.
std::string unknown_command(std::string_view word) {
    using shortlink::cli::command_table;
    if (word.empty()) {
        return {};
    }
    std::string_view nearest;
    std::size_t best = word.size();
    for (const auto& command : command_table()) {
        if (command.name == word) {
            return {};
        }
        const std::size_t d = edit_distance(word, command.name);
        if (d < best) {
            best = d;
            nearest = command.name;
        }
    }
    std::string message = "unknown command '" + std::string(word) + "'";
    // Close enough to be a typo: two edits, or one for words of up to four letters.
    if (!nearest.empty() && best <= (word.size() <= 4 ? 1u : 2u)) {
        message += " (did you mean " + std::string(nearest) + "?)";
    } else {
        message += "; `shortlink --help` lists the commands";
    }
    return message;
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

    if (const std::string unknown = unknown_command(command_word(argc, argv)); !unknown.empty()) {
        std::cerr << "shortlink: error: " << unknown << '\n';
        return k_exit_usage;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);  // --help, --version
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return k_exit_usage;
    } catch (const Error& e) {
        if (*e.what() != '\0') {  // an Error without a message only sets the exit status
            std::cerr << "shortlink: error: " << e.what() << '\n';
        }
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
