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
#include "compiler/publish.h"
#include "formats/clock.h"
#include "formats/file_names.h"
#include "formats/snapshot.h"
#include "serve/patched.h"
#include "serve/snapshot_manager.h"
#include "serve/answer.h"
#include "serve/config.h"
#include "serve/log.h"

namespace shortlink::cli {
namespace {

struct ResolveOptions {
    std::string file;
    std::vector<std::string> urls;
    std::vector<std::string> trust;
    std::string at;
    std::string overlay;
    bool no_overlay = false;
    std::string patch;
    bool no_patch = false;
    bool head = false;
    bool json = false;
    bool keep_both_params = false;
};

std::string json_string(std::string_view s) {
    std::string out;
    serve::append_json_string(out, s);
    return out;
}

std::string directory_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

void run_resolve(const ResolveOptions& o) {
    formats::OpenOptions open_options;
    formats::TrustedKeys keys = unwrap(serve::load_trusted_keys(o.trust));
    if (keys.empty()) {
        open_options.verify_signature = false;  // structure and checksums are still verified
    }
    const auto snapshot = unwrap(formats::Snapshot::open(o.file, keys, open_options));
    for (const std::string& url : o.urls) {
        if (url.find("://") == std::string::npos) {
            throw Error(k_exit_usage, "URL must be absolute (http://host/code), got '" + url + "'");
        }
    }
    const std::int64_t now = o.at.empty() ? clock::unix_seconds() : time_arg(o.at, "--at");
    serve::Serving serving;
    serving.snapshot = snapshot;
    // The patch and the overlay the server would hold: given, else the newest valid ones beside
    // FILE.
    if (!o.patch.empty()) {
        auto patch = unwrap(formats::Snapshot::open_patch(o.patch, keys, open_options));
        serving.patched = serve::PatchedSnapshot::make(snapshot, patch);
        if (!serving.patched) {
            throw Error(k_exit_usage, o.patch + " is a patch for serial " +
                                          std::to_string(patch->base_serial()) + ", not for " +
                                          std::to_string(snapshot->serial()));
        }
    } else if (!o.no_patch) {
        if (auto patch = newest_patch(directory_of(o.file), *snapshot, keys)) {
            serving.patched = serve::PatchedSnapshot::make(snapshot, std::move(patch));
        }
    }
    if (!o.overlay.empty()) {
        serving.overlay = unwrap(formats::DenyOverlay::open(o.overlay, keys, open_options));
    } else if (!o.no_overlay) {
        serving.overlay = newest_overlay(directory_of(o.file), keys, !keys.empty());
    }
    const formats::DenySet* deny = serving.deny();
    const char* deny_from = deny == &snapshot->deny() ? "snapshot"
                            : serving.overlay && deny == &serving.overlay->deny() ? "overlay"
                                                                                   : "patch";
    if (keys.empty()) {
        std::cerr << "shortlink: warning: signature not checked (no --trust given)\n";
    }
    for (const std::string& url : o.urls) {
        // An absolute-form request-target carries its own authority, exactly as a proxy sends it.
        serve::Request request;
        request.method = o.head ? serve::Method::head : serve::Method::get;
        request.target = url;
        request.keep_both_params = o.keep_both_params;
        // An https:// URL is answered as the TLS listener would (HSTS), http:// as a plain one.
        request.tls = url.size() >= 8 && (url.compare(0, 8, "https://") == 0 || url.compare(0, 8, "HTTPS://") == 0);
        const serve::Response r = serving.patched ? serve::answer(serving.patched.get(), deny, request, now)
                                                  : serve::answer(snapshot.get(), deny, request, now);
        if (r.status == 400) {
            throw Error(k_exit_usage, "URL is not a valid http(s) URL: '" + url + "'");
        }
        const std::string location = serve::location_string(r);
        const std::string cache = serve::cache_control_string(r);
        const std::string hsts = serve::hsts_string(r);
        if (o.json) {
            std::cout << "{\"url\":" << json_string(url) << ",\"status\":" << r.status
                      << ",\"reason\":" << json_string(serve::reason_name(r.reason))
                      << ",\"location\":" << (location.empty() ? "null" : json_string(location))
                      << ",\"cache_control\":" << (cache.empty() ? "null" : json_string(cache))
                      << ",\"strict_transport_security\":" << (hsts.empty() ? "null" : json_string(hsts))
                      << ",\"serial\":" << snapshot->serial() << ",\"patch_serial\":"
                      << (serving.patched ? std::to_string(serving.patched->patch().serial())
                                          : std::string("null"))
                      << ",\"overlay_serial\":"
                      << (serving.overlay ? std::to_string(serving.overlay->serial()) : std::string("null"))
                      << ",\"deny_from\":\"" << deny_from << "\""
                      << ",\"signature_checked\":" << (keys.empty() ? "false" : "true") << "}\n";
            continue;
        }
        if (o.urls.size() > 1) {
            std::cout << url << '\n';
        }
        std::cout << "HTTP/1.1 " << r.status << ' ' << serve::status_text(r.status) << '\n';
        if (!location.empty()) {
            std::cout << "Location: " << location << '\n';
        }
        if (!cache.empty()) {
            std::cout << "Cache-Control: " << cache << '\n';
        }
        if (!hsts.empty()) {
            std::cout << "Strict-Transport-Security: " << hsts << '\n';
        }
        if (r.status == 405) {
            std::cout << "Allow: GET, HEAD\n";
        }
    }
}

}  // namespace

void setup_resolve(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto o = std::make_shared<ResolveOptions>();
    CLI::App* sub = add_command(app, "resolve");
    sub->add_option("FILE", o->file, "Snapshot file (.slsnap)")->required();
    sub->add_option("URL", o->urls,
                    "Absolute URL to resolve, e.g. https://go.example.com/docs (several: one answer each)")
        ->required();
    sub->add_option("--trust", o->trust,
                    "Trusted public key file (repeatable); without it the signature is not checked")
        ->allow_extra_args(false);
    sub->add_option("--at", o->at, "Answer as of this time (RFC 3339, or a duration from now like 7d)");
    sub->add_option("--overlay", o->overlay,
                    "Deny overlay to apply (default: the newest valid deny-<serial>.sldeny beside FILE)");
    sub->add_flag("--no-overlay", o->no_overlay, "Apply no deny overlay, only the snapshot's own deny set");
    sub->add_option("--patch", o->patch,
                    "Patch to apply on FILE (default: the newest valid patch-<FILE's serial>-*.slpatch beside it)");
    sub->add_flag("--no-patch", o->no_patch, "Apply no patch");
    sub->add_flag("--head", o->head, "Resolve a HEAD request instead of GET");
    sub->add_flag("--json", o->json, "Print the answer as one JSON object");
    add_query_params_option(sub, o->keep_both_params);
    sub->callback([o] { run_resolve(*o); });
}

}  // namespace shortlink::cli
