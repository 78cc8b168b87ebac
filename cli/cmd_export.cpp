// shortlink export: every link (all states) as CSV or JSON Lines, readable by `import`, or as a
// links file (YAML) with the domains, readable by `apply` (store/links_file.h); or the
// redirects serve answers now as an nginx map, an HAProxy map or a Cloudflare Bulk Redirects CSV
// (cli/server_export.h), with a report on stderr of what those could not express.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "cli/server_export.h"
#include "formats/clock.h"
#include "store/links_file.h"

namespace shortlink::cli {
namespace {

struct ExportOptions {
    std::string format = "csv";
    std::string output;
    std::string domain;
};

// Links written between hand-offs of the YAML writer's text to the output.
constexpr std::size_t k_yaml_links_per_write = 256;

// The domains (`host`'s alone when given) and their links, in every state, as a links file.
std::uint64_t write_links_file(store::Store& s, const std::string& host, std::FILE* f) {
    std::vector<store::DomainRecord> domains = unwrap(s.list_domains());
    if (!host.empty()) {
        std::erase_if(domains, [&](const store::DomainRecord& d) { return d.host != host; });
    }
    OutputSink out(f);
    store::LinksFileWriter writer;
    writer.domains(domains);
    store::LinkFilter filter;
    filter.host = host;
    std::size_t n = 0;
    std::uint64_t passwords = 0;
    check(s.list_links(filter, [&](const store::Link& link) {
        passwords += link.password_hash.empty() ? 0 : 1;
        writer.link(link);
        if (++n % k_yaml_links_per_write == 0) {
            out.raw(writer.take());
        }
        return true;
    }));
    writer.finish();
    out.raw(writer.take());
    out.flush();
    return passwords;
}

// Only the JSON forms carry a password link's hash: say so rather than let an import of the file
// publish those links without their password.
void report_passwords(std::uint64_t passwords, std::vector<std::string>& report) {
    if (passwords != 0) {
        report.push_back(std::to_string(passwords) + " password-protected link(s) written without their password "
                         "(only --format json carries it): an import or apply of this file makes them public");
    }
}

// Writes the export to `f`; the report of a server format goes to `report`.
void write_export(store::Store& s, const ExportOptions& o, const std::string& host, const GlobalOptions& globals,
                  std::FILE* f, std::vector<std::string>& report) {
    if (const std::optional<ServerFormat> server = parse_server_format(o.format)) {
        ServerExport options;
        options.format = *server;
        options.host = host;
        options.source = globals.db_path;
        options.now = clock::unix_seconds();
        write_server_export(s, options, f, report);
        return;
    }
    if (o.format == "yaml") {
        report_passwords(write_links_file(s, host, f), report);
        return;
    }
    store::LinkFilter filter;
    filter.host = host;
    filter.now = clock::unix_seconds();
    const std::uint64_t passwords = write_links(s, filter, o.format == "jsonl" ? "json" : o.format, f);
    if (o.format == "csv") {
        report_passwords(passwords, report);
    }
}

void print_report(const std::vector<std::string>& report) {
    for (const std::string& line : report) {
        std::cerr << "shortlink export: " << line << '\n';
    }
}

void run_export(const ExportOptions& o, const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    std::string host = host_arg(o.domain);
    if (!host.empty()) {
        host = unwrap(s.find_domain(host)).host;  // an unknown domain is not_found (exit 3)
    }
    std::vector<std::string> report;
    if (o.output.empty() || o.output == "-") {
        write_export(s, o, host, globals, stdout, report);
        print_report(report);
        return;
    }
    // Written to a temporary name and renamed, so a failed export never leaves half a file.
    std::string tmp = o.output + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
        throw Error(k_exit_runtime, "cannot create " + tmp + ": " + std::strerror(errno));
    }
    try {
        write_export(s, o, host, globals, f, report);
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    if (std::fclose(f) != 0 || std::rename(tmp.c_str(), o.output.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw Error(k_exit_runtime, "cannot write " + o.output + ": " + std::strerror(errno));
    }
    print_report(report);
}

}  // namespace

void setup_export(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<ExportOptions>();
    CLI::App* sub = add_command(app, "export");
    sub->add_option("--format", o->format,
                    "csv (default), json or jsonl (JSON Lines), yaml (a links file for apply), nginx-map, "
                    "haproxy-map or cloudflare-csv")
        ->check(CLI::IsMember({"csv", "json", "jsonl", "yaml", "nginx-map", "haproxy-map", "cloudflare-csv"}));
    sub->add_option("-o,--output", o->output, "Output file (default: stdout)");
    sub->add_option("--domain", o->domain, "Only this domain's links");
    sub->callback([o, &globals] { run_export(*o, globals); });
}

}  // namespace shortlink::cli
