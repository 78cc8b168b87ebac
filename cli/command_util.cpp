// Helpers shared by the store commands. See command_util.h.
#include "cli/command_util.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <CLI/CLI.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>

#include "cli/errors.h"
#include "cli/output.h"
#include "formats/clock.h"
#include "formats/snapshot_format.h"
#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

constexpr std::size_t k_sink_flush_bytes = 64 * 1024;

template <class T>
T usage_unwrap(Result<T> r) {
    if (!r) {
        throw Error(k_exit_usage, r.status().message());
    }
    return std::move(r).value();
}

}  // namespace

CLI::App* add_command(CLI::App& app, std::string_view name) {
    std::string summary;
    for (const Command& c : command_table()) {
        if (c.name == name) {
            summary = std::string(c.summary);
        }
    }
    return app.add_subcommand(std::string(name), summary);
}

store::Store open_store(const GlobalOptions& globals) {
    store::Store s = unwrap(store::Store::open(globals.db_path));
    s.set_actor(globals.actor);
    return s;
}

std::string host_arg(const std::string& host) {
    if (host.empty()) {
        return host;
    }
    return usage_unwrap(validate::normalize_host(host));
}

std::string destination_arg(const std::string& url) { return usage_unwrap(validate::normalize_destination(url)); }

void code_arg(const std::string& code) {
    Status st = validate::check_code(code);
    if (!st) {
        throw Error(k_exit_usage, st.message());
    }
}

std::uint16_t type_arg(const std::string& type) { return usage_unwrap(validate::parse_redirect_type(type)); }


std::int64_t time_arg(const std::string& text, const char* option) {
    auto t = timefmt::parse_time(text, clock::unix_seconds());
    if (!t) {
        throw Error(k_exit_usage, std::string(option) + ": " + t.status().message());
    }
    return *t;
}

ShortUrl short_url_arg(const std::string& url) {
    const std::string shown = validate::printable(url);
    if (url.size() > validate::k_max_url_bytes) {
        throw Error(k_exit_usage, "short URL is " + std::to_string(url.size()) + " bytes; the limit is " +
                                      std::to_string(validate::k_max_url_bytes));
    }
    auto parsed = boost::urls::parse_uri(boost::core::string_view(url.data(), url.size()));
    if (!parsed) {
        throw Error(k_exit_usage, "'" + shown + "' is not a short URL (expected http(s)://HOST/CODE)");
    }
    std::string scheme(parsed->scheme());
    for (char& c : scheme) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    if (scheme != "http" && scheme != "https") {
        throw Error(k_exit_usage, "short URL '" + shown + "' is not http or https");
    }
    if (parsed->has_userinfo()) {
        throw Error(k_exit_usage, "short URL '" + shown + "' contains user info (user@host)");
    }
    if (parsed->has_query() || parsed->has_fragment()) {
        throw Error(k_exit_usage, "short URL '" + shown + "' has a query or fragment; give the link alone (no '?' or '#')");
    }
    std::string host(parsed->encoded_host());
    if (host.empty() || host.find('%') != std::string::npos ||
        (parsed->host_type() != boost::urls::host_type::name && parsed->host_type() != boost::urls::host_type::ipv4)) {
        throw Error(k_exit_usage, "short URL '" + shown + "' has no host name");
    }
    ShortUrl out;
    out.host = host_arg(host);
    // Decoded as the server decodes a request's path, so %7E and ~ name the same code.
    std::string path(parsed->path());
    std::string_view code(path);
    if (code.starts_with('/')) {
        code.remove_prefix(1);
    }
    if (code.size() > 1 && code.ends_with('/')) {
        code.remove_suffix(1);
    }
    if (code.empty()) {
        throw Error(k_exit_usage, "short URL '" + shown + "' has no code after the host");
    }
    out.code = std::string(code);
    code_arg(out.code);
    return out;
}

void tags_arg(const std::vector<std::string>& tags) {
    for (const std::string& t : tags) {
        Status st = validate::check_tag(t);
        if (!st) {
            throw Error(k_exit_usage, st.message());
        }
    }
}

std::string title_arg(const std::string& text, const char* option) {
    auto title = validate::normalize_title(text);
    if (!title) {
        throw Error(k_exit_usage, std::string(option) + ": " + title.status().message());
    }
    if (title->empty()) {
        throw Error(k_exit_usage, std::string(option) + " is blank; leave it out for a link without a title");
    }
    return std::move(title).value();
}

ShortUrl link_arg(store::Store& s, const std::string& target, const std::string& domain,
                  const std::string& default_domain) {
    if (target.find("://") == std::string::npos) {
        // "/CODE" is how a link of the catch-all domain prints: it names that one.
        if (target.starts_with('/')) {
            return {host_arg(domain), target.substr(1)};
        }
        return {host_arg(domain.empty() ? default_domain : domain), target};
    }
    ShortUrl url = short_url_arg(target);
    if (!domain.empty() && host_arg(domain) != url.host) {
        throw Error(k_exit_usage, "--domain " + validate::printable(domain) + " conflicts with the short URL's host " +
                                      url.host + "; give one or the other");
    }
    auto found = s.find_domain(url.host);
    if (!found && found.status().code() == Status::Code::not_found) {
        throw Error(k_exit_not_found,
                    "short URL host '" + url.host + "' is not a domain in the store (see `shortlink domain list`)");
    }
    check(found.status());
    return url;
}

