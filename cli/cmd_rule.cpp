// shortlink rule add|list|remove|move: a link's redirect rules (store/rules.h).
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "formats/clock.h"

namespace shortlink::cli {
namespace {

struct RuleOptions {
    std::string code;
    std::string domain;
    std::vector<std::string> conditions;  // add: --if
    std::string to;                       // add: --to URL
    std::string type;                     // add: --type N
    std::size_t position = 0;             // add: --at; remove, move: INDEX
    std::size_t target = 0;               // move: --to POSITION
    bool json = false;
};

// The link named by CODE and --domain, and the store it is in.
struct Target {
    store::Store store;
    ShortUrl ref;
};

Target open_target(const RuleOptions& o, const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    ShortUrl ref = link_arg(s, o.code, o.domain, globals.default_domain);
    return {std::move(s), std::move(ref)};
}

void print_rules(const store::Link& link, bool json) {
    if (json) {
        for (std::size_t i = 0; i < link.rules.size(); ++i) {
            const store::Rule& r = link.rules[i];
            rapidjson::StringBuffer buf;
            rapidjson::Writer<rapidjson::StringBuffer> w(buf);
            w.StartObject();
            w.Key("index");
            w.Uint64(i + 1);
            store::write_rule_members(w, r);
            w.EndObject();
            std::printf("%s\n", buf.GetString());
        }
        return;
    }
    for (std::size_t i = 0; i < link.rules.size(); ++i) {
        std::printf("%zu  %s\n", i + 1, store::rule_text(link.rules[i]).c_str());
    }
    std::printf("%s  otherwise -> %s\n", link.rules.empty() ? "-" : " ", link.destination.c_str());
}

void run_add(const RuleOptions& o, const GlobalOptions& globals) {
    store::Rule rule;
    rule.conditions = o.conditions;
    rule.destination = destination_arg(o.to);
    if (!o.type.empty()) {
        rule.redirect_type = type_arg(o.type);
    }
    if (Status st = store::normalize_rule(rule, clock::unix_seconds()); !st) {
        throw Error(k_exit_usage, st.message());
    }
    Target t = open_target(o, globals);
    const store::Link link = unwrap_link(t.store, t.ref, t.store.add_rule(t.ref.host, t.ref.code, rule, o.position));
    print_changed_link(t.store, link, o.json, "rule added to");
}

void run_list(const RuleOptions& o, const GlobalOptions& globals) {
    Target t = open_target(o, globals);
    print_rules(unwrap_link(t.store, t.ref, t.store.get_link(t.ref.host, t.ref.code)), o.json);
}

void run_remove(const RuleOptions& o, const GlobalOptions& globals) {
    Target t = open_target(o, globals);
    const store::Link link = unwrap_link(t.store, t.ref, t.store.remove_rule(t.ref.host, t.ref.code, o.position));
    print_changed_link(t.store, link, o.json, "rule removed from");
}

void run_move(const RuleOptions& o, const GlobalOptions& globals) {
    Target t = open_target(o, globals);
    const store::Link link =
        unwrap_link(t.store, t.ref, t.store.move_rule(t.ref.host, t.ref.code, o.position, o.target));
    print_changed_link(t.store, link, o.json, "rule moved in");
}

}  // namespace

void setup_rule(CLI::App& app, const GlobalOptions& globals) {
    CLI::App* rule = add_command(app, "rule");
    rule->require_subcommand(1);

    auto add = std::make_shared<RuleOptions>();
    CLI::App* sub = rule->add_subcommand("add", "Add a rule: where the link sends visitors for whom every --if holds");
    add_link_selector(sub, add->code, add->domain);
    sub->add_option("--if", add->conditions,
                    "Condition KIND=VALUE (repeatable, all must hold): device, lang, country, ip, query, after, "
                    "before, split")
        ->required();
    sub->add_option("--to", add->to, "Destination when the rule holds: an absolute http(s) URL")->required();
    sub->add_option("--type", add->type, "Redirect type 301|302|307|308 (default: the link's)");
    sub->add_option("--at", add->position, "Insert at this position (1 is tried first; default: last)")
        ->check(CLI::PositiveNumber);
    sub->add_flag("--json", add->json, "Print the link as JSON");
    sub->callback([add, &globals] { run_add(*add, globals); });

    auto list = std::make_shared<RuleOptions>();
    sub = rule->add_subcommand("list", "List a link's rules in the order they are tried");
    add_link_selector(sub, list->code, list->domain);
    sub->add_flag("--json", list->json, "Print one JSON object per rule (JSON Lines)");
    sub->callback([list, &globals] { run_list(*list, globals); });

    auto remove = std::make_shared<RuleOptions>();
    sub = rule->add_subcommand("remove", "Remove a link's rule by its position");
    add_link_selector(sub, remove->code, remove->domain);
    sub->add_option("INDEX", remove->position, "Position of the rule (1: the first, as rule list shows)")
        ->required()
        ->check(CLI::PositiveNumber);
    sub->add_flag("--json", remove->json, "Print the link as JSON");
    sub->callback([remove, &globals] { run_remove(*remove, globals); });

    auto move = std::make_shared<RuleOptions>();
    sub = rule->add_subcommand("move", "Move a link's rule to another position");
    add_link_selector(sub, move->code, move->domain);
    sub->add_option("INDEX", move->position, "Position of the rule (as rule list shows)")
        ->required()
        ->check(CLI::PositiveNumber);
    sub->add_option("--to", move->target, "Its new position")->required()->check(CLI::PositiveNumber);
    sub->add_flag("--json", move->json, "Print the link as JSON");
    sub->callback([move, &globals] { run_move(*move, globals); });
}

}  // namespace shortlink::cli
