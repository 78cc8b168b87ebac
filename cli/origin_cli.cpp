#include "cli/origin_cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/errors.h"
#include "cli/probe_cli.h"
#include "cli/publish_cli.h"
#include "cli/snapshot_cli.h"
#include "compiler/publish.h"
#include "formats/bytes.h"
#include "formats/clock.h"
#include "formats/file_names.h"
#include "formats/transport.h"
#include "formats/unique_fd.h"
#include "store/timefmt.h"

namespace shortlink::cli {

namespace {

namespace fmt = formats::format;

std::string hex(const formats::Sha256Digest& d) { return formats::bytes::hex_encode(d.data(), d.size()); }

// Copies `from` to `to` atomically (temp file, fsync, rename). A file already at `to` with the
// same bytes is left alone; one with other bytes is a conflict: a published name never changes
// what it holds, or a host that fetched the old bytes would hold a file no index vouches for.
bool copy_published(const std::string& from, const std::string& to) {
    const auto source = unwrap(formats::sha256_file(from));
    struct stat st {};
    if (::stat(to.c_str(), &st) == 0) {
        const auto existing = unwrap(formats::sha256_file(to));
        if (existing == source) {
            return false;
        }
        throw Error(k_exit_conflict, to + " holds other bytes than " + from +
                                         ": a published file is never replaced; remove it first");
    }
    formats::UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) {
        throw Error(k_exit_runtime, from + ": cannot open: " + std::strerror(errno));
    }
    auto out = unwrap(compiler::AtomicFile::create(to));
    std::uint64_t left = source.second;
    while (left > 0) {
        const ssize_t n = ::copy_file_range(in.get(), nullptr, out.fd(), nullptr, left, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw Error(k_exit_runtime, to + ": copy from " + from + ": " +
                                            (n < 0 ? std::strerror(errno) : "the file shrank"));
        }
        left -= static_cast<std::uint64_t>(n);
    }
    check(out.commit());
    // What was copied is what was hashed: a source rewritten in between would show here.
    if (unwrap(formats::sha256_file(to)) != source) {
        throw Error(k_exit_runtime, from + " changed while it was copied to " + to);
    }
    return true;
}

formats::IndexedFile describe(const std::string& dir, fmt::FileKind kind, std::uint64_t serial,
                              std::uint64_t base) {
    formats::IndexedFile f;
    f.kind = kind;
    f.serial = serial;
    f.base = base;
    const auto [digest, size] = unwrap(formats::sha256_file(dir + "/" + f.name()));
    f.sha256 = digest;
    f.size = size;
    return f;
}

// Offers f's zstd transport form: compresses DIR/<name> into DIR/<name>.zst unless it is there
// (a published name never changes its bytes, so neither does its compressed form), and names it
// in f. A form that saves nothing is not offered.
void offer_zstd(const std::string& dir, formats::IndexedFile& f) {
    const std::string plain = dir + "/" + f.name();
    const std::string packed = dir + "/" + f.zstd_name();
    struct stat st {};
    if (::stat(packed.c_str(), &st) != 0) {
        formats::UniqueFd in(::open(plain.c_str(), O_RDONLY | O_CLOEXEC));
        if (in.get() < 0) {
            throw Error(k_exit_runtime, plain + ": cannot open: " + std::strerror(errno));
        }
        auto out = unwrap(compiler::AtomicFile::create(packed));
        const int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
        auto written = formats::zstd_compress_fd(in.get(), f.size, out.fd(), formats::k_transport_zstd_level, threads);
        if (!written) {
            check(out.named(written.status()));
        }
        const Status committed = out.commit_new();
        if (!committed && committed.code() != Status::Code::conflict) {  // conflict: another publish made it
            check(committed);
        }
    }
    const auto [digest, size] = unwrap(formats::sha256_file(packed));
    if (size < f.size) {
        f.zstd_size = size;
        f.zstd_sha256 = digest;
    }
}

// Checks that the files an index names, and their compressed forms, are in `dir` with the sizes
// it gives: what refresh and promote re-sign must still be there.
void check_named_files(const std::string& dir, const formats::OriginIndex::Contents& c, const std::string& what) {
    for (const formats::IndexedFile& f : c.files()) {
        for (const auto& [name, size] : {std::pair{f.name(), f.size}, std::pair{f.zstd_name(), f.zstd_size}}) {
            if (size == 0) {
                continue;
            }
            const std::string file = dir + "/" + name;
            struct stat st {};
            if (::stat(file.c_str(), &st) != 0) {
                throw Error(k_exit_not_found, what + " names " + name + ", which is gone: publish again");
            }
            if (static_cast<std::uint64_t>(st.st_size) != size) {
                throw Error(k_exit_invalid, file + " is " + std::to_string(st.st_size) + " bytes where " + what +
                                                " says " + std::to_string(size) + ": publish again");
            }
        }
    }
}

// The current index of the channel, if one verifies; a warning for one that does not.
std::optional<formats::OriginIndex> current_index(const std::string& path, const formats::TrustedKeys& trusted,
                                                  bool required) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
        if (required) {
            throw Error(k_exit_not_found, path + ": no such index to refresh; run publish without --refresh");
        }
        return std::nullopt;
    }
    auto index = formats::OriginIndex::open(path, trusted);
    if (!index) {
        if (required) {
            throw Error(exit_code_for(index.status()), index.status().message());
        }
        std::cerr << "shortlink: warning: replacing an index that does not verify: "
                  << index.status().message() << "\n";
        return std::nullopt;
    }
    return std::move(index).value();
}

