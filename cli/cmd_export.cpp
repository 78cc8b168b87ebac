// shortlink export: every link (all states) as CSV or JSON Lines, readable by `import`.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"

namespace shortlink::cli {
namespace {

struct ExportOptions {
    std::string format = "csv";
    std::string output;
    std::string domain;
};

void run_export(const ExportOptions& o, const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    store::LinkFilter filter;
    filter.host = host_arg(o.domain);
    if (o.output.empty() || o.output == "-") {
        write_links(s, filter, o.format, stdout);
        return;
    }
    // Written to a temporary name and renamed, so a failed export never leaves half a file.
    std::string tmp = o.output + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
        throw Error(k_exit_runtime, "cannot create " + tmp + ": " + std::strerror(errno));
    }
    try {
        write_links(s, filter, o.format, f);
    } catch (...) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    if (std::fclose(f) != 0 || std::rename(tmp.c_str(), o.output.c_str()) != 0) {
        std::remove(tmp.c_str());
        throw Error(k_exit_runtime, "cannot write " + o.output + ": " + std::strerror(errno));
    }
}

}  // namespace

void setup_export(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<ExportOptions>();
    CLI::App* sub = add_command(app, "export");
    sub->add_option("--format", o->format, "csv (default) or json (JSON Lines)")
        ->check(CLI::IsMember({"csv", "json"}));
    sub->add_option("-o,--output", o->output, "Output file (default: stdout)");
    sub->add_option("--domain", o->domain, "Only this domain's links");
    sub->callback([o, &globals] { run_export(*o, globals); });
}

}  // namespace shortlink::cli
