// shortlink show CODE: one link in full.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "formats/clock.h"

namespace shortlink::cli {
namespace {

struct ShowOptions {
    std::string code;
    std::string domain;
    bool json = false;
};

void run_show(const ShowOptions& o, const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    const ShortUrl ref = link_arg(s, o.code, o.domain, globals.default_domain);
    const store::Link link = unwrap_link(s, ref, s.get_link(ref.host, ref.code));
    const LinkFields fields = link_fields(link, unwrap(s.find_domain(link.host)), clock::unix_seconds());
    if (o.json) {
        std::cout << link_json(fields) << '\n';
    } else {
        print_link_details(std::cout, fields);
    }
}

}  // namespace

void setup_show(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<ShowOptions>();
    CLI::App* sub = add_command(app, "show");
    add_link_selector(sub, o->code, o->domain);
    sub->add_flag("--json", o->json, "Print the link as JSON");
    sub->callback([o, &globals] { run_show(*o, globals); });
}

}  // namespace shortlink::cli
