// shortlink rollback: publishes the content of an older snapshot under a new, higher serial and a
// new signature, so every server (which refuses serials at or below the one it serves) swaps to
// it within one swap. The database is not changed, apart from the audit row: its links are still
// the newer ones, and the next compile publishes them again.
#include <chrono>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/origin_cli.h"
#include "cli/publish_cli.h"
#include "cli/snapshot_cli.h"
#include "compiler/publish.h"
#include "compiler/republish.h"
#include "formats/clock.h"
#include "formats/file_names.h"

namespace shortlink::cli {

namespace {

struct RollbackOptions {
    std::uint64_t to = 0;
    std::string key;
    std::string out_dir;
    std::string from;
    std::vector<std::string> trust;
    std::uint32_t keep = k_default_keep;
    std::string not_after;
    bool json = false;
    PublishAfter publish;
};

void run_rollback(const RollbackOptions& opt, const GlobalOptions& globals) {
    if (opt.keep == 0) {
        throw Error(k_exit_usage, "--keep must be at least 1");
    }
    check_publish_after(opt.publish);
    const formats::SigningKey key = load_secret_key(opt.key);
    const std::string source_path =
        !opt.from.empty()
            ? opt.from
            : opt.out_dir + "/" + formats::published_file_name(formats::format::FileKind::snapshot, opt.to);
    // The content is republished under our signature: it must verify first, against this key or
    // one of the --trust keys (a snapshot signed before a key rotation).
    formats::TrustedKeys trusted{key.trusted()};
    for (const std::string& p : opt.trust) {
        trusted.push_back(unwrap(formats::load_public_key(p)));
    }
    const auto source = open_snapshot(source_path, trusted, true);
    if (source->serial() != opt.to) {
        throw Error(k_exit_usage, source_path + " holds serial " + std::to_string(source->serial()) +
                                      ", not --to " + std::to_string(opt.to));
    }
    const std::int64_t now = clock::unix_seconds();
    std::int64_t not_after = 0;
    if (!opt.not_after.empty()) {
        not_after = time_arg(opt.not_after, "--not-after");
        if (not_after <= now) {
            throw Error(k_exit_usage, "--not-after must be in the future");
        }
    }
    prepare_out_dir(opt.out_dir);
    store::Store db = open_store(globals);
    const std::uint64_t serial = issue_serial(db, opt.out_dir, "rollback", std::nullopt);
    const std::string path =
        opt.out_dir + "/" + formats::published_file_name(formats::format::FileKind::snapshot, serial);
    SerialReservation reservation(db, serial, path);
    formats::ContainerMeta meta;
    meta.serial = serial;
    meta.created_at = now;
    meta.not_after = not_after;
    const formats::WrittenFile written = unwrap(compiler::republish(source->file(), meta, key, path));

    // The content is the database as it was when serial --to was compiled: a patch can be built
    // on the rollback from that compile's audit mark (when this database made it).
    const auto content = db.find_snapshot(opt.to);
    record_published(db, serial, path, written, now, source->link_count(), source->domain_count(),
                     content ? content->audit_mark : -1);
    check(db.record_rollback(opt.to, serial, path));
    reservation.published();
    const std::vector<std::string> removed =
        unwrap(compiler::prune_published(opt.out_dir, formats::format::FileKind::snapshot, opt.keep));

    std::cerr << "shortlink: rolled back to the content of serial " << opt.to << " as serial "
              << serial << ". The database still holds the newer links: the next compile "
              << "publishes them again.\n";
    const std::optional<PublishedIndex> published = publish_after(opt.publish, opt.out_dir, opt.keep, key);
    if (opt.json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("path");
        w.String(path.c_str());
        w.Key("serial");
        w.Uint64(serial);
        w.Key("content_of");
        w.Uint64(opt.to);
        w.Key("link_count");
        w.Uint64(source->link_count());
        w.Key("bytes");
        w.Uint64(written.bytes);
        w.Key("digest");
        w.String(written.digest_hex.c_str());
        w.Key("key_id");
        w.String(written.key_id.c_str());
        w.Key("removed");
        w.StartArray();
        for (const auto& r : removed) {
            w.String(r.c_str());
        }
        w.EndArray();
        w.Key("published");
        if (published) {
            write_published_index(w, *published);
        } else {
            w.Null();
        }
        w.EndObject();
        std::cout << buf.GetString() << "\n";
        return;
    }
    std::cout << path << "\nserial " << serial << ", the content of serial " << opt.to << ", "
              << source->link_count() << " links, " << human_bytes(written.bytes) << "\n";
    for (const auto& r : removed) {
        std::cout << "removed " << r << "\n";
    }
    if (published) {
        print_published_index(*published, false);
    }
}

}  // namespace

void setup_rollback(CLI::App& app, const GlobalOptions& globals) {
    auto opt = std::make_shared<RollbackOptions>();
    CLI::App* sub = add_command(app, "rollback");
    sub->add_option("--to", opt->to, "Serial of the snapshot whose content to publish again")
        ->required();
    sub->add_option("--key", opt->key, "Secret key file from keygen (NAME.key)")
        ->required();
    sub->add_option("--out", opt->out_dir, "Directory to publish the new links-<serial>.slsnap into")
        ->required();
    sub->add_option("--from", opt->from,
                    "The older snapshot file (default: links-<--to>.slsnap in --out)");
    sub->add_option("--trust", opt->trust,
                    "Also accept the older snapshot signed by this public key (repeatable)");
    sub->add_option("--keep", opt->keep, "Keep the newest N snapshots in --out (default 5)");
    sub->add_option("--not-after", opt->not_after,
                    "Expiry recorded in the new snapshot: a duration (30m, 12h, 7d) or an RFC 3339 time");
    sub->add_flag("--json", opt->json, "Print the result as one JSON object");
    add_publish_after_options(*sub, opt->publish);
    sub->callback([opt, &globals]() { run_rollback(*opt, globals); });
}

}  // namespace shortlink::cli