void add_link_selector(CLI::App* sub, std::string& code, std::string& domain) {
    sub->add_option("CODE", code, "The link's code, or its short URL (https://HOST/CODE)")->required();
    sub->add_option("--domain", domain, "Domain of the link (default: the default domain)");
}

std::string domain_or_default(const std::string& domain, const GlobalOptions& globals) {
    return host_arg(domain.empty() ? globals.default_domain : domain);
}

void check_link(store::Store& s, const ShortUrl& ref, const Status& status) {
    if (status.is_ok()) {
        return;
    }
    if (status.code() != Status::Code::not_found || !status.message().starts_with("no link ")) {
        check(status);
    }
    std::vector<std::string> elsewhere;
    if (auto domains = s.list_domains()) {
        const std::string here = ref.host.empty() ? std::string(store::k_default_host) : ref.host;
        for (const store::DomainRecord& d : *domains) {
            if (d.host != here && s.get_link(d.host, ref.code)) {
                elsewhere.push_back(d.host);
            }
        }
    }
    if (elsewhere.empty()) {
        check(status);
    }
    std::string hint = "; ";
    for (std::size_t i = 0; i < elsewhere.size() && i < 5; ++i) {
        hint += (i == 0 ? "" : ", ") + elsewhere[i];
    }
    if (elsewhere.size() > 5) {
        hint += " and " + std::to_string(elsewhere.size() - 5) + " more";
    }
    hint += elsewhere.size() == 1 ? " has it: add --domain " + elsewhere[0] : " have it: add --domain HOST";
    throw Error(k_exit_not_found, status.message() + hint);
}

void country_header_arg(const std::string& h) {
    if (h.empty()) {
        return;
    }
    if (!formats::format::is_country_header_name(h)) {
        throw Error(k_exit_usage, "--country-header: '" + h + "' is not a header name");
    }
    if (boost::beast::http::string_to_field(h) != boost::beast::http::field::unknown) {
        throw Error(k_exit_usage, "--country-header: '" + h +
                                      "' is a standard HTTP header; name the one your proxy sets "
                                      "(for example CF-IPCountry)");
    }
}

std::vector<serve::Network> trusted_proxies_arg(const std::vector<std::string>& texts) {
    std::vector<serve::Network> out;
    for (const std::string& text : texts) {
        auto network = serve::parse_network(text);
        if (!network) {
            throw Error(k_exit_usage, "--trusted-proxy: " + network.status().message());
        }
        out.push_back(*network);
    }
    return out;
}

void add_query_params_option(CLI::App* sub, bool& keep_both) {
    sub->add_option_function<std::string>(
           "--query-params", [&keep_both](const std::string& mode) { keep_both = mode == "keep-both"; },
           "A forwarded query's parameter replaces the destination's of the same name (replace, "
           "the default) or both are kept (keep-both)")
        ->check(CLI::IsMember({"replace", "keep-both"}));
}

std::string expired_url_arg(const std::string& url) {
    auto normalized = validate::normalize_destination(url);
    if (!normalized) {
        throw Error(k_exit_usage, "--expired-url: " + normalized.status().message());
    }
    return std::move(normalized).value();
}

void print_changed_link(store::Store& s, const store::Link& link, bool json, std::string_view verb) {
    if (json) {
        const store::DomainRecord domain = unwrap(s.find_domain(link.host));
        std::printf("%s\n", link_json(link_fields(link, domain, clock::unix_seconds())).c_str());
    } else if (verb.empty()) {
        std::printf("%s\n", short_url(link).c_str());
    } else {
        std::printf("%.*s %s\n", static_cast<int>(verb.size()), verb.data(), short_url(link).c_str());
    }
}

OutputSink::~OutputSink() {
    if (!m_buffer.empty()) {
        std::fwrite(m_buffer.data(), 1, m_buffer.size(), m_file);
    }
    std::fflush(m_file);
}

void OutputSink::raw(std::string_view text) {
    m_buffer.append(text);
    if (m_buffer.size() >= k_sink_flush_bytes) {
        flush();
    }
}

void OutputSink::line(std::string_view text) {
    m_buffer.append(text);
    m_buffer.push_back('\n');
    if (m_buffer.size() >= k_sink_flush_bytes) {
        flush();
    }
}

void OutputSink::flush() {
    if (!m_buffer.empty() && std::fwrite(m_buffer.data(), 1, m_buffer.size(), m_file) != m_buffer.size()) {
        m_buffer.clear();
        throw Error(k_exit_runtime, std::string("cannot write output: ") + std::strerror(errno));
    }
    m_buffer.clear();
    if (std::fflush(m_file) != 0) {
        throw Error(k_exit_runtime, std::string("cannot write output: ") + std::strerror(errno));
    }
}

}  // namespace shortlink::cli
