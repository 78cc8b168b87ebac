// Helpers every store command shares: registering a subcommand with its summary from the command
// table, opening the store, and turning option strings into validated values. They throw
// cli::Error (exit code 2 for bad input) so commands read as straight-line code.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command_table.h"
#include "serve/client_address.h"
#include "store/store.h"

namespace CLI {
class App;
}

namespace shortlink::cli {

// Adds subcommand `name` with the summary command_table() gives it.
CLI::App* add_command(CLI::App& app, std::string_view name);

// Opens the existing database named by --db / $SHORTLINK_DB, with --actor set for the audit log.
store::Store open_store(const GlobalOptions& globals);

// Each returns the validated value or throws cli::Error(k_exit_usage, message).
std::string host_arg(const std::string& host);           // "" stays "" (the default domain)
std::string destination_arg(const std::string& url);
void code_arg(const std::string& code);
std::uint16_t type_arg(const std::string& type);
std::int64_t time_arg(const std::string& text, const char* option);
void tags_arg(const std::vector<std::string>& tags);
// A title normalized (validate::normalize_title()); `option` names it in the errors. Blank text
// is refused: a command leaves the title out, or clears it with its own option.
std::string title_arg(const std::string& text, const char* option);

// --country-header NAME (serve, resolve, domain add|set): a header name that is not a standard
// HTTP one ("" stays "": none).
void country_header_arg(const std::string& name);

// --trusted-proxy ADDR|CIDR, repeated (serve and resolve): the networks (serve/client_address.h).
std::vector<serve::Network> trusted_proxies_arg(const std::vector<std::string>& texts);

// A pasted short link, "https://go.example.com/spring", split the way a server reads it: the host
// normalized as host_arg() does (port dropped), the code the path without its leading '/'
// (percent-decoded, one trailing '/' tolerated) and checked as code_arg() does. Throws
// cli::Error(k_exit_usage) for another scheme, user info, a query or fragment, or no code.
struct ShortUrl {
    std::string host;
    std::string code;
};
ShortUrl short_url_arg(const std::string& url);

// A link as a command names it: CODE with --domain HOST, "/CODE" as add and list print a link of
// the default domain, or a pasted short URL http(s)://HOST/CODE, whose host must be a domain of
// the store (a clash with --domain is an error). Returns the store's (host, code).
// A CODE without --domain is on `default_domain` (--default-domain, $SHORTLINK_DOMAIN or the
// config file; empty: the catch-all domain "*").
ShortUrl link_arg(store::Store& s, const std::string& target, const std::string& domain,
                  const std::string& default_domain = "");
// The domain a command acts on: --domain when given, else the default domain.
std::string domain_or_default(const std::string& domain, const GlobalOptions& globals);

// Throws for a failed status about the link `ref`; a link that does not exist is reported with
// the other domains that have its code, so `show spring` on the wrong domain says where it is.
void check_link(store::Store& s, const ShortUrl& ref, const Status& status);
template <class T>
T unwrap_link(store::Store& s, const ShortUrl& ref, Result<T> result) {
    check_link(s, ref, result.status());
    return std::move(result).value();
}
// CODE (required, or a short URL) and --domain HOST: how show/edit/disable/... name one link.
void add_link_selector(CLI::App* sub, std::string& code, std::string& domain);
// --query-params replace|keep-both (serve and resolve): whether a forwarded query's parameter
// replaces the destination's parameter of the same name (the default) or both are kept.
void add_query_params_option(CLI::App* sub, bool& keep_both);
// Prints a changed link of `s`: JSON with --json, else "<verb> <short url>".
void print_changed_link(store::Store& s, const store::Link& link, bool json, std::string_view verb);

// --expired-url: a destination like a link's (store/validate.h); exit 2 naming the option.
std::string expired_url_arg(const std::string& url);

// Buffered stdout for streaming output (list, export, history): one write(2) per 64 KiB instead
// of one per line. Throws cli::Error(k_exit_runtime) when the output cannot be written.
class OutputSink {
public:
    explicit OutputSink(std::FILE* file) : m_file(file) {}
    ~OutputSink();
    OutputSink(const OutputSink&) = delete;
    OutputSink& operator=(const OutputSink&) = delete;
    void line(std::string_view text);  // appends text and '\n'
    void raw(std::string_view text);
    void flush();

private:
    std::FILE* m_file;
    std::string m_buffer;
};

}  // namespace shortlink::cli
