// shortlink backup OUT, and `shortlink restore --backup FILE` (registered by cmd_state.cpp with the
// link restore it shares a name with): a consistent copy of the database, compressed and
// checksummed (formats/backup.h), and its verified return.
//
// Both write beside their destination and rename (compiler::AtomicFile), so OUT or the database
// is either what it was or complete. A restore over an existing database copies the verified
// database into it through SQLite (store::Store::replace_contents) rather than renaming over it:
// a process that has the old file open keeps a descriptor to it and shares its -wal and -shm by
// name, so a rename would let that process write into the replaced file, or replay the old WAL
// onto the new one.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/backup_cli.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "compiler/publish.h"
#include "formats/backup.h"
#include "formats/bytes.h"
#include "formats/clock.h"
#include "formats/fd_io.h"
#include "formats/unique_fd.h"
#include "store/timefmt.h"

namespace shortlink::cli {
namespace {

struct BackupOptions {
    std::string out;
    bool force = false;
    bool json = false;
};

std::string dir_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
}

bool exists(const std::string& path, struct stat& info) { return ::stat(path.c_str(), &info) == 0; }

// Removes what SQLite may have made beside a scratch database (a failed open can leave a -shm or
// an empty -wal) when the scratch file goes, on every way out.
class ScratchSidecars {
public:
    explicit ScratchSidecars(std::string path) : m_path(std::move(path)) {}
    ~ScratchSidecars() {
        for (const char* suffix : {"-wal", "-shm", "-journal"}) {
            ::unlink((m_path + suffix).c_str());
        }
    }
    ScratchSidecars(const ScratchSidecars&) = delete;
    ScratchSidecars& operator=(const ScratchSidecars&) = delete;

private:
    std::string m_path;
};

// Throws with the status's exit code and `context` before its message.
void check_in(const Status& status, const std::string& context) {
    if (!status) {
        throw Error(exit_code_for(status), context + status.message());
    }
}

template <class T>
T unwrap_in(Result<T> result, const std::string& context) {
    check_in(result.status(), context);
    return std::move(result).value();
}

std::string describe(const formats::backup::Header& h) {
    return std::to_string(h.database_bytes) + " bytes, " +
           std::to_string(formats::backup::k_header_size + h.payload_bytes) + " compressed, sha256 " +
           formats::bytes::hex_encode(h.database_sha256.data(), h.database_sha256.size());
}

void run_backup(const BackupOptions& o, const GlobalOptions& globals) {
    if (o.out == "-") {
        throw Error(k_exit_usage, "backup writes a file (its header is completed last), not standard output: "
                                  "give a file name");
    }
    struct stat info {};
    if (exists(o.out, info)) {
        if (S_ISDIR(info.st_mode)) {
            throw Error(k_exit_usage, "backup " + o.out + " is a directory; give the backup file's name, such as " +
                                          o.out + "/shortlink.slbak");
        }
        if (!o.force) {
            throw Error(k_exit_conflict, "backup " + o.out + " already exists; pass --force to replace it");
        }
    }
    store::Store s = open_store(globals);
    // The uncompressed copy sits beside OUT (same file system, counted against its space) and is
    // never committed: its destructor removes it.
    const std::string cannot_write = "cannot write backup " + o.out + ": ";
    compiler::AtomicFile copy = unwrap_in(compiler::AtomicFile::create(o.out + ".db"), cannot_write);
    const ScratchSidecars copy_sidecars(copy.temp_path());
    check_in(s.backup_to(copy.temp_path()), "cannot back up " + globals.db_path + ": ");
    compiler::AtomicFile file = unwrap_in(compiler::AtomicFile::create(o.out), cannot_write);
    const formats::backup::Header header = unwrap(formats::backup::write(
        copy.fd(), "the copy of " + globals.db_path, file.fd(), "backup " + o.out,
        static_cast<std::uint32_t>(store::Store::schema_version()), clock::unix_seconds()));
    check(o.force ? file.commit() : file.commit_new());
    if (o.json) {
        const std::string sha256 = formats::bytes::hex_encode(header.database_sha256.data(), header.database_sha256.size());
        const std::string created = timefmt::format_time(header.created_at);
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("database");
        w.String(globals.db_path.c_str());
        w.Key("backup");
        w.String(o.out.c_str());
        w.Key("created_at");
        w.String(created.c_str());
        w.Key("schema_version");
        w.Uint(header.schema_version);
        w.Key("database_bytes");
        w.Uint64(header.database_bytes);
        w.Key("bytes");
        w.Uint64(formats::backup::k_header_size + header.payload_bytes);
        w.Key("sha256");
        w.String(sha256.c_str());
        w.EndObject();
        std::printf("%s\n", buf.GetString());
        return;
    }
    std::printf("backed up %s to %s: %s\n", globals.db_path.c_str(), o.out.c_str(), describe(header).c_str());
}

// The header alone, to size the restore before anything is written.
formats::backup::Header read_header(int fd, const std::string& path) {
    std::uint8_t head[formats::backup::k_header_size];
    const std::size_t n = unwrap(formats::read_at(fd, reinterpret_cast<char*>(head), sizeof head, 0, "backup " + path));
    return unwrap(formats::backup::decode_header(head, n, path));
}

void check_space(const std::string& dir, std::uint64_t needed) {
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) == 0) {
        const std::uint64_t available = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
        if (available < needed) {
            throw Error(k_exit_runtime, "not enough space in " + dir + " to restore: the database is " +
                                            std::to_string(needed) + " bytes, " + std::to_string(available) +
                                            " are free");
        }
    }
}

}  // namespace

