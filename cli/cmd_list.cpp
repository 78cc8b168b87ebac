// shortlink list: stream links as a table, JSON Lines or CSV (never all in memory), filtered by
// domain, stored status, effective state, tag and a substring of the code, URL or title.
#include <limits>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "formats/clock.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

struct ListOptions {
    std::string domain;
    std::string status;
    std::optional<std::string> state;
    std::string tag;
    std::optional<std::string> search;
    std::int64_t limit = 0;
    std::string format = "table";
    bool json = false;
    bool titles = false;
};

void run_list(const ListOptions& o, const GlobalOptions& globals) {
    store::LinkFilter filter;
    filter.host = host_arg(o.domain);
    if (!o.status.empty()) {
        filter.status = store::parse_link_state(o.status);
    }
    if (o.state) {
        filter.state = formats::parse_effective_state(*o.state);
        if (!filter.state) {
            throw Error(k_exit_usage, "--state '" + validate::printable(*o.state) +
                                          "': expected active, disabled, deleted, not_yet_valid or expired");
        }
    }
    if (o.search) {
        if (o.search->empty()) {
            throw Error(k_exit_usage, "--search: empty text (it would match every link; leave it out)");
        }
        filter.search = *o.search;
    }
    filter.tag = o.tag;
    filter.limit = o.limit;
    filter.now = clock::unix_seconds();
    const std::string format = o.json ? "json" : o.format;
    if (o.titles && format != "table") {
        throw Error(k_exit_usage, "--titles is for the table; " + format + " always has the title");
    }
    store::Store s = open_store(globals);
    write_links(s, filter, format, stdout, o.titles);
}

}  // namespace

void setup_list(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<ListOptions>();
    CLI::App* sub = add_command(app, "list");
    sub->add_option("--domain", o->domain, "Only links of this domain");
    sub->add_option("--status", o->status, "Only links in this state")
        ->check(CLI::IsMember({"active", "disabled", "deleted"}));
    sub->add_option("--state", o->state,
                    "Only links in this effective state: active, disabled, deleted, not_yet_valid or expired");
    sub->add_option("--tag", o->tag, "Only links with this tag");
    sub->add_option("--search", o->search, "Only links whose code, URL or title contains TEXT (case ignored)");
    sub->add_option("--limit", o->limit, "At most this many links")->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
    sub->add_option("--format", o->format, "table, json (JSON Lines) or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}));
    sub->add_flag("--json", o->json, "Same as --format json");
    sub->add_flag("--titles", o->titles, "Add a TITLE column to the table");
    sub->callback([o, &globals] { run_list(*o, globals); });
}

}  // namespace shortlink::cli