// Every file an index of any channel in `dir` names (indexes that do not verify name nothing).
std::set<std::string> files_named_by_indexes(const std::string& dir, const formats::TrustedKeys& trusted) {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with("index-") || !name.ends_with(".slindex")) {
            continue;
        }
        if (auto index = formats::OriginIndex::open(entry.path().string(), trusted)) {
            for (const formats::IndexedFile& f : index->contents().files()) {
                names.insert(f.name());
            }
        }
    }
    return names;
}

// The highest serial of any index in `dir` that verifies (0: none).
std::uint64_t highest_index_serial(const std::string& dir, const formats::TrustedKeys& trusted) {
    std::uint64_t highest = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("index-") && name.ends_with(".slindex")) {
            if (auto index = formats::OriginIndex::open(entry.path().string(), trusted)) {
                highest = std::max(highest, index->contents().serial);
            }
        }
    }
    return highest;
}

void check_channel(const std::string& option, const std::string& channel) {
    if (std::string why = formats::channel_name_problem(channel); !why.empty()) {
        throw Error(k_exit_usage, option + " " + channel + ": " + why);
    }
}

void check_request(const OriginRequest& r) {
    check_channel("--channel", r.channel);
    if (r.expires_at <= clock::unix_seconds()) {
        throw Error(k_exit_usage, "--expires must be in the future");
    }
    if (r.keep == 0) {
        throw Error(k_exit_usage, "--keep must be at least 1");
    }
}

PublishedIndex write_index(const OriginRequest& r, formats::OriginIndex::Contents contents,
                           const std::optional<formats::OriginIndex>& previous,
                           const formats::SigningKey& key) {
    const std::int64_t now = clock::unix_seconds();
    contents.channel = r.channel;
    contents.created_at = now;
    contents.expires_at = r.expires_at;
    // The serial only goes up, so a host can refuse an older index that an origin replays. The
    // clock alone would go back on a publisher whose clock is behind the last one's: the serial
    // is also above every index in the directory (of any channel, a copy of the origin's current
    // one included), every file there and every file it names.
    std::uint64_t floor = std::max<std::uint64_t>(previous ? previous->contents().serial : 0,
                                                  compiler::highest_published_serial(r.out_dir));
    floor = std::max(floor, highest_index_serial(r.out_dir, {key.trusted()}));
    for (const formats::IndexedFile& f : contents.files()) {
        floor = std::max(floor, f.serial);
    }
    if (floor == std::numeric_limits<std::uint64_t>::max()) {
        throw Error(k_exit_conflict, "an index or file in " + r.out_dir + " holds the highest serial there is");
    }
    contents.serial = std::max<std::uint64_t>(static_cast<std::uint64_t>(clock::unix_millis()), floor + 1);
    PublishedIndex out;
    out.path = r.out_dir + "/" + formats::index_file_name(r.channel);
    auto file = unwrap(compiler::AtomicFile::create(out.path));
    auto written = formats::write_origin_index(file.fd(), contents, key);
    if (!written) {
        check(file.named(written.status()));
    }
    auto reopened = formats::OriginIndex::open(file.temp_path(), {key.trusted()});
    if (!reopened || reopened->contents().files() != contents.files()) {
        throw Error(k_exit_runtime, "self-check: the written index does not read back: " +
                                        (reopened ? "other files" : reopened.status().message()));
    }
    check(file.commit());
    out.contents = std::move(contents);
    return out;
}

}  // namespace

