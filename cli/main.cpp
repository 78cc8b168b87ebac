// shortlink: thin entry point. Wires the command table into CLI11, runs the chosen command and
// maps failures to the exit codes documented in man/shortlink.1 (cli/errors.h).
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/command_table.h"
#include "cli/errors.h"
#include "store/validate.h"

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
        if (arg == "--db" || arg == "--actor" || arg == "--default-domain" || arg == "--config") {
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

// $XDG_CONFIG_HOME/shortlink/config.toml, else ~/.config/shortlink/config.toml: read when it
// exists, never required.
std::string default_config_path() {
    if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg == '/') {
        return std::string(xdg) + "/shortlink/config.toml";
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return std::string(home) + "/.config/shortlink/config.toml";
    }
    return "";
}

// The command line with the global options the environment sets (SHORTLINK_DB,
// SHORTLINK_DOMAIN, SHORTLINK_CONFIG) added where the command line does not give them, so that the command line
// wins over the environment and the environment over the config file (CLI11 reads an option's
// environment variable only when the config file did not set it).
std::vector<std::string> with_environment(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    const auto given = [&](std::string_view option) {
        for (int i = 1; i < argc; ++i) {
            const std::string_view arg(argv[i]);
            if (arg == "--") {
                return false;
            }
            if (arg == option || (arg.starts_with(option) && arg.size() > option.size() && arg[option.size()] == '=')) {
                return true;
            }
        }
        return false;
    };
    std::vector<std::string> added;
    for (const auto& [variable, option] : {std::pair{"SHORTLINK_DB", "--db"}, std::pair{"SHORTLINK_DOMAIN", "--default-domain"},
                                     std::pair{"SHORTLINK_CONFIG", "--config"}}) {
        const char* value = std::getenv(variable);
        if (value != nullptr && *value != '\0' && !given(option)) {
            added.push_back(std::string(option) + "=" + value);
        }
    }
    args.insert(args.begin() + 1, added.begin(), added.end());
    return args;
}

// The config file the parse read or tried to read: --config, $SHORTLINK_CONFIG or the default.
std::string config_path(const CLI::App& app) {
    const CLI::Option* option = app.get_config_ptr();
    if (option != nullptr && !option->results().empty()) {
        return shortlink::validate::printable(option->results().back(), 200);
    }
    if (const char* env = std::getenv("SHORTLINK_CONFIG"); env != nullptr && *env != '\0') {
        return shortlink::validate::printable(env, 200);
    }
    return shortlink::validate::printable(default_config_path(), 200);
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
    app.add_option("--db", globals.db_path, "SQLite database (default $SHORTLINK_DB, else ./shortlink.db)");
    app.add_option("--actor", globals.actor, "Name recorded in the audit log (default $USER)");
    app.add_option("--default-domain", globals.default_domain,
                   "Domain of a link named by its code without --domain (default $SHORTLINK_DOMAIN, "
                   "else the catch-all '*')")
        ->check([](const std::string& host) {
            auto normalized = shortlink::validate::normalize_host(host);
            return normalized ? std::string() : normalized.status().message();
        });
    app.set_config("--config", default_config_path(),
                   "TOML file of option defaults (default $SHORTLINK_CONFIG, else "
                   "~/.config/shortlink/config.toml if it exists)");
    app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error

    for (const Command& command : command_table()) {
        command.setup(app, globals);
    }

    if (const std::string unknown = unknown_command(command_word(argc, argv)); !unknown.empty()) {
        std::cerr << "shortlink: error: " << unknown << '\n';
        return k_exit_usage;
    }
    try {
        std::vector<std::string> args = with_environment(argc, argv);
        std::vector<char*> arg_ptrs;
        for (std::string& a : args) {
            arg_ptrs.push_back(a.data());
        }
        app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
    } catch (const CLI::Success& e) {
        return app.exit(e);  // --help, --version
    } catch (const CLI::ConfigError& e) {
        // CLI11 says "INI was not able to parse KEY" without the file.
        constexpr std::string_view prefix = "INI was not able to parse ";
        const std::string_view what = e.what();
        std::cerr << "shortlink: error: config file " << config_path(app) << ": "
                  << (what.starts_with(prefix)
                          ? "'" + shortlink::validate::printable(what.substr(prefix.size())) +
                                "' is not an option (a global one, or one of the command named by its [section])"
                          : shortlink::validate::printable(what, 200))
                  << '\n';
        return k_exit_usage;
    } catch (const CLI::FileError& e) {
        std::cerr << "shortlink: error: config file " << config_path(app) << " cannot be read\n";
        return k_exit_usage;
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
