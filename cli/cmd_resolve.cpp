// shortlink resolve FILE URL: what a server answering from FILE would say to a GET of URL,
// computed by the same function the server calls (serve/answer.h), with the deny overlay the
// server would load beside it (or --overlay FILE). The tool for CI checks.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/snapshot_cli.h"
#include "formats/snapshot.h"
#include "serve/snapshot_manager.h"
#include "serve/answer.h"
#include "serve/config.h"
#include "serve/log.h"

namespace shortlink::cli {
namespace {

struct ResolveOptions {
    std::string file;
    std::string url;
    std::vector<std::string> trust;
    std::string at;
    std::string overlay;
    bool no_overlay = false;
    bool head = false;
    bool json = false;
};

std::string json_string(std::string_view s) {
    std::string out;
    serve::append_json_string(out, s);
    return out;
}

void run_resolve(const ResolveOptions& o) {
    formats::OpenOptions open_options;
    formats::TrustedKeys keys = unwrap(serve::load_trusted_keys(o.trust));
    if (keys.empty()) {
        open_options.verify_signature = false;  // structure and checksums are still verified
    }
    const auto snapshot = unwrap(formats::Snapshot::open(o.file, keys, open_options));
    if (o.url.find("://") == std::string::npos) {
        throw Error(k_exit_usage, "URL must be absolute (http://host/code), got '" + o.url + "'");
    }
    const std::int64_t now = o.at.empty() ? now_seconds() : time_arg(o.at, "--at");
    // The overlay the server would hold: --overlay, else the newest valid one beside FILE.
    std::shared_ptr<const formats::DenyOverlay> overlay;
    if (!o.overlay.empty()) {
        formats::OpenOptions overlay_options;
        overlay_options.verify_signature = !keys.empty();
        overlay = unwrap(formats::DenyOverlay::open(o.overlay, keys, overlay_options));
    } else if (!o.no_overlay) {
        const std::size_t slash = o.file.rfind('/');
        overlay = newest_overlay(slash == std::string::npos ? "." : o.file.substr(0, slash), keys,
                                 !keys.empty());
    }
    serve::Serving serving{snapshot, overlay};

    // An absolute-form request-target carries its own authority, exactly as a proxy would send it.
    serve::Request request;
    request.method = o.head ? serve::Method::head : serve::Method::get;
    request.target = o.url;
    const serve::Response r = serve::answer(snapshot.get(), serving.deny(), request, now);
    if (r.status == 400) {
        throw Error(k_exit_usage, "URL is not a valid http(s) URL: '" + o.url + "'");
    }
    if (keys.empty()) {
        std::cerr << "shortlink: warning: signature not checked (no --trust given)\n";
    }
    const std::string location = serve::location_string(r);
    const std::string cache = serve::cache_control_string(r);
    if (o.json) {
        std::cout << "{\"status\":" << r.status
                  << ",\"reason\":" << json_string(serve::reason_name(r.reason))
                  << ",\"location\":" << (location.empty() ? "null" : json_string(location))
                  << ",\"cache_control\":" << (cache.empty() ? "null" : json_string(cache))
                  << ",\"serial\":" << snapshot->serial() << ",\"overlay_serial\":"
                  << (overlay ? std::to_string(overlay->serial()) : std::string("null"))
                  << ",\"deny_from\":"
                  << (serving.deny() == &snapshot->deny() ? "\"snapshot\"" : "\"overlay\"")
                  << ",\"signature_checked\":" << (keys.empty() ? "false" : "true") << "}\n";
        return;
    }
    std::cout << "HTTP/1.1 " << r.status << ' ' << serve::status_text(r.status) << '\n';
    if (!location.empty()) {
        std::cout << "Location: " << location << '\n';
    }
    if (!cache.empty()) {
        std::cout << "Cache-Control: " << cache << '\n';
    }
    if (r.status == 405) {
        std::cout << "Allow: GET, HEAD\n";
    }
}

}  // namespace

void setup_resolve(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto o = std::make_shared<ResolveOptions>();
    CLI::App* sub = add_command(app, "resolve");
    sub->add_option("FILE", o->file, "Snapshot file (.slsnap)")->required();
    sub->add_option("URL", o->url, "Absolute URL to resolve, e.g. https://go.example.com/docs")
        ->required();
    sub->add_option("--trust", o->trust,
                    "Trusted public key file (repeatable); without it the signature is not checked")
        ->allow_extra_args(false);
    sub->add_option("--at", o->at, "Answer as of this time (RFC 3339, or a duration from now like 7d)");
    sub->add_option("--overlay", o->overlay,
                    "Deny overlay to apply (default: the newest valid deny-<serial>.sldeny beside FILE)");
    sub->add_flag("--no-overlay", o->no_overlay, "Apply no deny overlay, only the snapshot's own deny set");
    sub->add_flag("--head", o->head, "Resolve a HEAD request instead of GET");
    sub->add_flag("--json", o->json, "Print the answer as one JSON object");
    sub->callback([o] { run_resolve(*o); });
}

}  // namespace shortlink::cli