PublishedIndex publish_origin(const OriginRequest& r, const formats::SigningKey& key) {
    check_request(r);
    prepare_out_dir(r.out_dir);
    const formats::TrustedKeys trusted{key.trusted()};
    const std::string& source = r.from_dir.empty() ? r.out_dir : r.from_dir;
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        throw Error(k_exit_not_found, source + ": no such directory");
    }
    const auto snapshot = newest_snapshot(source, trusted);
    if (!snapshot) {
        throw Error(k_exit_not_found, source + ": no snapshot there verifies against key " +
                                          key.key_id() + "; compile into it first");
    }
    const auto patch = newest_patch(source, *snapshot, trusted);
    std::uint64_t newest = patch ? patch->serial() : snapshot->serial();
    auto overlay = newest_overlay(source, trusted, true);
    if (overlay && overlay->serial() <= newest) {
        overlay.reset();  // the snapshot or patch carries a newer deny set
    }

    PublishedIndex copied;
    std::vector<std::pair<fmt::FileKind, std::pair<std::uint64_t, std::uint64_t>>> chosen{
        {fmt::FileKind::snapshot, {snapshot->serial(), 0}}};
    if (patch) {
        chosen.push_back({fmt::FileKind::patch, {patch->serial(), patch->base_serial()}});
    }
    if (overlay) {
        chosen.push_back({fmt::FileKind::deny, {overlay->serial(), 0}});
    }
    formats::OriginIndex::Contents contents;
    for (const auto& [kind, serials] : chosen) {
        const std::string name = formats::published_file_name(kind, serials.first, serials.second);
        if (!r.from_dir.empty() && copy_published(r.from_dir + "/" + name, r.out_dir + "/" + name)) {
            copied.copied.push_back(r.out_dir + "/" + name);
        }
        formats::IndexedFile f = describe(r.out_dir, kind, serials.first, serials.second);
        if (r.zstd) {
            offer_zstd(r.out_dir, f);
        }
        switch (kind) {
        case fmt::FileKind::snapshot: contents.snapshot = f; break;
        case fmt::FileKind::patch: contents.patch = f; break;
        default: contents.overlay = f; break;
        }
    }
    if (!copied.copied.empty()) {
        check(compiler::fsync_directory(r.out_dir));
    }
    const auto previous = current_index(r.out_dir + "/" + formats::index_file_name(r.channel), trusted, false);
    PublishedIndex out = write_index(r, std::move(contents), previous, key);
    out.copied = std::move(copied.copied);
    if (!r.from_dir.empty()) {
        // Older files go only after the index that stopped naming them is in place, and never
        // one that another channel's index still names.
        const std::set<std::string> named = files_named_by_indexes(r.out_dir, trusted);
        for (fmt::FileKind kind : {fmt::FileKind::snapshot, fmt::FileKind::deny}) {
            for (std::string& path : unwrap(compiler::prune_published(r.out_dir, kind, r.keep, named))) {
                out.removed.push_back(std::move(path));
            }
        }
        for (std::string& path : unwrap(compiler::prune_patches(r.out_dir, r.keep, named))) {
            out.removed.push_back(std::move(path));
        }
    }
    return out;
}

PublishedIndex refresh_origin(const OriginRequest& r, const formats::SigningKey& key) {
    check_request(r);
    const formats::TrustedKeys trusted{key.trusted()};
    const std::string path = r.out_dir + "/" + formats::index_file_name(r.channel);
    const auto previous = current_index(path, trusted, true);
    check_named_files(r.out_dir, previous->contents(), path);
    PublishedIndex out = write_index(r, previous->contents(), previous, key);
    out.refreshed = true;
    return out;
}

