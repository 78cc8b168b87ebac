// shortlink overlay: the store's whole current deny set as one signed deny-<serial>.sldeny file,
// published atomically beside the snapshots. A server applies it within a second of its arrival,
// whatever its snapshot loader is doing (serve/snapshot_manager.h).
#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/origin_cli.h"
#include "cli/publish_cli.h"
#include "cli/snapshot_cli.h"

namespace shortlink::cli {

namespace {

struct OverlayOptions {
    std::string key;
    std::string out_dir;
    std::uint32_t keep = k_default_keep;
    bool json = false;
    PublishAfter publish;
};

void run_overlay(const OverlayOptions& opt, const GlobalOptions& globals) {
    check_publish_after(opt.publish);
    // Key first: a wrong passphrase should not cost a database read.
    const formats::SigningKey key = load_secret_key(opt.key);
    store::Store db = open_store(globals);
    const PublishedOverlay overlay = publish_overlay(db, key, opt.out_dir, opt.keep);
    print_overlay(overlay, opt.json, publish_after(opt.publish, opt.out_dir, opt.keep, key));
}

}  // namespace

void setup_overlay(CLI::App& app, const GlobalOptions& globals) {
    auto opt = std::make_shared<OverlayOptions>();
    CLI::App* sub = add_command(app, "overlay");
    sub->add_option("--key", opt->key, "Secret key file from keygen (NAME.key)")
        ->required();
    sub->add_option("--out", opt->out_dir, "Directory to publish deny-<serial>.sldeny into")
        ->required();
    sub->add_option("--keep", opt->keep, "Keep the newest N deny overlays in --out (default 5)");
    sub->add_flag("--json", opt->json, "Print the result as one JSON object");
    add_publish_after_options(*sub, opt->publish);
    sub->callback([opt, &globals]() { run_overlay(*opt, globals); });
}

}  // namespace shortlink::cli
