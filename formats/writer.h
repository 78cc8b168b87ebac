// ContainerWriter: streams a signed container (header, section table, 64-byte aligned sections,
// digests section, Ed25519 signature; SPEC.md) into a file descriptor without holding the file in
// memory, for every file kind.
//
// The section contents are the caller's (compiler/snapshot_builder.cpp lays out a snapshot,
// compiler/deny_publish.cpp a deny overlay); this class owns the container: offsets, alignment,
// checksums, header, the block digests (hashed as the bytes stream past, so the file is never
// read back) and the signature.
//
// Usage: begin_section/append.../end_section for each section in type order, then finish() once.
// Thread-safety: none; one writer per file. Ownership: the fd stays the caller's (AtomicFile).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/container_format.h"
#include "formats/hash.h"
#include "formats/keys.h"
#include "formats/status.h"

namespace shortlink::formats {

// The header fields the caller decides. File size, section count and key id are filled in by the
// writer; the payload header is the file kind's 48 bytes (records::SnapshotHeader for a
// snapshot, zero for a deny overlay).
struct ContainerMeta {
    format::FileKind kind = format::FileKind::snapshot;
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;  // Unix seconds
    std::int64_t not_after = 0;   // Unix seconds, 0: none
    std::uint64_t base_serial = 0;
    std::array<std::uint8_t, format::k_payload_header_size> payload_header{};
};

struct WrittenFile {
    std::uint64_t bytes = 0;
    // The file digest (SPEC.md "Signature"): the SHA-256 value the signature signs, which covers
    // every byte before the signature through the block digests. Not sha256sum's value.
    std::string digest_hex;
    std::string key_id;
};

class ContainerWriter {
public:
    // `fd` must be an empty regular file open for writing. `section_count` counts the caller's
    // sections; the writer adds the digests section after them.
    ContainerWriter(int fd, std::uint32_t section_count);
    ~ContainerWriter();
    ContainerWriter(const ContainerWriter&) = delete;
    ContainerWriter& operator=(const ContainerWriter&) = delete;

    Status begin_section(format::SectionType type);
    Status append(const void* data, std::size_t length);
    Status end_section();

    // Writes the digests section, header and section table, then the signature.
    Result<WrittenFile> finish(const ContainerMeta& meta, const SigningKey& key);

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
    void pad_to_alignment();

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

// Writes a whole container whose sections are in memory: `sections` in type order.
Result<WrittenFile> write_container(int fd, const ContainerMeta& meta,
                                    const std::vector<std::pair<format::SectionType, std::string>>& sections,
                                    const SigningKey& key);

}  // namespace shortlink::formats