void add_publish_after_options(CLI::App& command, PublishAfter& o) {
    CLI::Option* dir = command.add_option(
        "--publish", o.dir,
        "Then publish --out into this origin directory, as 'publish --from OUT --out DIR' would");
    command.add_option("--channel", o.channel, "With --publish: the channel whose index to write (stable)")
        ->needs(dir);
    command.add_option("--expires", o.expires,
                       "With --publish: when the index expires, a duration (5m) or an RFC 3339 time (5m)")
        ->needs(dir);
    command.add_flag("--zstd", o.zstd, "With --publish: also offer each file compressed (<name>.zst)")->needs(dir);
}

void check_publish_after(const PublishAfter& o) {
    if (o.dir.empty()) {
        return;
    }
    check_channel("--channel", o.channel);
    if (time_arg(o.expires, "--expires") <= clock::unix_seconds()) {
        throw Error(k_exit_usage, "--expires must be in the future");
    }
}

std::optional<PublishedIndex> publish_after(const PublishAfter& o, const std::string& out_dir, std::uint32_t keep,
                                            const formats::SigningKey& key) {
    if (o.dir.empty()) {
        return std::nullopt;
    }
    std::error_code ec;
    OriginRequest request;
    request.out_dir = o.dir;
    request.from_dir = std::filesystem::equivalent(out_dir, o.dir, ec) ? "" : out_dir;
    request.channel = o.channel;
    request.expires_at = time_arg(o.expires, "--expires");
    request.keep = keep;
    request.zstd = o.zstd;
    try {
        return publish_origin(request, key);
    } catch (const Error& e) {
        throw Error(e.exit_code(), std::string(e.what()) + " (" + out_dir + " holds what was written; publish it with " +
                                  "'shortlink publish --key KEY --from " + out_dir + " --out " + o.dir + "')");
    }
}

std::vector<ProbeCheck> read_probe_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw Error(k_exit_not_found, "--probe-file " + path + ": cannot open");
    }
    std::vector<ProbeCheck> checks;
    std::string text;
    for (std::size_t line = 1; std::getline(in, text); ++line) {
        std::istringstream words(text);
        ProbeCheck c;
        c.line = line;
        if (!(words >> c.url) || c.url.front() == '#') {
            continue;
        }
        const std::string where = path + ": line " + std::to_string(line) + ": ";
        if (!(words >> c.location)) {
            throw Error(k_exit_usage, where + "expected URL LOCATION [STATUS]");
        }
        std::string status;
        if (words >> status) {
            if (status.size() != 3 || status.find_first_not_of("0123456789") != std::string::npos ||
                status < "100" || status > "599") {
                throw Error(k_exit_usage, where + "'" + status + "' is not an HTTP status (100-599)");
            }
            c.status = std::stoi(status);
        }
        if (std::string extra; words >> extra) {
            throw Error(k_exit_usage, where + "unexpected '" + extra + "' after the status");
        }
        if (!c.url.starts_with("http://") && !c.url.starts_with("https://")) {
            throw Error(k_exit_usage, where + "'" + c.url + "' is not an http:// or https:// URL");
        }
        checks.push_back(std::move(c));
    }
    if (checks.empty()) {
        throw Error(k_exit_usage, "--probe-file " + path + ": no checks in it");
    }
    return checks;
}

PublishedIndex promote_origin(const PromoteRequest& r, const formats::SigningKey& key) {
    check_channel("--from", r.from_channel);
    check_channel("--to", r.to_channel);
    if (r.from_channel == r.to_channel) {
        throw Error(k_exit_usage, "--from and --to name the same channel");
    }
    if (r.expires_at <= clock::unix_seconds()) {
        throw Error(k_exit_usage, "--expires must be in the future");
    }
    const formats::TrustedKeys trusted{key.trusted()};
    const auto from = current_index(r.out_dir + "/" + formats::index_file_name(r.from_channel), trusted, true);
    if (from->contents().expires_at <= clock::unix_seconds()) {
        throw Error(k_exit_invalid, "the " + r.from_channel + " index expired at " +
                                        timefmt::format_time(from->contents().expires_at) +
                                        ": refresh or publish it before promoting it");
    }
    check_named_files(r.out_dir, from->contents(), "the " + r.from_channel + " index");
    std::size_t passed = 0;
    for (const ProbeCheck& c : r.checks) {
        const std::string problem = check_answer(c.url, c.location, c.status, r.probe_timeout_s, r.ca);
        if (!problem.empty()) {
            throw Error(k_exit_invalid, "not promoted: check on line " + std::to_string(c.line) + " failed: " + problem);
        }
        ++passed;
    }
    OriginRequest to;
    to.out_dir = r.out_dir;
    to.channel = r.to_channel;
    to.expires_at = r.expires_at;
    const auto previous = current_index(r.out_dir + "/" + formats::index_file_name(r.to_channel), trusted, false);
    PublishedIndex out = write_index(to, from->contents(), previous, key);
    out.promoted_from = r.from_channel;
    out.checks_passed = passed;
    return out;
}

