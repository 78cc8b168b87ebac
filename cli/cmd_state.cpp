// shortlink disable|enable|delete|restore CODE: the four state changes, one shared helper.
// delete is soft: the link answers 410 and `restore` brings it back. `restore --backup FILE`
// restores the whole database instead (cli/cmd_backup.cpp).
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/backup_cli.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"

namespace shortlink::cli {
namespace {

struct StateOptions {
    std::string code;
    std::string domain;
    bool json = false;
};

void setup_state(CLI::App& app, const GlobalOptions& globals, std::string_view name, store::StateAction action,
                 std::string_view verb) {
    auto o = std::make_shared<StateOptions>();
    CLI::App* sub = add_command(app, name);
    add_link_selector(sub, o->code, o->domain);
    sub->add_flag("--json", o->json, "Print the link as JSON");
    sub->callback([o, &globals, action, verb] {
        store::Store s = open_store(globals);
        const ShortUrl ref = link_arg(s, o->code, o->domain, globals.default_domain);
        print_changed_link(s, unwrap_link(s, ref, s.change_state(ref.host, ref.code, action)), o->json, verb);
    });
}

}  // namespace

void setup_disable(CLI::App& app, const GlobalOptions& globals) {
    setup_state(app, globals, "disable", store::StateAction::disable, "disabled");
}
void setup_enable(CLI::App& app, const GlobalOptions& globals) {
    setup_state(app, globals, "enable", store::StateAction::enable, "enabled");
}
void setup_delete(CLI::App& app, const GlobalOptions& globals) {
    setup_state(app, globals, "delete", store::StateAction::remove, "deleted");
}
void setup_restore(CLI::App& app, const GlobalOptions& globals) {
    struct RestoreOptions : StateOptions {
        std::string backup;
        bool force = false;
    };
    auto o = std::make_shared<RestoreOptions>();
    CLI::App* sub = add_command(app, "restore");
    CLI::Option* code = sub->add_option("CODE", o->code, "The deleted link's code, or its short URL");
    CLI::Option* domain = sub->add_option("--domain", o->domain, "Domain of the link (default: the default domain)");
    CLI::Option* json = sub->add_flag("--json", o->json, "Print the link as JSON");
    CLI::Option* backup =
        sub->add_option("--backup", o->backup, "Restore the whole database (--db) from this backup file instead");
    sub->add_flag("--force", o->force, "With --backup: replace the database if it exists")->needs(backup);
    backup->excludes(code)->excludes(domain)->excludes(json);
    sub->callback([o, &globals] {
        if (!o->backup.empty()) {
            restore_from_backup(globals, o->backup, o->force);
            return;
        }
        if (o->code.empty()) {
            throw Error(k_exit_usage, "restore needs CODE (a deleted link) or --backup FILE (the database)");
        }
        store::Store s = open_store(globals);
        const ShortUrl ref = link_arg(s, o->code, o->domain, globals.default_domain);
        print_changed_link(s, unwrap_link(s, ref, s.change_state(ref.host, ref.code, store::StateAction::restore)),
                           o->json, "restored");
    });
}

}  // namespace shortlink::cli