void restore_from_backup(const GlobalOptions& globals, const std::string& backup_path, bool force) {
    const std::string& target = globals.db_path;
    formats::UniqueFd fd(::open(backup_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        throw Error(err == ENOENT ? k_exit_not_found : k_exit_runtime,
                    "cannot open backup " + backup_path + ": " + std::strerror(err));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        throw Error(k_exit_usage, "backup " + backup_path + " is not a regular file");
    }
    bool target_exists = exists(target, info);
    if (target_exists && !S_ISREG(info.st_mode)) {
        throw Error(k_exit_usage, "database " + target + " is not a regular file");
    }
    // A WAL without its database (a crash between a rename and its cleanup, a copied directory)
    // would be replayed onto the restored file: only --force removes it.
    const std::string wal = target + "-wal";
    const bool orphan_wal = !target_exists && exists(wal, info);
    if (!force && (target_exists || orphan_wal)) {
        throw Error(k_exit_conflict, (target_exists ? "database " + target : wal) +
                                         " exists; a restore replaces all of it: pass --force");
    }

    const formats::backup::Header expected = read_header(fd.get(), backup_path);
    check_space(dir_of(target), expected.database_bytes);
    compiler::AtomicFile copy = unwrap_in(compiler::AtomicFile::create(target), "cannot restore into " + target + ": ");
    const ScratchSidecars copy_sidecars(copy.temp_path());
    const formats::backup::Header header =
        unwrap(formats::backup::read(fd.get(), backup_path, copy.fd(), "database " + target));
    const std::string sha = formats::bytes::hex_encode(header.database_sha256.data(), header.database_sha256.size());

    // The copy is proven a shortlink database (brought to this build's schema) and whole before
    // the target is touched; its audit log then records the restore, so the restored history says
    // where it came from.
    {
        auto opened = store::Store::open(copy.temp_path());
        if (!opened && opened.status().code() == Status::Code::io_error) {
            throw Error(k_exit_runtime, "cannot check the restored copy of " + target + ": " +
                                            opened.status().message());
        }
        if (!opened) {
            // The store names the file it opened: the scratch copy, whose name means nothing here.
            std::string why = opened.status().message();
            if (const std::size_t at = why.find(copy.temp_path()); at != std::string::npos) {
                why.replace(at, copy.temp_path().size(), "the copy");
            }
            throw Error(k_exit_invalid, "backup " + backup_path + " does not hold a usable shortlink database: " + why);
        }
        store::Store s = std::move(opened).value();
        check_in(s.check_integrity(), "backup " + backup_path + " holds a damaged database: ");
        s.set_actor(globals.actor);
        const std::string named = std::filesystem::absolute(backup_path).lexically_normal().string();
        check_in(s.record_restore(named, sha, header.created_at), "cannot restore into " + target + ": ");
    }

    if (!target_exists) {
        if (orphan_wal) {
            ::unlink(wal.c_str());
            ::unlink((target + "-shm").c_str());
        }
        check_in(copy.commit_new(), "cannot restore into " + target + ": ");
    } else {
        Status replaced = store::Store::replace_contents(target, copy.temp_path());
        if (replaced.code() == Status::Code::corruption) {
            // The target is not a readable database: nothing can be using it, so the verified
            // copy takes its name, and the -wal and -shm of the damaged file go first.
            ::unlink(wal.c_str());
            ::unlink((target + "-shm").c_str());
            check_in(copy.commit(), "cannot restore into " + target + ": ");
        } else {
            check_in(replaced, "cannot restore into " + target + " (it is unchanged): ");
        }
    }
    std::printf("restored %s from %s (backup of %s): %s\n", target.c_str(), backup_path.c_str(),
                timefmt::format_time(header.created_at).c_str(), describe(header).c_str());
}

void setup_backup(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<BackupOptions>();
    CLI::App* sub = add_command(app, "backup");
    sub->add_option("OUT", o->out, "Backup file to write")->required();
    sub->add_flag("--force", o->force, "Replace OUT if it exists");
    sub->add_flag("--json", o->json, "Print what was written as one JSON object");
    sub->callback([o, &globals] { run_backup(*o, globals); });
}

}  // namespace shortlink::cli
