// shortlink verify: exit 0 only for a snapshot or deny overlay that passes every check, else say
// which failed.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/snapshot_cli.h"

namespace shortlink::cli {

namespace {

struct VerifyOptions {
    std::string file;
    std::vector<std::string> trust;
};

void run_verify(const VerifyOptions& opt) {
    const formats::TrustedKeys trusted = load_trusted_keys(opt.trust);
    if (unwrap(formats::peek_file_kind(opt.file)) == formats::format::FileKind::deny) {
        const auto overlay = open_overlay(opt.file, trusted, true);
        std::cout << opt.file << ": ok: deny overlay, serial " << overlay->serial() << ", "
                  << deny_summary(overlay->deny()) << ", signed by key "
                  << overlay->file().key_id() << ", digest " << overlay->file().digest_hex()
                  << "\n";
        return;
    }
    const auto snap = open_snapshot(opt.file, trusted, true);
    std::cout << opt.file << ": ok: "
              << (snap->is_patch() ? "patch of serial " + std::to_string(snap->base_serial()) + ", " : "")
              << "serial " << snap->serial() << ", " << snap->link_count()
              << " links, " << snap->domain_count() << " domains, signed by key "
              << snap->key_id() << ", digest " << snap->digest_hex() << "\n";
}

}  // namespace

void setup_verify(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<VerifyOptions>();
    CLI::App* sub = add_command(app, "verify");
    sub->add_option("FILE", opt->file,
                    "Snapshot (links-<serial>.slsnap) or deny overlay (deny-<serial>.sldeny)")
        ->required();
    sub->add_option("--trust", opt->trust, "Trusted public key file (repeatable)")->required();
    sub->callback([opt]() { run_verify(*opt); });
}

}  // namespace shortlink::cli
