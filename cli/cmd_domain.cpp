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
    std::optional<std::string> not_found_url;
    bool no_not_found_url = false;
    std::optional<std::string> expired_url;
    bool no_expired_url = false;
    std::optional<std::string> not_found_text;
    bool no_not_found_text = false;
    std::optional<std::string> gone_text;
    bool no_gone_text = false;
    std::optional<std::string> permanent_max_age;
    std::optional<std::string> stale_while_revalidate;
    std::optional<std::string> stale_if_error;
    std::optional<std::string> cache_scope;
    std::optional<std::string> miss_budget;
    std::optional<std::string> country_header;
    bool no_country_header = false;
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
    sub->add_option("--not-found-url", o.not_found_url, "Where unknown codes redirect (302) instead of a 404");
    sub->add_option("--expired-url", o.expired_url,
                    "Where expired, disabled or deleted links redirect (302) instead of a 410");
    sub->add_option("--not-found-text", o.not_found_text, "Text of the 404 page (one line)");
    sub->add_option("--gone-text", o.gone_text, "Text of the 410 page (one line)");
    sub->add_option("--permanent-max-age", o.permanent_max_age,
                    "Cap on the Cache-Control max-age of 301 and 308 answers, seconds (default: 86400)");
    sub->add_option("--stale-while-revalidate", o.stale_while_revalidate,
                    "Cache-Control stale-while-revalidate of redirects, seconds (0: none)");
    sub->add_option("--stale-if-error", o.stale_if_error,
                    "Cache-Control stale-if-error of redirects, seconds (0: none)");
    sub->add_option("--cache-scope", o.cache_scope,
                    "public or private in Cache-Control of cacheable answers; none: neither");
    sub->add_option("--miss-budget", o.miss_budget,
                    "Unknown codes one client may ask for per minute (0: the server's --miss-budget)");
    sub->add_option("--country-header", o.country_header,
                    "The request header the proxy in front of this domain sets to the client's country "
                    "(for example CF-IPCountry); country rules read it instead of serve --country-header");
    if (for_set) {
        sub->add_flag("--no-country-header", o.no_country_header,
                      "Country rules read the server's --country-header again")
            ->excludes("--country-header");
        sub->add_flag("--no-not-found-url", o.no_not_found_url, "Answer unknown codes 404 again")
            ->excludes("--not-found-url");
        sub->add_flag("--no-expired-url", o.no_expired_url, "Answer ended links 410 again")
            ->excludes("--expired-url");
        sub->add_flag("--no-not-found-text", o.no_not_found_text, "The 404 page says \"Not Found\" again")
            ->excludes("--not-found-text");
        sub->add_flag("--no-gone-text", o.no_gone_text, "The 410 page says \"Gone\" again")
            ->excludes("--gone-text");
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

// --permanent-max-age, --stale-while-revalidate, --stale-if-error, --miss-budget: whole
// numbers, 0 to 2^32 - 1, as the snapshot stores them; nothing else.
std::optional<std::uint32_t> count_arg(const std::optional<std::string>& text, const char* option,
                                       const char* unit) {
    if (!text) {
        return std::nullopt;
    }
    const std::string& t = *text;
    std::uint64_t value = 0;
    const auto res = std::from_chars(t.data(), t.data() + t.size(), value);
    if (t.empty() || res.ec == std::errc::invalid_argument || res.ptr != t.data() + t.size() ||
        t.front() == '+' || t.front() == '-') {
        throw Error(k_exit_usage, std::string(option) + ": '" + t + "' is not a number of " + unit +
                                      " (a whole number, 0 or more)");
    }
    if (res.ec == std::errc::result_out_of_range || value > UINT32_MAX) {
        throw Error(k_exit_usage, std::string(option) + ": " + t + " is out of range (0 to 4294967295 " + unit + ")");
    }
    return static_cast<std::uint32_t>(value);
}

// --not-found-url, --expired-url: a destination like a link's (store/validate.h), sent in a
// Location header the same way.
std::optional<std::string> fallback_url_arg(const std::optional<std::string>& url, bool clear, const char* option) {
    if (clear) {
        return std::string();
    }
    if (!url) {
        return std::nullopt;
    }
    auto normalized = validate::normalize_destination(*url);
    if (!normalized) {
        throw Error(k_exit_usage, std::string(option) + ": " + normalized.status().message());
    }
    return std::move(normalized).value();
}

// --not-found-text, --gone-text: one line (validate::check_page_text); blank is refused, the
// --no- form clears.
std::optional<std::string> page_text_arg(const std::optional<std::string>& text, bool clear, const char* option) {
    if (clear) {
        return std::string();
    }
    if (!text) {
        return std::nullopt;
    }
    auto normalized = validate::normalize_title(*text);  // trims blanks at either end
    if (normalized && normalized->empty()) {
        throw Error(k_exit_usage, std::string(option) + " is blank; use --no-" + std::string(option + 2) +
                                      " for the plain page");
    }
    const Status st = normalized ? validate::check_page_text(*normalized) : normalized.status();
    if (!st) {
        throw Error(k_exit_usage, std::string(option) + ": " + st.message());
    }
    return std::move(normalized).value();
}

// --cache-scope: public, private or none ("" in the store).
std::optional<std::string> cache_scope_arg(const std::optional<std::string>& scope) {
    if (!scope) {
        return std::nullopt;
    }
    if (*scope == "public" || *scope == "private") {
        return *scope;
    }
    if (*scope == "none") {
        return std::string();
    }
    throw Error(k_exit_usage, "--cache-scope: '" + *scope + "' is not one of public, private, none");
}

// The policy options `add` and `set` share into a patch; `add` applies it to a new record.
store::DomainPatch policy_patch(const DomainOptions& o) {
    store::DomainPatch p;
    p.not_found_url = fallback_url_arg(o.not_found_url, o.no_not_found_url, "--not-found-url");
    p.expired_url = fallback_url_arg(o.expired_url, o.no_expired_url, "--expired-url");
    p.not_found_text = page_text_arg(o.not_found_text, o.no_not_found_text, "--not-found-text");
    p.gone_text = page_text_arg(o.gone_text, o.no_gone_text, "--gone-text");
    p.permanent_max_age_s = count_arg(o.permanent_max_age, "--permanent-max-age", "seconds");
    p.stale_while_revalidate_s = count_arg(o.stale_while_revalidate, "--stale-while-revalidate", "seconds");
    p.stale_if_error_s = count_arg(o.stale_if_error, "--stale-if-error", "seconds");
    p.cache_scope = cache_scope_arg(o.cache_scope);
    p.miss_budget = count_arg(o.miss_budget, "--miss-budget", "misses a minute");
    if (o.no_country_header) {
        p.country_header = std::string();
    } else if (o.country_header) {
        if (o.country_header->empty()) {
            throw Error(k_exit_usage, "--country-header is empty; use --no-country-header for the server's");
        }
        country_header_arg(*o.country_header);
        p.country_header = *o.country_header;
    }
    return p;
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
    const store::DomainPatch policy = policy_patch(o);
    d.not_found_url = policy.not_found_url.value_or("");
    d.expired_url = policy.expired_url.value_or("");
    d.not_found_text = policy.not_found_text.value_or("");
    d.gone_text = policy.gone_text.value_or("");
    d.permanent_max_age_s = policy.permanent_max_age_s.value_or(store::k_default_permanent_max_age_s);
    d.stale_while_revalidate_s = policy.stale_while_revalidate_s.value_or(0);
    d.stale_if_error_s = policy.stale_if_error_s.value_or(0);
    d.cache_scope = policy.cache_scope.value_or("");
    d.miss_budget = policy.miss_budget.value_or(0);
    d.country_header = policy.country_header.value_or("");
    store::Store s = open_store(globals);
    print_domain(unwrap(s.add_domain(d)), o.json, "added");
}

void run_set(const DomainOptions& o, const GlobalOptions& globals) {
    store::DomainPatch p = policy_patch(o);
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
