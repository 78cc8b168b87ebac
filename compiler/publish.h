// Atomic publication of snapshot files into a directory.
//
// A reader (serve's directory watcher, rsync) must never see half a file under a final name:
// the file is written under a temporary name in the same directory, fsynced, renamed over the
// final name, and the directory is fsynced so the rename survives a crash (ccache's AtomicFile).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/status.h"

namespace shortlink::compiler {

// A file being written under a temporary name ".<final name>.tmp.<random>" beside its final
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

    // fsync the file, rename it to the final path, fsync the directory.
    Status commit();

private:
    AtomicFile(int fd, std::string temp_path, std::string final_path);

    int m_fd = -1;
    std::string m_temp_path;
    std::string m_final_path;
    bool m_committed = false;
};

// "links-<serial>.slsnap"
std::string snapshot_file_name(std::uint64_t serial);

// Serials of the snapshot files in `dir`, ascending (files named links-<serial>.slsnap).
Result<std::vector<std::uint64_t>> list_snapshot_serials(const std::string& dir);

// Removes all but the newest `keep` snapshot files in `dir` (keep >= 1). Returns removed paths.
Result<std::vector<std::string>> prune_snapshots(const std::string& dir, std::uint32_t keep);

// fsync of a directory, so renames and unlinks in it are durable.
Status fsync_directory(const std::string& dir);

}  // namespace shortlink::compiler