void write_indexed_files(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::vector<formats::IndexedFile>& files) {
    w.StartArray();
    for (const formats::IndexedFile& f : files) {
        w.StartObject();
        w.Key("name");
        w.String(f.name().c_str());
        w.Key("kind");
        w.String(std::string(fmt::file_kind_name(static_cast<std::uint32_t>(f.kind))).c_str());
        w.Key("serial");
        w.Uint64(f.serial);
        w.Key("bytes");
        w.Uint64(f.size);
        w.Key("sha256");
        w.String(hex(f.sha256).c_str());
        w.Key("zstd");  // its compressed transport form, when offered
        if (f.zstd_size == 0) {
            w.Null();
        } else {
            w.StartObject();
            w.Key("name");
            w.String(f.zstd_name().c_str());
            w.Key("bytes");
            w.Uint64(f.zstd_size);
            w.Key("sha256");
            w.String(hex(f.zstd_sha256).c_str());
            w.EndObject();
        }
        w.EndObject();
    }
    w.EndArray();
}

void write_published_index(rapidjson::Writer<rapidjson::StringBuffer>& w, const PublishedIndex& p) {
    const auto& c = p.contents;
    w.StartObject();
    w.Key("index");
    w.String(p.path.c_str());
    w.Key("channel");
    w.String(c.channel.c_str());
    w.Key("serial");
    w.Uint64(c.serial);
    w.Key("expires_at");
    w.String(timefmt::format_time(c.expires_at).c_str());
    w.Key("refreshed");
    w.Bool(p.refreshed);
    w.Key("promoted_from");
    if (p.promoted_from.empty()) {
        w.Null();
    } else {
        w.String(p.promoted_from.c_str());
    }
    w.Key("checks_passed");
    w.Uint64(p.checks_passed);
    w.Key("files");
    write_indexed_files(w, c.files());
    for (const auto& [key, list] : {std::pair{"copied", &p.copied}, std::pair{"removed", &p.removed}}) {
        w.Key(key);
        w.StartArray();
        for (const std::string& s : *list) {
            w.String(s.c_str());
        }
        w.EndArray();
    }
    w.EndObject();
}

void print_published_index(const PublishedIndex& p, bool json) {
    const auto& c = p.contents;
    if (json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        write_published_index(w, p);
        std::cout << buf.GetString() << "\n";
        return;
    }
    for (const std::string& s : p.copied) {
        std::cout << "copied " << s << "\n";
    }
    if (!p.promoted_from.empty()) {
        std::cout << p.checks_passed << (p.checks_passed == 1 ? " check" : " checks") << " passed; "
                  << c.channel << " now serves what " << p.promoted_from << " serves\n";
    }
    std::cout << p.path << (p.refreshed ? " (refreshed)" : "") << "\nserial " << c.serial << ", channel "
              << c.channel << ", expires " << timefmt::format_time(c.expires_at) << "\n";
    for (const formats::IndexedFile& f : c.files()) {
        std::cout << "  " << f.name() << "  " << human_bytes(f.size) << "  sha256 " << hex(f.sha256) << "\n";
        if (f.zstd_size != 0) {
            std::cout << "  " << f.zstd_name() << "  " << human_bytes(f.zstd_size) << "  sha256 " << hex(f.zstd_sha256)
                      << "\n";
        }
    }
    for (const std::string& s : p.removed) {
        std::cout << "removed " << s << "\n";
    }
}

}  // namespace shortlink::cli
