// SnapshotWriter: streams a snapshot container (header, section table, 64-byte aligned sections,
// Ed25519 signature; SPEC.md) into a file descriptor without holding the file in memory.
//
// The section contents are the caller's (compiler/snapshot_builder.cpp lays them out); this class
// owns the container: offsets, alignment, checksums, header, the block digests (section 7, hashed
// as the bytes stream past, so the file is never read back) and the signature.
//
// Usage: begin_section/append.../end_section for each section in type order, then finish() once.
// Thread-safety: none; one writer per file. Ownership: the fd stays the caller's (AtomicFile).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/hash.h"
#include "formats/keys.h"
#include "formats/snapshot_format.h"
#include "formats/status.h"

namespace shortlink::formats {

// The header fields the caller decides. file size, counts of sections, key id and the hash
// function id are filled in by the writer.
struct SnapshotHeader {
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;  // Unix seconds
    std::int64_t not_after = 0;   // Unix seconds, 0: none
    std::uint64_t link_count = 0;
    std::uint32_t domain_count = 0;
    std::uint64_t hash_seed = 0;
};

struct WrittenSnapshot {
    std::uint64_t bytes = 0;
    // The snapshot digest (SPEC.md "Signature"): the SHA-256 value the signature signs, which
    // covers every byte before the signature through the block digests. Not sha256sum's value.
    std::string sha256_hex;
    std::string key_id;
};

class SnapshotWriter {
public:
    // `fd` must be an empty regular file open for writing. `section_count` counts the caller's
    // sections; the writer adds the digests section after them.
    SnapshotWriter(int fd, std::uint32_t section_count);
    ~SnapshotWriter();
    SnapshotWriter(const SnapshotWriter&) = delete;
    SnapshotWriter& operator=(const SnapshotWriter&) = delete;

    Status begin_section(format::SectionType type);
    Status append(const void* data, std::size_t length);
    Status end_section();

    // Writes the digests section, header and section table, then the signature.
    Result<WrittenSnapshot> finish(const SnapshotHeader& header, const SigningKey& key);

private:
    class BlockDigests;  // SHA-256 per block of the content region, fed by flush()
    struct Entry {
        std::uint32_t type = 0;
        std::uint64_t offset = 0;
        std::uint64_t length = 0;
        std::uint64_t checksum = 0;
    };

    Status write_at(std::uint64_t offset, const void* data, std::size_t length);
    Status flush();
    Status pad_to_alignment();

    int m_fd;
    std::uint32_t m_section_count;
    std::vector<Entry> m_entries;
    std::uint64_t m_pos = 0;  // logical end of what was appended (buffer included)
    std::vector<std::uint8_t> m_buffer;
    std::uint64_t m_buffer_start = 0;
    std::unique_ptr<Checksum> m_checksum;
    std::unique_ptr<BlockDigests> m_blocks;
    bool m_in_section = false;
    Status m_failed;  // sticky: the first error
};

}  // namespace shortlink::formats
