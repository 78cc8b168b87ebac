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
#include "cli/origin_cli.h"
#include "cli/publish_cli.h"
#include "cli/snapshot_cli.h"
#include "formats/clock.h"
#include "store/store.h"
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
    bool patch = false;
    bool automatic = false;
    bool json = false;
    PublishAfter publish;
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

// Feeds domains and store rows into a builder, mapping domain ids to builder handles. Deleted and
// disabled links are compiled (they answer 410), not dropped.
class BuilderFeed {
public:
    BuilderFeed(compiler::SnapshotBuilder& builder, Progress& progress)
        : m_builder(builder), m_progress(progress) {}

    void domain(const store::DomainRecord& d, bool complete) {
        if (!m_failed) {
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
        in.https_redirect = d.https_redirect;
        in.hsts_max_age_s = d.hsts_max_age_s;
        in.hsts_include_subdomains = d.hsts_include_subdomains;
        in.not_found_url = d.not_found_url;
        in.expired_url = d.expired_url;
        in.not_found_text = d.not_found_text;
        in.gone_text = d.gone_text;
        in.permanent_max_age_s = d.permanent_max_age_s;
        in.stale_while_revalidate_s = d.stale_while_revalidate_s;
        in.stale_if_error_s = d.stale_if_error_s;
        in.miss_budget = d.miss_budget;
        in.country_header = d.country_header;
        in.cache_scope = d.cache_scope == "public"    ? formats::format::k_cache_scope_public
                         : d.cache_scope == "private" ? formats::format::k_cache_scope_private
                                                      : formats::format::k_cache_scope_none;
        in.complete = complete;
        auto handle = m_builder.add_domain(in);
        if (!handle) {
            m_failed = handle.status();
            return;
        }
        m_handles[d.id] = *handle;
    }

    void link(const store::CompileLinkRow& row) {
        m_progress.links(++m_rows);
        if (!m_failed) {
            return;
        }
        // Rows of one domain tend to come together: remember the last id's handle.
        if (!m_have_last || row.domain_id != m_last_id) {
            auto it = m_handles.find(row.domain_id);
            if (it == m_handles.end()) {
                m_failed = Status::corruption("link " + std::string(row.code) +
                                              " names unknown domain id " +
                                              std::to_string(row.domain_id));
                return;
            }
            m_last_id = row.domain_id;
            m_last_handle = it->second;
            m_have_last = true;
        }
        compiler::LinkInput in;
        in.domain = m_last_handle;
        in.code = row.code;
        in.destination = row.destination;
        in.status = row.status;
        in.redirect_type = row.redirect_type;
        in.forward_query = row.forward_query;
        in.not_before = row.reserved ? formats::k_reserved_not_before : row.not_before;
        in.expires = row.expires;
        std::string rules;
        if (!row.rules.empty() || !row.password_hash.empty() || !row.expired_url.empty()) {
            auto compiled = store::compile_rules(row.rules, row.password_hash, row.expired_url);
            if (!compiled) {
                m_failed = Status::invalid_argument("link " + std::string(row.code) + ": " + compiled.status().message());
                return;
            }
            rules = std::move(compiled).value();
            in.rules = rules;
        }
        if (Status s = m_builder.add_link(in); !s) {
            m_failed = s;
        }
    }

    // Throws for the first failure, after the store's own status.
    void finish(const Status& read) const {
        check(read);
        if (!m_failed) {
            throw Error(exit_code_for(m_failed), "cannot compile: " + m_failed.message());
        }
    }

private:
    compiler::SnapshotBuilder& m_builder;
    Progress& m_progress;
    std::unordered_map<std::int64_t, std::uint32_t> m_handles;
    std::int64_t m_last_id = 0;
    std::uint32_t m_last_handle = 0;
    bool m_have_last = false;
    Status m_failed;
    std::uint64_t m_rows = 0;
};

// The whole database, and the audit mark of what was read.
compiler::SnapshotBuilder read_database(store::Store& db, Progress& progress, std::int64_t& mark) {
    compiler::SnapshotBuilder builder;
    check(builder.set_deny(deny_entries(db)));
    BuilderFeed feed(builder, progress);
    feed.finish(db.read_for_compile([&](const store::DomainRecord& d) { feed.domain(d, false); },
                                    [&](const store::CompileLinkRow& row) { feed.link(row); },
                                    &mark));
    return builder;
}

// What a patch on `base` holds (SPEC.md "Patches"): every current domain, complete when the base
// lacks it or its defaults changed (those change every link's answer), the links of complete
// domains and every link changed since the base's audit mark.
compiler::SnapshotBuilder read_changes(store::Store& db, Progress& progress,
                                       const formats::Snapshot& base, std::int64_t since,
                                       std::int64_t& mark) {
    compiler::SnapshotBuilder builder;
    check(builder.set_deny(deny_entries(db)));
    BuilderFeed feed(builder, progress);
    const auto complete = [&](const store::DomainRecord& d) {
        const std::optional<std::uint32_t> i = base.find_domain(d.host);
        if (!i || base.domain(*i).host != d.host) {
            return true;
        }
        const formats::DomainView b = base.domain(*i);
        return b.default_redirect != d.default_redirect || b.forward_query != d.forward_query ||
               b.case_insensitive != d.case_insensitive;
    };
    feed.finish(db.read_changes(
        since,
        [&](const store::DomainRecord& d) {
            const bool whole = complete(d);
            feed.domain(d, whole);
            return whole;
        },
        [&](const store::CompileLinkRow& row) { feed.link(row); }, mark));
    return builder;
}

// The newest full snapshot in `dir` that this database compiled, as the base of a patch; nullopt
// (with the reason in `why`) when there is none.
struct PatchBase {
    std::shared_ptr<const formats::Snapshot> snapshot;
    std::int64_t audit_mark = -1;
};

std::optional<PatchBase> find_patch_base(store::Store& db, const std::string& dir,
                                         const formats::SigningKey& key, std::string& why) {
    std::uint64_t newest = 0;
    for (const formats::PublishedName& n : compiler::list_published(dir)) {
        if (n.kind == formats::format::FileKind::snapshot) {
            newest = std::max(newest, n.serial);
        }
    }
    if (newest == 0) {
        why = "there is no full snapshot in " + dir + " to patch";
        return std::nullopt;
    }
    const auto record = db.find_snapshot(newest);
    if (!record || record->audit_mark < 0) {
        why = "links-" + std::to_string(newest) + ".slsnap in " + dir +
              " was not compiled from this database";
        return std::nullopt;
    }
    // Only its domain table is read: a lazy open checks the signature and the small sections
    // in milliseconds at any size.
    formats::OpenOptions options;
    options.lazy_content = true;
    const std::string path =
        dir + "/" + formats::published_file_name(formats::format::FileKind::snapshot, newest);
    auto snapshot = formats::Snapshot::open(path, {key.trusted()}, options);
    if (!snapshot) {
        why = snapshot.status().message();
        return std::nullopt;
    }
    return PatchBase{std::move(snapshot).value(), record->audit_mark};
}

// --auto writes a patch while it holds at most this share of the base's links (at least
// k_auto_min_links): beyond that a server gains little over a full swap, and every lookup of a
// changed link pays for a larger patch.
constexpr std::uint64_t k_auto_share_percent = 5;
constexpr std::uint64_t k_auto_min_links = 1000;

void print_result(const CompileOptions& opt, const std::string& path, std::uint64_t serial,
                  std::uint64_t base, const compiler::CompiledSnapshot& compiled,
                  const formats::WrittenFile& written, double seconds,
                  const std::vector<std::string>& removed, const std::optional<PublishedIndex>& published) {
    if (opt.json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("path");
        w.String(path.c_str());
        w.Key("kind");
        w.String(base != 0 ? "patch" : "snapshot");
        w.Key("serial");
        w.Uint64(serial);
        w.Key("base");
        if (base != 0) {
            w.Uint64(base);
        } else {
            w.Null();
        }
        w.Key("link_count");
        w.Uint64(compiled.link_count());
        w.Key("domain_count");
        w.Uint(compiled.domain_count());
        w.Key("bytes");
        w.Uint64(written.bytes);
        w.Key("digest");  // the signed file digest (SPEC.md "Signature")
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
        w.Key("published");  // --publish: what publish --json prints
        if (published) {
            write_published_index(w, *published);
        } else {
            w.Null();
        }
        w.EndObject();
        std::cout << buf.GetString() << "\n";
        return;
    }
    char line[320];
    if (base != 0) {
        std::snprintf(line, sizeof(line),
                      "patch of serial %llu, serial %llu, %llu links changed, %u domains, %s, %.2f s\n",
                      static_cast<unsigned long long>(base), static_cast<unsigned long long>(serial),
                      static_cast<unsigned long long>(compiled.link_count()), compiled.domain_count(),
                      human_bytes(written.bytes).c_str(), seconds);
    } else {
        std::snprintf(line, sizeof(line), "serial %llu, %llu links, %u domains, %s, %.2f s\n",
                      static_cast<unsigned long long>(serial),
                      static_cast<unsigned long long>(compiled.link_count()), compiled.domain_count(),
                      human_bytes(written.bytes).c_str(), seconds);
    }
    std::cout << path << "\n" << line;
    for (const auto& r : removed) {
        std::cout << "removed " << r << "\n";
    }
    if (published) {
        print_published_index(*published, false);
    }
}

void run_compile(const CompileOptions& opt, const GlobalOptions& globals) {
    const auto start = std::chrono::steady_clock::now();
    if (opt.keep == 0) {
        throw Error(k_exit_usage, "--keep must be at least 1");
    }
    if (opt.patch && opt.automatic) {
        throw Error(k_exit_usage, "--patch and --auto exclude each other");
    }
    const std::int64_t now = clock::unix_seconds();
    std::int64_t not_after = 0;
    if (!opt.not_after.empty()) {
        not_after = time_arg(opt.not_after, "--not-after");
        if (not_after <= now) {
            throw Error(k_exit_usage, "--not-after must be in the future");
        }
    }
    check_publish_after(opt.publish);
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
    std::int64_t mark = 0;
    std::uint64_t base = 0;
    std::optional<compiler::SnapshotBuilder> builder;
    if (opt.patch || opt.automatic) {
        std::string why;
        if (std::optional<PatchBase> found = find_patch_base(db, opt.out_dir, key, why)) {
            compiler::SnapshotBuilder changes =
                read_changes(db, progress, *found->snapshot, found->audit_mark, mark);
            const std::uint64_t limit = std::max(
                k_auto_min_links, found->snapshot->link_count() * k_auto_share_percent / 100);
            if (opt.patch || changes.link_count() <= limit) {
                base = found->snapshot->serial();
                builder.emplace(std::move(changes));
            } else {
                std::cerr << "shortlink: " << changes.link_count() << " changed links are over --auto's "
                          << limit << ": compiling a full snapshot\n";
            }
        } else if (opt.patch) {
            throw Error(k_exit_not_found, "cannot write a patch: " + why +
                                              " (compile a full snapshot first)");
        } else {
            std::cerr << "shortlink: " << why << ": compiling a full snapshot\n";
        }
    }
    if (!builder) {
        builder.emplace(read_database(db, progress, mark));
    }
    progress.phase("building the perfect hash");
    compiler::CompiledSnapshot compiled = unwrap(std::move(*builder).build());

    const formats::format::FileKind kind =
        base != 0 ? formats::format::FileKind::patch : formats::format::FileKind::snapshot;
    const std::uint64_t serial =
        issue_serial(db, opt.out_dir, base != 0 ? "patch" : "snapshot", opt.serial);
    const std::string path = opt.out_dir + "/" + formats::published_file_name(kind, serial, base);
    SerialReservation reservation(db, serial, path);
    progress.phase("writing, signing and checking");
    compiler::SnapshotMeta meta;
    meta.serial = serial;
    meta.created_at = now;
    meta.not_after = not_after;
    meta.base_serial = base;
    // publish(): the builder's memory goes before the self-check maps the new file.
    const formats::WrittenFile written = unwrap(std::move(compiled).publish(path, meta, key));

    record_published(db, serial, path, written, now, compiled.link_count(), compiled.domain_count(),
                     mark);
    reservation.published();
    std::vector<std::string> removed;
    if (base == 0) {
        removed = unwrap(compiler::prune_published(opt.out_dir, formats::format::FileKind::snapshot,
                                                   opt.keep));
    }
    for (std::string& r : unwrap(compiler::prune_patches(opt.out_dir, opt.keep))) {
        removed.push_back(std::move(r));
    }
    // Files first, index last: the origin's index names the file only once it is there.
    const std::optional<PublishedIndex> published = publish_after(opt.publish, opt.out_dir, opt.keep, key);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    print_result(opt, path, serial, base, compiled, written, seconds, removed, published);
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
    sub->add_flag("--patch", opt->patch,
                  "Write patch-<base>-<serial>.slpatch: the links changed since the newest full "
                  "snapshot in --out");
    sub->add_flag("--auto", opt->automatic,
                  "A patch while it holds at most 5% of the base's links (at least 1000), else a "
                  "full snapshot");
    sub->add_option("--serial", opt->serial,
                    "Use this serial instead of the next one (refused unless above every serial "
                    "in --out and in the database)");
    sub->add_flag("--json", opt->json, "Print the result as one JSON object");
    add_publish_after_options(*sub, opt->publish);
    sub->callback([opt, &globals]() { run_compile(*opt, globals); });
}

}  // namespace shortlink::cli
