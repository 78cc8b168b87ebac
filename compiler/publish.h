// Atomic publication of snapshot files into a directory.
//
// A reader (serve's directory watcher, rsync) must never see half a file under a final name:
// the file is written under a temporary name in the same directory, fsynced, renamed over the
// final name, and the directory is fsynced so the rename survives a crash (ccache's AtomicFile).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "formats/file_names.h"
#include "formats/status.h"

namespace shortlink::compiler {

// A file being written under a temporary name ".<final name>.tmp.<pid>.<random>" beside its final
// path. commit() makes it appear under the final name; if the object dies without commit(), its
// destructor removes the temporary file.
//
// Thread-safety: none. Ownership: owns the descriptor and the temporary file until commit().
class AtomicFile {
public:
    static Result<AtomicFile> create(const std::string& final_path);

    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&&) = delete;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    ~AtomicFile();

    int fd() const { return m_fd; }
    const std::string& temp_path() const { return m_temp_path; }
    const std::string& final_path() const { return m_final_path; }
    // `status` from writing this file, naming it: an I/O error that does not name a file gets
    // the final path in front ("out/links-1.slsnap: write: No space left on device").
    Status named(Status status) const;

    // fsync the file, rename it to the final path, fsync the directory.
    Status commit();
    // commit(), but conflict when something already exists at the final path, decided atomically
    // by the rename itself (RENAME_NOREPLACE): the temporary file is kept for the destructor.
    Status commit_new();

private:
    AtomicFile(int fd, std::string temp_path, std::string final_path);
    Status commit(bool replace);

    int m_fd = -1;
    std::string m_temp_path;
    std::string m_final_path;
    bool m_committed = false;
};

// Every published file in `dir` (formats/file_names.h), by serial; empty when `dir` does not
// exist. Temporary files and other names are left out.
std::vector<formats::PublishedName> list_published(const std::string& dir);

// The highest serial of any published file in `dir`; 0 when there is none.
std::uint64_t highest_published_serial(const std::string& dir);

// The serial of the next file published into `dir` (SPEC.md "Serials"): above the clock in
// milliseconds, above every serial the database issued (`issued`), and above every file in `dir`,
// so a fresh database, a restored backup or a second CI runner never goes back.
std::uint64_t next_serial(const std::string& dir, std::uint64_t issued, std::int64_t now_ms);

// Removes all but the newest `keep` files of `kind` in `dir` (keep >= 1), never one named in
// `protect` (an origin index still names it). Returns removed paths.
Result<std::vector<std::string>> prune_published(const std::string& dir,
                                                 formats::format::FileKind kind,
                                                 std::uint32_t keep,
                                                 const std::set<std::string>& protect = {});

// Removes the patches in `dir` whose base snapshot is no longer there (a full compile retired
// them), and all but the newest `keep` of the others (each holds every change since its base, so
// the newest supersedes the older ones), never one named in `protect`. Returns removed paths.
Result<std::vector<std::string>> prune_patches(const std::string& dir, std::uint32_t keep,
                                              const std::set<std::string>& protect = {});

// Removes the temporary files in `dir` that an AtomicFile of a process that no longer runs left
// behind (a compile killed mid-way). Returns removed paths.
Result<std::vector<std::string>> remove_stale_temp_files(const std::string& dir);

// fsync of a directory, so renames and unlinks in it are durable.
Status fsync_directory(const std::string& dir);

}  // namespace shortlink::compiler
