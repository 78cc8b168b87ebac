// The zstd transport form of a published file (`<name>.zst`, SPEC.md "Origin index", section 7):
// one zstd frame (RFC 8878) of the file's bytes, offered by an origin beside the plain file. The
// index gives both sizes and both SHA-256s, so a host decompresses while the body streams in,
// with memory bounded by the frame's window, and never produces a byte past the plain size.
//
// Thread-safety: one ZstdInflater per transfer. Ownership: each owns its zstd context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "formats/status.h"

namespace shortlink::formats {

// The largest window a frame may ask for: 16 MiB of history, so a host decompresses in about
// 17 MiB whatever the origin sends. zstd's levels up to 19 use at most 8 MiB windows.
inline constexpr int k_transport_window_log_max = 24;

// The window the writer uses: 4 MiB, well inside what a host accepts.
inline constexpr int k_transport_window_log = 22;

// The level `publish --zstd` compresses at: level 3 (zstd's default) keeps a 1 GB snapshot
// under a few seconds of CPU on two threads and saves most of what higher levels would.
inline constexpr int k_transport_zstd_level = 3;

// Streaming decompression of one frame into at most `plain_size` bytes.
class ZstdInflater {
public:
    enum class Problem {
        none,
        bad_frame,  // not zstd, damaged, truncated at finish(), a window too large, bytes after it
        too_large,  // it decompresses to more than plain_size bytes (a zstd bomb)
    };
    using Sink = std::function<void(const char*, std::size_t)>;

    explicit ZstdInflater(std::uint64_t plain_size);
    ~ZstdInflater();
    ZstdInflater(const ZstdInflater&) = delete;
    ZstdInflater& operator=(const ZstdInflater&) = delete;

    // Decompresses `n` more compressed bytes, handing each decompressed piece to `sink` (which may
    // throw: the inflater is then unusable). Returns false with problem() and detail() set on
    // the first problem; every later call fails the same way.
    bool feed(const char* data, std::size_t n, const Sink& sink);
    // After the last byte: the frame must be complete and have produced exactly plain_size bytes.
    bool finish();

    Problem problem() const { return m_problem; }
    const std::string& detail() const { return m_detail; }
    std::uint64_t produced() const { return m_produced; }

private:
    bool fail(Problem p, std::string detail);

    struct Context;
    std::unique_ptr<Context> m_context;
    std::uint64_t m_plain_size;
    std::uint64_t m_produced = 0;
    bool m_frame_done = false;
    Problem m_problem = Problem::none;
    std::string m_detail;
};

// Compresses the file `from_fd` (of `size` bytes, read from offset 0) into `to_fd` as one frame
// at `level`, with the content size and checksum in the frame, on up to `threads` threads.
// Returns the compressed size.
Result<std::uint64_t> zstd_compress_fd(int from_fd, std::uint64_t size, int to_fd, int level, int threads);

}  // namespace shortlink::formats
