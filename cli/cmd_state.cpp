// shortlink disable|enable|delete|restore CODE: the four state changes, one shared helper.
// delete is soft: the link answers 410 and `restore` brings it back.
#include <memory>

#include <CLI/CLI.hpp>

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
        const ShortUrl ref = link_arg(s, o->code, o->domain);
        print_changed_link(unwrap(s.change_state(ref.host, ref.code, action)), o->json, verb);
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
    setup_state(app, globals, "restore", store::StateAction::restore, "restored");
}

}  // namespace shortlink::cli
