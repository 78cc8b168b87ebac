// shortlink compile: database -> signed snapshot, published atomically into a directory.
//
// The store streams domains and links from one read transaction (a consistent view while others
// write) into the SnapshotBuilder; the builder's file is self-checked before it is renamed into
// place; the database records the serial, digest and counts; old snapshots beyond --keep go.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <unordered_map>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/publish_cli.h"
#include "cli/snapshot_cli.h"
#include "cli/store.h"
#include "compiler/publish.h"
#include "compiler/snapshot_builder.h"
#include "formats/file_names.h"

namespace shortlink::cli {

namespace {

// Progress lines only for databases large enough to take a noticeable time.
constexpr std::uint64_t k_progress_every = 250000;

struct CompileOptions {
    std::string key;
    std::string out_dir;
    std::uint32_t keep = k_default_keep;
    std::string not_after;
    std::optional<std::uint64_t> serial;
    bool json = false;
};

class Progress {
public:
    Progress() : m_enabled(::isatty(STDERR_FILENO) == 1) {}
    void links(std::uint64_t n) {
        if (m_enabled && n % k_progress_every == 0) {
            std::fprintf(stderr, "\rreading links: %llu", static_cast<unsigned long long>(n));
            m_dirty = true;
        }
    }
    void phase(const char* what) {
        if (m_enabled) {
            std::fprintf(stderr, "%s%s...", m_dirty ? "\n" : "", what);
            std::fflush(stderr);
            m_dirty = true;
        }
    }
    ~Progress() {
        if (m_enabled && m_dirty) {
            std::fprintf(stderr, "\n");
        }
    }

private:
    bool m_enabled;
    bool m_dirty = false;
};

formats::LinkStatus to_status(store::LinkState s) {
    switch (s) {
    case store::LinkState::active: return formats::LinkStatus::active;
    case store::LinkState::disabled: return formats::LinkStatus::disabled;
    case store::LinkState::deleted: return formats::LinkStatus::deleted;
    }
    return formats::LinkStatus::disabled;
}

// Streams the database into a builder. Deleted and disabled links are compiled (they answer
// 410), not dropped; the current deny set is baked in.
compiler::SnapshotBuilder read_database(store::Store& db, Progress& progress) {
    compiler::SnapshotBuilder builder;
    check(builder.set_deny(deny_entries(db)));
    std::unordered_map<std::int64_t, std::uint32_t> handles;
    // Rows of one domain tend to come together: remember the last id's handle.
    std::int64_t last_id = 0;
    std::uint32_t last_handle = 0;
    bool have_last = false;
    Status failed;
    std::uint64_t rows = 0;
    Status read = db.read_for_compile(
        [&](const store::DomainRecord& d) {
            if (!failed) {
                return;
            }
            compiler::DomainInput in;
            in.host = d.host;
            in.root_url = d.root_url;
            in.default_redirect = d.default_redirect;
            in.is_default = d.is_default;
            in.case_insensitive = d.case_insensitive;
            in.forward_query = d.forward_query;
            in.cache_max_age_s = d.cache_max_age_s;
            in.negative_max_age_s = d.negative_max_age_s;
            auto handle = builder.add_domain(in);
            if (!handle) {
                failed = handle.status();
                return;
            }
            handles[d.id] = *handle;
        },
        [&](const store::CompileLinkRow& row) {
            progress.links(++rows);
            if (!failed) {
                return;
            }
            if (!have_last || row.domain_id != last_id) {
                auto it = handles.find(row.domain_id);
                if (it == handles.end()) {
                    failed = Status::corruption("link " + std::string(row.code) +
                                                " names unknown domain id " +
                                                std::to_string(row.domain_id));
                    return;
                }
                last_id = row.domain_id;
                last_handle = it->second;
                have_last = true;
            }
            compiler::LinkInput in;
            in.domain = last_handle;
            in.code = row.code;
            in.destination = row.destination;
            in.status = to_status(row.status);
            in.redirect_type = row.redirect_type;
            in.forward_query = row.forward_query;
            in.not_before = row.not_before;
            in.expires = row.expires;
            if (Status s = builder.add_link(in); !s) {
                failed = s;
            }
        });
    check(read);
    if (!failed) {
        throw Error(exit_code_for(failed), "cannot compile: " + failed.message());
    }
    return builder;
}

void print_result(const CompileOptions& opt, const std::string& path, std::uint64_t serial,
                  const compiler::CompiledSnapshot& compiled,
                  const formats::WrittenFile& written, double seconds,
                  const std::vector<std::string>& removed) {
    if (opt.json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("path");
        w.String(path.c_str());
        w.Key("serial");
        w.Uint64(serial);
        w.Key("link_count");
        w.Uint64(compiled.link_count());
        w.Key("domain_count");
        w.Uint(compiled.domain_count());
        w.Key("bytes");
        w.Uint64(written.bytes);
        w.Key("digest");  // the signed snapshot digest (SPEC.md "Signature")
        w.String(written.digest_hex.c_str());
        w.Key("key_id");
        w.String(written.key_id.c_str());
        w.Key("seconds");
        w.Double(seconds);
        w.Key("removed");
        w.StartArray();
        for (const auto& r : removed) {
            w.String(r.c_str());
        }
        w.EndArray();
        w.EndObject();
        std::cout << buf.GetString() << "\n";
        return;
    }
    char line[256];
    std::snprintf(line, sizeof(line), "serial %llu, %llu links, %u domains, %s, %.2f s\n",
                  static_cast<unsigned long long>(serial),
                  static_cast<unsigned long long>(compiled.link_count()), compiled.domain_count(),
                  human_bytes(written.bytes).c_str(), seconds);
    std::cout << path << "\n" << line;
    for (const auto& r : removed) {
        std::cout << "removed " << r << "\n";
    }
}

void run_compile(const CompileOptions& opt, const GlobalOptions& globals) {
    const auto start = std::chrono::steady_clock::now();
    if (opt.keep == 0) {
        throw Error(k_exit_usage, "--keep must be at least 1");
    }
    const std::int64_t now = now_seconds();
    std::int64_t not_after = 0;
    if (!opt.not_after.empty()) {
        not_after = time_arg(opt.not_after, "--not-after");
        if (not_after <= now) {
            throw Error(k_exit_usage, "--not-after must be in the future");
        }
    }
    // Key first: a wrong passphrase should not cost a full database read.
    const formats::SigningKey key = load_secret_key(opt.key);
    prepare_out_dir(opt.out_dir);
    store::Store db = open_store(globals);
    if (opt.serial) {
        // Refused before the long part, and again (race-free) when it is reserved.
        const std::uint64_t published = compiler::highest_published_serial(opt.out_dir);
        if (*opt.serial <= published) {
            throw Error(k_exit_conflict, "--serial " + std::to_string(*opt.serial) +
                                             " is not above serial " + std::to_string(published) +
                                             ", already published in " + opt.out_dir);
        }
    }
    Progress progress;
    compiler::SnapshotBuilder builder = read_database(db, progress);
    progress.phase("building the perfect hash");
    compiler::CompiledSnapshot compiled = unwrap(std::move(builder).build());

    const std::uint64_t serial = issue_serial(db, opt.out_dir, "snapshot", opt.serial);
    const std::string path =
        opt.out_dir + "/" + formats::published_file_name(formats::format::FileKind::snapshot, serial);
    progress.phase("writing, signing and checking");
    compiler::SnapshotMeta meta;
    meta.serial = serial;
    meta.created_at = now;
    meta.not_after = not_after;
    // publish(): the builder's memory goes before the self-check maps the new file.
    const formats::WrittenFile written = unwrap(std::move(compiled).publish(path, meta, key));

    store::SnapshotRecord record;
    record.serial = serial;
    record.created_at = now;
    record.sha256_hex = written.digest_hex;
    record.link_count = compiled.link_count();
    record.domain_count = compiled.domain_count();
    record.bytes = written.bytes;
    record.key_id = written.key_id;
    record.path = path;
    check(db.complete_snapshot(record));
    const std::vector<std::string> removed =
        unwrap(compiler::prune_published(opt.out_dir, formats::format::FileKind::snapshot, opt.keep));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    print_result(opt, path, serial, compiled, written, seconds, removed);
}

}  // namespace

void setup_compile(CLI::App& app, const GlobalOptions& globals) {
    auto opt = std::make_shared<CompileOptions>();
    CLI::App* sub = add_command(app, "compile");
    sub->add_option("--key", opt->key, "Secret key file from keygen (NAME.key)")->required();
    sub->add_option("--out", opt->out_dir, "Directory to publish links-<serial>.slsnap into")
        ->required();
    sub->add_option("--keep", opt->keep, "Keep the newest N snapshots in --out (default 5)");
    sub->add_option("--not-after", opt->not_after,
                    "Expiry recorded in the snapshot: a duration (30m, 12h, 7d) or an RFC 3339 "
                    "time");
    sub->add_option("--serial", opt->serial,
                    "Use this serial instead of the next one (refused unless above every serial "
                    "in --out and in the database)");
    sub->add_flag("--json", opt->json, "Print the result as one JSON object");
    sub->callback([opt, &globals]() { run_compile(*opt, globals); });
}

}  // namespace shortlink::cli
