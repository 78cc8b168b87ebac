// Every command in the command table ships a man page and appears in the bash, zsh and fish
// completion scripts, and the main page lists it.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/command_table.h"

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

TEST_CASE("EveryCommandHasManPageAndCompletions", "[command_table]") {
    const std::string root = SHORTLINK_SOURCE_DIR;
    const std::string bash = slurp(root + "/completions/shortlink.bash");
    const std::string zsh = slurp(root + "/completions/_shortlink");
    const std::string fish = slurp(root + "/completions/shortlink.fish");
    const std::string main_page = slurp(root + "/man/shortlink.1");
    REQUIRE_FALSE(bash.empty());
    REQUIRE_FALSE(zsh.empty());
    REQUIRE_FALSE(fish.empty());
    REQUIRE_FALSE(main_page.empty());
    REQUIRE_FALSE(shortlink::cli::command_table().empty());
    for (const auto& command : shortlink::cli::command_table()) {
        const std::string name(command.name);
        INFO("command: " << name);
        const std::string page = slurp(root + "/man/shortlink-" + name + ".1");
        CHECK_FALSE(page.empty());
        CHECK(page.find(".SH SYNOPSIS") != std::string::npos);
        CHECK(page.find(".SH EXIT STATUS") != std::string::npos);
        // Completions name each command as a word of their command list.
        CHECK(bash.find(" " + name + " ") != std::string::npos);
        CHECK(zsh.find("'" + name + ":") != std::string::npos);
        CHECK(fish.find("-a " + name + " ") != std::string::npos);
        CHECK((main_page.find("shortlink-" + name) != std::string::npos ||
               main_page.find("shortlink\\-" + name) != std::string::npos));
    }
}

TEST_CASE("ImportOptionsAndSourcesAreCompleted", "[command_table]") {
    const std::string root = SHORTLINK_SOURCE_DIR;
    CLI::App app;
    shortlink::cli::GlobalOptions globals;
    for (const auto& command : shortlink::cli::command_table()) {
        if (command.name == "import") {
            command.setup(app, globals);
        }
    }
    CLI::App* import = app.get_subcommand("import");
    REQUIRE(import != nullptr);
    for (const char* file : {"/completions/shortlink.bash", "/completions/_shortlink", "/completions/shortlink.fish"}) {
        INFO(file);
        const std::string script = slurp(root + file);
        for (const CLI::Option* option : import->get_options()) {
            for (const std::string& name : option->get_lnames()) {
                if (name == "help") {
                    continue;
                }
                INFO("--" << name);
                CHECK((script.find("--" + name) != std::string::npos ||
                       script.find("-l " + name + " ") != std::string::npos ||
                       script.find("-l " + name + "\n") != std::string::npos));
            }
        }
        CHECK(script.find("csv jsonl bitly yourls shlink kutt cloudflare") != std::string::npos);
    }
}

TEST_CASE("LinkOptionsAreCompleted", "[command_table]") {
    const std::string root = SHORTLINK_SOURCE_DIR;
    CLI::App app;
    shortlink::cli::GlobalOptions globals;
    for (const auto& command : shortlink::cli::command_table()) {
        command.setup(app, globals);
    }
    for (const char* file : {"/completions/shortlink.bash", "/completions/_shortlink", "/completions/shortlink.fish"}) {
        const std::string script = slurp(root + file);
        for (const char* name : {"add", "edit", "list"}) {
            CLI::App* sub = app.get_subcommand(name);
            REQUIRE(sub != nullptr);
            for (const CLI::Option* option : sub->get_options()) {
                for (const std::string& long_name : option->get_lnames()) {
                    if (long_name == "help") {
                        continue;
                    }
                    INFO(file << ": " << name << " --" << long_name);
                    CHECK((script.find("--" + long_name + " ") != std::string::npos ||
                           script.find("--" + long_name + "\"") != std::string::npos ||
                           script.find("--" + long_name + "[") != std::string::npos ||
                           script.find("--" + long_name + "'") != std::string::npos ||
                           script.find("-l " + long_name + " ") != std::string::npos ||
                           script.find("-l " + long_name + "\n") != std::string::npos));
                }
            }
        }
    }
}
