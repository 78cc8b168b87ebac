// The origin index (index-<channel>.slindex, file kind 4): a small signed file naming the files
// an origin publishes on one channel (a full snapshot, optionally its newest patch and a deny
// overlay) by kind, serial, size and SHA-256, with an expiry a few minutes ahead. It plays TUF's
// timestamp role: a host that pulls from the origin trusts the key, never the origin, so a frozen
// origin (the index expires), a replayed one (the index serial goes back) or a swapped file (its
// size or digest differs) is detected. Layout: SPEC.md "Origin index".
//
// Thread-safety: an OriginIndex is immutable once opened. Ownership: it keeps its own copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/container.h"
#include "formats/container_format.h"
#include "formats/keys.h"
#include "formats/sha256.h"
#include "formats/status.h"
#include "formats/writer.h"

namespace shortlink::formats {

// One published file, as the index names it. Its name follows from kind, serial and base
// (formats/file_names.h).
struct IndexedFile {
    format::FileKind kind = format::FileKind::snapshot;
    std::uint64_t serial = 0;
    std::uint64_t base = 0;  // a patch's base snapshot; 0 otherwise
    std::uint64_t size = 0;  // bytes
    Sha256Digest sha256{};   // of the whole file, as sha256sum computes it
    // Its zstd transport form <name>.zst (formats/transport.h), when the origin offers one:
    // the compressed file's size (0: none offered) and SHA-256.
    std::uint64_t zstd_size = 0;
    Sha256Digest zstd_sha256{};

    std::string name() const;
    std::string zstd_name() const { return name() + ".zst"; }
    bool operator==(const IndexedFile&) const = default;
};

// A channel name: 1 to 32 of [a-z0-9._-], starting with a letter or digit. Empty when it is
// valid, else why not.
std::string channel_name_problem(std::string_view channel);

// "index-stable.slindex"
std::string index_file_name(std::string_view channel);

class OriginIndex {
public:
    // What an index holds, for the writer.
    struct Contents {
        std::string channel;
        std::uint64_t serial = 0;
        std::int64_t created_at = 0;  // Unix seconds
        std::int64_t expires_at = 0;  // Unix seconds, after created_at
        IndexedFile snapshot;
        std::optional<IndexedFile> patch;    // base == snapshot.serial, serial above it
        std::optional<IndexedFile> overlay;  // serial above the snapshot's and the patch's

        // The files in the order a host fetches them: snapshot, patch, overlay.
        std::vector<IndexedFile> files() const;
    };

    // Verifies an index file (container, signature against `trusted`, the files section and
    // the rules Contents lists). Errors name the file and the field. Whether it has expired is
    // the caller's question. Without `verify_signature` (inspect only) the rest is still checked.
    static Result<OriginIndex> open(const std::string& path, const TrustedKeys& trusted,
                                    bool verify_signature = true);
    static Result<OriginIndex> open_buffer(std::string_view bytes, const TrustedKeys& trusted,
                                           std::string name = "<buffer>");

    const Contents& contents() const { return m_contents; }
    const std::string& key_id() const { return m_key_id; }
    std::uint64_t bytes() const { return m_bytes; }

private:
    static Result<OriginIndex> load(std::unique_ptr<Container> file, const TrustedKeys& trusted,
                                    bool verify_signature);

    Contents m_contents;
    std::string m_key_id;
    std::uint64_t m_bytes = 0;
};

// Why `contents` cannot be an index (empty when it can): the same rules the reader applies.
std::string index_contents_problem(const OriginIndex::Contents& contents);

// Writes the index into `fd` (an empty file); the caller publishes it atomically.
Result<WrittenFile> write_origin_index(int fd, const OriginIndex::Contents& contents,
                                       const SigningKey& key);

// SHA-256 and size of the file at `path`, read in streaming fashion.
Result<std::pair<Sha256Digest, std::uint64_t>> sha256_file(const std::string& path);

}  // namespace shortlink::formats
