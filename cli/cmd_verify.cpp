// shortlink verify: exit 0 only for a snapshot or deny overlay that passes every check, else say
// which failed. With --json the verdict is one object on stdout either way (the error also goes
// to stderr, and the exit code is the same).
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/snapshot_cli.h"
#include "formats/clock.h"
#include "formats/origin_index.h"
#include "store/timefmt.h"

namespace shortlink::cli {

namespace {

struct VerifyOptions {
    std::string file;
    std::vector<std::string> trust;
    bool json = false;
};

// What a file that verified holds.
struct Verified {
    std::string kind;  // "snapshot", "patch", "deny overlay" or "origin index"
    std::uint64_t serial = 0;
    std::uint64_t base = 0;  // patches only
    std::uint64_t link_count = 0;
    std::uint32_t domain_count = 0;
    std::string deny;  // deny overlays: deny_summary()
    std::uint64_t deny_entries = 0;
    std::string key_id;
    std::string digest_hex;
    std::string channel;     // origin indexes only
    std::int64_t expires_at = 0;
    std::uint64_t files = 0;
};

Verified verify_file(const std::string& file, const formats::TrustedKeys& trusted) {
    Verified v;
    const formats::format::FileKind kind = unwrap(formats::peek_file_kind(file));
    if (kind == formats::format::FileKind::index) {
        const formats::OriginIndex index = unwrap(formats::OriginIndex::open(file, trusted));
        const formats::OriginIndex::Contents& c = index.contents();
        // A host refuses an expired index, so it does not pass here either.
        if (c.expires_at <= clock::unix_seconds()) {
            throw Error(k_exit_invalid, file + ": expired at " + timefmt::format_time(c.expires_at));
        }
        v.kind = "origin index";
        v.serial = c.serial;
        v.channel = c.channel;
        v.expires_at = c.expires_at;
        v.files = c.files().size();
        v.key_id = index.key_id();
        return v;
    }
    if (kind == formats::format::FileKind::deny) {
        const auto overlay = open_overlay(file, trusted, true);
        v.kind = "deny overlay";
        v.serial = overlay->serial();
        v.deny = deny_summary(overlay->deny());
        v.deny_entries = overlay->deny().size();
        v.key_id = overlay->file().key_id();
        v.digest_hex = overlay->file().digest_hex();
        return v;
    }
    const auto snap = open_snapshot(file, trusted, true);
    v.kind = snap->is_patch() ? "patch" : "snapshot";
    v.serial = snap->serial();
    v.base = snap->is_patch() ? snap->base_serial() : 0;
    v.link_count = snap->link_count();
    v.domain_count = snap->domain_count();
    v.key_id = std::string(snap->key_id());
    v.digest_hex = snap->digest_hex();
    return v;
}

// {"file", "valid", "reason", "kind", "serial", "base", "link_count", "domain_count", "entries",
// "channel", "expires_at", "files", "key_id", "digest"}: the fields a failed file has no value for are null.
void print_json(const std::string& file, const Verified* v, const std::string& reason) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto text_or_null = [&](const char* key, bool present, const std::string& text) {
        w.Key(key);
        if (present) {
            w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
        } else {
            w.Null();
        }
    };
    auto number_or_null = [&](const char* key, bool present, std::uint64_t n) {
        w.Key(key);
        if (present) {
            w.Uint64(n);
        } else {
            w.Null();
        }
    };
    const bool overlay = v != nullptr && v->kind == "deny overlay";
    const bool index = v != nullptr && v->kind == "origin index";
    w.StartObject();
    text_or_null("file", true, file);
    w.Key("valid");
    w.Bool(v != nullptr);
    text_or_null("reason", v == nullptr, reason);
    text_or_null("kind", v != nullptr, v != nullptr ? v->kind : std::string());
    number_or_null("serial", v != nullptr, v != nullptr ? v->serial : 0);
    number_or_null("base", v != nullptr && v->base != 0, v != nullptr ? v->base : 0);
    number_or_null("link_count", v != nullptr && !overlay && !index, v != nullptr ? v->link_count : 0);
    number_or_null("domain_count", v != nullptr && !overlay && !index, v != nullptr ? v->domain_count : 0);
    number_or_null("entries", overlay, overlay ? v->deny_entries : 0);
    text_or_null("channel", index, index ? v->channel : std::string());
    text_or_null("expires_at", index, index ? timefmt::format_time(v->expires_at) : std::string());
    number_or_null("files", index, index ? v->files : 0);
    text_or_null("key_id", v != nullptr, v != nullptr ? v->key_id : std::string());
    text_or_null("digest", v != nullptr && !index, v != nullptr ? v->digest_hex : std::string());
    w.EndObject();
    std::cout << buf.GetString() << "\n";
}

void run_verify(const VerifyOptions& opt) {
    const formats::TrustedKeys trusted = load_trusted_keys(opt.trust);
    std::optional<Verified> v;
    try {
        v = verify_file(opt.file, trusted);
    } catch (const Error& e) {
        if (opt.json) {
            print_json(opt.file, nullptr, e.what());
        }
        throw;
    }
    if (opt.json) {
        print_json(opt.file, &*v, "");
    } else if (v->kind == "origin index") {
        std::cout << opt.file << ": ok: origin index of channel " << v->channel << ", serial " << v->serial
                  << ", " << v->files << (v->files == 1 ? " file" : " files") << ", expires "
                  << timefmt::format_time(v->expires_at) << ", signed by key " << v->key_id << "\n";
    } else if (v->kind == "deny overlay") {
        std::cout << opt.file << ": ok: deny overlay, serial " << v->serial << ", " << v->deny
                  << ", signed by key " << v->key_id << ", digest " << v->digest_hex << "\n";
    } else {
        std::cout << opt.file << ": ok: "
                  << (v->base != 0 ? "patch of serial " + std::to_string(v->base) + ", " : "") << "serial "
                  << v->serial << ", " << v->link_count << " links, " << v->domain_count
                  << " domains, signed by key " << v->key_id << ", digest " << v->digest_hex << "\n";
    }
}

}  // namespace

void setup_verify(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<VerifyOptions>();
    CLI::App* sub = add_command(app, "verify");
    sub->add_option("FILE", opt->file,
                    "Snapshot, patch, deny overlay or origin index (index-<channel>.slindex)")
        ->required();
    sub->add_option("--trust", opt->trust, "Trusted public key file (repeatable)")->required();
    sub->add_flag("--json", opt->json, "Print the verdict as one JSON object, also when the file fails");
    sub->callback([opt]() { run_verify(*opt); });
}

}  // namespace shortlink::cli
