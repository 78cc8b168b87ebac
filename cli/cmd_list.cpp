// shortlink list: stream links as a table, JSON Lines or CSV (never all in memory).
#include <limits>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"

namespace shortlink::cli {
namespace {

struct ListOptions {
    std::string domain;
    std::string status;
    std::string tag;
    std::int64_t limit = 0;
    std::string format = "table";
    bool json = false;
};

void run_list(const ListOptions& o, const GlobalOptions& globals) {
    store::LinkFilter filter;
    filter.host = host_arg(o.domain);
    if (!o.status.empty()) {
        filter.status = store::parse_link_state(o.status);
    }
    filter.tag = o.tag;
    filter.limit = o.limit;
    store::Store s = open_store(globals);
    write_links(s, filter, o.json ? "json" : o.format, stdout);
}

}  // namespace

void setup_list(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<ListOptions>();
    CLI::App* sub = add_command(app, "list");
    sub->add_option("--domain", o->domain, "Only links of this domain");
    sub->add_option("--status", o->status, "Only links in this state")
        ->check(CLI::IsMember({"active", "disabled", "deleted"}));
    sub->add_option("--tag", o->tag, "Only links with this tag");
    sub->add_option("--limit", o->limit, "At most this many links")->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
    sub->add_option("--format", o->format, "table, json (JSON Lines) or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}));
    sub->add_flag("--json", o->json, "Same as --format json");
    sub->callback([o, &globals] { run_list(*o, globals); });
}

}  // namespace shortlink::cli
