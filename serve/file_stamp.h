// FileStamp: how a directory scan tells a file it has already judged from a new version of it
// (size, modification time and inode; a rename into place changes the inode, a write in place
// the size or the time). Used by the snapshot manager and the certificate directory alike.
#pragma once

#include <cstdint>

#include <sys/stat.h>

namespace shortlink::serve {

struct FileStamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;

    static FileStamp of(const struct stat& st) {
        return FileStamp{static_cast<std::uint64_t>(st.st_size),
                         static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                         static_cast<std::uint64_t>(st.st_ino)};
    }
};

}  // namespace shortlink::serve
