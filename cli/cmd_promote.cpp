// shortlink promote: points one channel of an origin at what another serves (canary to stable),
// after the canary hosts answer as expected. The documented rollout: compile, publish to canary,
// probe, promote; rollback when a probe fails after promotion (cli/origin_cli.h).
#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/origin_cli.h"
#include "cli/snapshot_cli.h"

namespace shortlink::cli {

namespace {

struct PromoteOptions {
    std::string key;
    std::string out_dir;
    std::string from = "canary";
    std::string to = "stable";
    std::string probe_file;
    std::string expires = "5m";
    double probe_timeout_s = 5;
    std::string ca;
    bool json = false;
};

void run_promote(const PromoteOptions& opt) {
    PromoteRequest request;
    request.out_dir = opt.out_dir;
    request.from_channel = opt.from;
    request.to_channel = opt.to;
    request.expires_at = time_arg(opt.expires, "--expires");
    request.probe_timeout_s = opt.probe_timeout_s;
    request.ca = opt.ca;
    if (!opt.probe_file.empty()) {
        request.checks = read_probe_file(opt.probe_file);
    }
    const formats::SigningKey key = load_secret_key(opt.key);
    print_published_index(promote_origin(request, key), opt.json);
}

}  // namespace

void setup_promote(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<PromoteOptions>();
    CLI::App* sub = add_command(app, "promote");
    sub->add_option("--key", opt->key, "Secret key file from keygen (NAME.key); signs the new index")->required();
    sub->add_option("--out", opt->out_dir, "The origin directory publish writes")->required();
    sub->add_option("--from", opt->from, "Channel whose files to promote (default canary)");
    sub->add_option("--to", opt->to, "Channel to point at them (default stable)");
    sub->add_option("--probe-file", opt->probe_file,
                    "Checks that must pass first: lines of URL LOCATION [STATUS] on the canary hosts");
    sub->add_option("--probe-timeout", opt->probe_timeout_s, "Seconds for each step of a check (5)")
        ->check(CLI::Range(0.01, 600.0));
    sub->add_option("--ca", opt->ca, "Verify https:// checks against this PEM file instead of the system's store")
        ->check(CLI::ExistingFile);
    sub->add_option("--expires", opt->expires,
                    "When the new index expires: a duration (5m) or an RFC 3339 time (default 5m)");
    sub->add_flag("--json", opt->json, "Print the result as one JSON object");
    sub->callback([opt]() { run_promote(*opt); });
}

}  // namespace shortlink::cli
