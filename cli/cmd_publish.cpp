// shortlink publish: lays a directory out as a static origin that any HTTP server, bucket or CDN
// can serve unchanged: the newest snapshot, its newest patch and a current deny overlay, and last
// a signed index naming them with an expiry. --refresh re-signs only the index, from a timer, so
// a quiet origin does not expire (cli/origin_cli.h).
#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/origin_cli.h"
#include "cli/snapshot_cli.h"
#include "formats/clock.h"

namespace shortlink::cli {

namespace {

struct PublishOptions {
    std::string key;
    std::string out_dir;
    std::string from_dir;
    std::string channel = "stable";
    std::string expires = "5m";
    std::uint32_t keep = 5;
    bool refresh = false;
    bool zstd = false;
    bool json = false;
};

void run_publish(const PublishOptions& opt) {
    OriginRequest request;
    request.out_dir = opt.out_dir;
    request.from_dir = opt.from_dir;
    request.channel = opt.channel;
    request.expires_at = time_arg(opt.expires, "--expires");
    request.keep = opt.keep;
    request.zstd = opt.zstd;
    const formats::SigningKey key = load_secret_key(opt.key);
    print_published_index(opt.refresh ? refresh_origin(request, key) : publish_origin(request, key), opt.json);
}

}  // namespace

void setup_publish(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<PublishOptions>();
    CLI::App* sub = add_command(app, "publish");
    sub->add_option("--key", opt->key, "Secret key file from keygen (NAME.key); files must verify against it")
        ->required();
    sub->add_option("--out", opt->out_dir, "The origin directory: index-<channel>.slindex is written there")
        ->required();
    sub->add_option("--from", opt->from_dir,
                    "Copy the newest files from this directory (compile's --out) into --out first");
    sub->add_option("--channel", opt->channel, "Channel the index is for (default stable)");
    sub->add_option("--expires", opt->expires,
                    "When the index expires: a duration (5m) or an RFC 3339 time (default 5m)");
    sub->add_option("--keep", opt->keep, "With --from: keep the newest N files of each kind in --out (default 5)");
    sub->add_flag("--zstd", opt->zstd, "Also offer each file compressed with zstd (<name>.zst) for hosts to prefer");
    sub->add_flag("--refresh", opt->refresh, "Re-sign the current index with a new expiry; publish nothing new")
        ->excludes("--from")
        ->excludes("--zstd");
    sub->add_flag("--json", opt->json, "Print the result as one JSON object");
    sub->callback([opt]() { run_publish(*opt); });
}

}  // namespace shortlink::cli
