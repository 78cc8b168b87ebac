// shortlink domain add|show|list|set|remove: the hosts links live under, and their defaults.
#include <charconv>
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
    bool https_redirect = false;
    bool no_https_redirect = false;
    std::optional<std::string> hsts;
    bool hsts_include_subdomains = false;
    bool no_hsts_include_subdomains = false;
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
    sub->add_flag("--https-redirect", o.https_redirect,
                  "Answer plain HTTP with 308 to https://HOST and the same path and query");
    sub->add_option("--hsts", o.hsts,
                    "Strict-Transport-Security max-age of answers over TLS, seconds (0: none)");
    sub->add_flag("--hsts-include-subdomains", o.hsts_include_subdomains,
                  "Add includeSubDomains to the Strict-Transport-Security header");
    if (for_set) {
        sub->add_flag("--case-sensitive", o.case_sensitive, "Codes match exactly (the default)")
            ->excludes("--case-insensitive");
        sub->add_flag("--forward-query", o.forward_query, "Forward incoming query strings by default")
            ->excludes("--no-forward-query");
        sub->add_flag("--no-https-redirect", o.no_https_redirect, "Answer plain HTTP as HTTPS (the default)")
            ->excludes("--https-redirect");
        sub->add_flag("--no-hsts-include-subdomains", o.no_hsts_include_subdomains,
                      "Leave includeSubDomains out of the Strict-Transport-Security header")
            ->excludes("--hsts-include-subdomains");
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

// --hsts: whole seconds, 0 (none) to 2^32 - 1, as the snapshot stores them; nothing else.
std::optional<std::uint32_t> hsts_arg(const std::optional<std::string>& text) {
    if (!text) {
        return std::nullopt;
    }
    const std::string& t = *text;
    std::uint64_t value = 0;
    const auto res = std::from_chars(t.data(), t.data() + t.size(), value);
    if (t.empty() || res.ec == std::errc::invalid_argument || res.ptr != t.data() + t.size() ||
        t.front() == '+' || t.front() == '-') {
        throw Error(k_exit_usage, "--hsts: '" + t +
                                      "' is not a number of seconds (a whole number, 0 turns HSTS off)");
    }
    if (res.ec == std::errc::result_out_of_range || value > UINT32_MAX) {
        throw Error(k_exit_usage, "--hsts: " + t + " is out of range (0 to 4294967295 seconds)");
    }
    return static_cast<std::uint32_t>(value);
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
    d.https_redirect = o.https_redirect;
    d.hsts_max_age_s = hsts_arg(o.hsts).value_or(0);
    d.hsts_include_subdomains = o.hsts_include_subdomains;
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
    if (o.https_redirect || o.no_https_redirect) {
        p.https_redirect = o.https_redirect;
    }
    p.hsts_max_age_s = hsts_arg(o.hsts);
    if (o.hsts_include_subdomains || o.no_hsts_include_subdomains) {
        p.hsts_include_subdomains = o.hsts_include_subdomains;
    }
    store::Store s = open_store(globals);
    print_domain(unwrap(s.set_domain(host_arg(o.host), p)), o.json, "updated");
}

void run_show(const DomainOptions& o, const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    const store::DomainRecord d = unwrap(s.find_domain(host_arg(o.host)));
    if (o.json) {
        std::cout << domain_json(d) << '\n';
    } else {
        print_domain_settings(std::cout, d);
    }
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

    auto show = std::make_shared<DomainOptions>();
    sub = domain->add_subcommand("show", "Show one domain and every setting");
    sub->add_option("HOST", show->host, "Domain name ('*': the default domain)")->required();
    sub->add_flag("--json", show->json, "Print the domain as JSON");
    sub->callback([show, &globals] { run_show(*show, globals); });

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
