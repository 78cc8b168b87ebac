#include "cli/publish_cli.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/errors.h"
#include "compiler/deny_publish.h"
#include "compiler/publish.h"
#include "formats/clock.h"
#include "formats/file_names.h"

namespace shortlink::cli {

namespace {

formats::DenyKind to_deny_kind(store::BlockKind kind) {
    switch (kind) {
    case store::BlockKind::link: return formats::DenyKind::link;
    case store::BlockKind::domain: return formats::DenyKind::domain;
    case store::BlockKind::destination: return formats::DenyKind::destination;
    }
    return formats::DenyKind::link;
}

}  // namespace

std::vector<formats::DenyEntry> deny_entries(store::Store& db) {
    std::vector<formats::DenyEntry> out;
    check(db.read_deny_set([&](store::BlockKind kind, std::string_view host, std::string_view code) {
        out.push_back({to_deny_kind(kind), std::string(host), std::string(code)});
    }));
    return out;
}

void prepare_out_dir(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        throw Error(k_exit_runtime, "cannot create " + dir + ": " + std::strerror(errno));
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        throw Error(k_exit_usage, dir + " is not a directory");
    }
    for (const std::string& path : unwrap(compiler::remove_stale_temp_files(dir))) {
        std::cerr << "shortlink: removed " << path << ", left by a writer that no longer runs\n";
    }
}

std::uint64_t issue_serial(store::Store& db, const std::string& out_dir, std::string_view kind,
                           std::optional<std::uint64_t> requested) {
    const std::uint64_t issued = unwrap(db.highest_serial());
    const std::uint64_t published = compiler::highest_published_serial(out_dir);
    if (requested) {
        if (*requested <= published || *requested <= issued) {
            throw Error(k_exit_conflict,
                        "--serial " + std::to_string(*requested) + " is not above serial " +
                            std::to_string(std::max(published, issued)) + ", already " +
                            (published >= issued ? "published in " + out_dir
                                                 : std::string("issued by this database")));
        }
        const std::uint64_t serial = unwrap(db.reserve_serial(kind, *requested));
        if (serial != *requested) {
            throw Error(k_exit_conflict, "serial " + std::to_string(*requested) +
                                             " was issued meanwhile by another writer");
        }
        return serial;
    }
    return unwrap(db.reserve_serial(kind, compiler::next_serial(out_dir, issued, clock::unix_millis())));
}

SerialReservation::~SerialReservation() {
    struct stat st {};
    if (m_published || ::stat(m_path.c_str(), &st) == 0) {
        return;
    }
    // Best effort: a reservation left behind only skips a serial.
    (void)m_db.release_serial(m_serial);
}

void record_published(store::Store& db, std::uint64_t serial, const std::string& path,
                      const formats::WrittenFile& written, std::int64_t created_at,
                      std::uint64_t link_count, std::uint32_t domain_count, std::int64_t audit_mark) {
    store::SnapshotRecord record;
    record.serial = serial;
    record.created_at = created_at;
    record.digest_hex = written.digest_hex;
    record.link_count = link_count;
    record.domain_count = domain_count;
    record.bytes = written.bytes;
    record.key_id = written.key_id;
    record.path = path;
    record.audit_mark = audit_mark;
    check(db.complete_snapshot(record));
}

PublishedOverlay publish_overlay(store::Store& db, const formats::SigningKey& key,
                                 const std::string& out_dir, std::uint32_t keep) {
    if (keep == 0) {
        throw Error(k_exit_usage, "--keep must be at least 1");
    }
    prepare_out_dir(out_dir);
    PublishedOverlay out;
    out.entries = deny_entries(db);
    out.serial = issue_serial(db, out_dir, "overlay", std::nullopt);
    out.path = out_dir + "/" + formats::published_file_name(formats::format::FileKind::deny, out.serial);
    SerialReservation reservation(db, out.serial, out.path);
    const std::int64_t now = clock::unix_seconds();
    out.written = unwrap(compiler::write_deny_overlay(out.path, out.entries, {out.serial, now}, key));
    record_published(db, out.serial, out.path, out.written, now);
    reservation.published();
    out.removed = unwrap(compiler::prune_published(out_dir, formats::format::FileKind::deny, keep));
    return out;
}

void print_overlay(const PublishedOverlay& overlay, bool json, const std::optional<PublishedIndex>& published) {
    if (json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("path");
        w.String(overlay.path.c_str());
        w.Key("serial");
        w.Uint64(overlay.serial);
        w.Key("entries");
        w.Uint64(overlay.entries.size());
        w.Key("bytes");
        w.Uint64(overlay.written.bytes);
        w.Key("digest");
        w.String(overlay.written.digest_hex.c_str());
        w.Key("key_id");
        w.String(overlay.written.key_id.c_str());
        w.Key("removed");
        w.StartArray();
        for (const auto& r : overlay.removed) {
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
    std::cout << overlay.path << "\nserial " << overlay.serial << ", " << overlay.entries.size()
              << (overlay.entries.size() == 1 ? " entry, " : " entries, ") << overlay.written.bytes
              << " bytes\n";
    for (const auto& r : overlay.removed) {
        std::cout << "removed " << r << "\n";
    }
    if (published) {
        print_published_index(*published, false);
    }
}

}  // namespace shortlink::cli
