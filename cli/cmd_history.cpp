// shortlink history [CODE]: the audit trail, newest first; --verify checks its hash chain.
#include <cstdio>
#include <limits>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"

namespace shortlink::cli {
namespace {

struct HistoryOptions {
    std::string code;
    std::string domain;
    std::int64_t limit = 0;
    bool json = false;
    bool verify = false;
};

// Exit 0 with the head of the chain when the whole log verifies; 5 naming the first row that
// does not fit otherwise (a database error stays 1).
void run_verify(const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    auto head = s.verify_audit_log();
    if (!head) {
        if (head.status().code() == Status::Code::corruption) {
            throw Error(k_exit_invalid, "audit log does not verify: " + head.status().message());
        }
        check(head.status());
    }
    if (head->rows == 0) {
        std::printf("audit log intact: empty\n");
    } else {
        std::printf("audit log intact: %lld rows, last row %lld, hash %s\n", static_cast<long long>(head->rows),
                    static_cast<long long>(head->last_id), head->hash_hex.c_str());
    }
}

void run_history(const HistoryOptions& o, const GlobalOptions& globals) {
    if (o.verify) {
        run_verify(globals);
        return;
    }
    store::Store s = open_store(globals);
    const ShortUrl ref = o.code.empty() ? ShortUrl{host_arg(o.domain), ""}
                                        : link_arg(s, o.code, o.domain, globals.default_domain);
    OutputSink out(stdout);
    check(s.history(ref.host, ref.code, o.limit, [&](const store::AuditRecord& r) {
        if (o.json) {
            out.line(audit_json(r));
        } else {
            std::ostringstream row;
            print_audit_row(row, r);
            out.raw(row.str());
        }
        return true;
    }));
    out.flush();
}

}  // namespace

void setup_history(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<HistoryOptions>();
    CLI::App* sub = add_command(app, "history");
    sub->add_option("CODE", o->code, "Only this link's history (its code, or its short URL)");
    sub->add_option("--domain", o->domain, "Domain of CODE; without CODE, only this domain's entries");
    sub->add_option("--limit", o->limit, "At most this many entries")->check(CLI::Range(std::int64_t{0}, std::numeric_limits<std::int64_t>::max()));
    CLI::Option* json = sub->add_flag("--json", o->json, "One JSON object per line, with before/after");
    sub->add_flag("--verify", o->verify, "Check the audit log's hash chain (exit 5 naming the first bad row)")
        ->excludes("CODE")
        ->excludes("--domain")
        ->excludes("--limit")
        ->excludes(json);
    sub->callback([o, &globals] { run_history(*o, globals); });
}

}  // namespace shortlink::cli
