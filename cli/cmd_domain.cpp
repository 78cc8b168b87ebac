// shortlink domain add|list|set|remove: the hosts links live under, and their defaults.
#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

struct DomainOptions {
    std::string host;
    std::string default_type;
    std::optional<std::string> root_url;
    bool case_insensitive = false;
    bool case_sensitive = false;
    bool no_forward_query = false;
    bool forward_query = false;
    std::optional<std::uint32_t> cache_max_age;
    std::optional<std::uint32_t> negative_max_age;
    bool force = false;
    bool json = false;
};

// The options `domain add` and `domain set` share; `set` also gets the "turn it back" flags.
void add_setting_options(CLI::App* sub, DomainOptions& o, bool for_set) {
    sub->add_option("HOST", o.host, "Domain name (IDN accepted, stored as A-labels)")->required();
    sub->add_option("--default-type", o.default_type, "Redirect type of links without --type (301|302|307|308)");
    sub->add_option("--root-url", o.root_url, "Where / redirects (empty: 404)");
    sub->add_flag("--case-insensitive", o.case_insensitive, "Codes match regardless of ASCII case");
    sub->add_flag("--no-forward-query", o.no_forward_query, "Do not forward incoming query strings by default");
    sub->add_option("--cache-max-age", o.cache_max_age, "Cache-Control max-age of redirects, seconds");
    sub->add_option("--negative-max-age", o.negative_max_age, "Cache-Control max-age of 404s, seconds");
    if (for_set) {
        sub->add_flag("--case-sensitive", o.case_sensitive, "Codes match exactly (the default)")
            ->excludes("--case-insensitive");
        sub->add_flag("--forward-query", o.forward_query, "Forward incoming query strings by default")
            ->excludes("--no-forward-query");
    }
    sub->add_flag("--json", o.json, "Print the domain as JSON");
}

// --root-url: "" clears it; anything else must be a valid destination (store/validate.h), since
// the server sends it in a Location header exactly as links' destinations.
std::optional<std::string> root_url_arg(const std::optional<std::string>& root) {
    if (!root) {
        return std::nullopt;
    }
    if (root->empty()) {
        return std::string();
    }
    auto url = validate::normalize_destination(*root);
    if (!url) {
        throw Error(k_exit_usage, "--root-url: " + url.status().message());
    }
    return std::move(url).value();
}

void print_domain(const store::DomainRecord& d, bool json, const char* verb) {
    if (json) {
        std::cout << domain_json(d) << '\n';
    } else {
        std::cout << verb << " domain " << d.host << '\n';
    }
}

void run_add(const DomainOptions& o, const GlobalOptions& globals) {
    store::DomainRecord d;
    d.host = host_arg(o.host);
    if (d.host == store::k_default_host) {
        throw Error(k_exit_conflict, "the default domain '*' exists already (created by init)");
    }
    if (!o.default_type.empty()) {
        d.default_redirect = type_arg(o.default_type);
    }
    d.root_url = root_url_arg(o.root_url).value_or("");
    d.case_insensitive = o.case_insensitive;
    d.forward_query = !o.no_forward_query;
    d.cache_max_age_s = o.cache_max_age.value_or(store::k_default_cache_max_age_s);
    d.negative_max_age_s = o.negative_max_age.value_or(store::k_default_negative_max_age_s);
    store::Store s = open_store(globals);
    print_domain(unwrap(s.add_domain(d)), o.json, "added");
}

void run_set(const DomainOptions& o, const GlobalOptions& globals) {
    store::DomainPatch p;
    if (!o.default_type.empty()) {
        p.default_redirect = type_arg(o.default_type);
    }
    p.root_url = root_url_arg(o.root_url);
    if (o.case_insensitive || o.case_sensitive) {
        p.case_insensitive = o.case_insensitive;
    }
    if (o.forward_query || o.no_forward_query) {
        p.forward_query = o.forward_query;
    }
    p.cache_max_age_s = o.cache_max_age;
    p.negative_max_age_s = o.negative_max_age;
    store::Store s = open_store(globals);
    print_domain(unwrap(s.set_domain(host_arg(o.host), p)), o.json, "updated");
}

void run_list(const DomainOptions& o, const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    auto domains = unwrap(s.list_domains());
    if (o.json) {
        for (const auto& d : domains) {
            std::cout << domain_json(d) << '\n';
        }
    } else {
        print_domain_table(std::cout, domains);
    }
}

void run_remove(const DomainOptions& o, const GlobalOptions& globals) {
    std::string host = host_arg(o.host);
    store::Store s = open_store(globals);
    check(s.remove_domain(host, o.force));
    std::cout << "removed domain " << host << '\n';
}

}  // namespace

void setup_domain(CLI::App& app, const GlobalOptions& globals) {
    CLI::App* domain = add_command(app, "domain");
    domain->require_subcommand(1);

    auto add = std::make_shared<DomainOptions>();
    CLI::App* sub = domain->add_subcommand("add", "Add a domain with its defaults");
    add_setting_options(sub, *add, false);
    sub->callback([add, &globals] { run_add(*add, globals); });

    auto set = std::make_shared<DomainOptions>();
    sub = domain->add_subcommand("set", "Change a domain's defaults");
    add_setting_options(sub, *set, true);
    sub->callback([set, &globals] { run_set(*set, globals); });

    auto list = std::make_shared<DomainOptions>();
    sub = domain->add_subcommand("list", "List domains");
    sub->add_flag("--json", list->json, "One JSON object per line");
    sub->callback([list, &globals] { run_list(*list, globals); });

    auto remove = std::make_shared<DomainOptions>();
    sub = domain->add_subcommand("remove", "Remove a domain (refused while it has links)");
    sub->add_option("HOST", remove->host, "Domain name")->required();
    sub->add_flag("--force", remove->force, "Soft-delete the domain's links first");
    sub->callback([remove, &globals] { run_remove(*remove, globals); });
}

}  // namespace shortlink::cli
