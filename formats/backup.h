// The backup file: a fixed header and one zstd frame holding a copy of the link database
// (SPEC.md "Backups" documents every byte). `shortlink backup` writes one, `shortlink restore
// --backup` reads one; neither knows SQLite here: the store makes and checks the database file,
// this layer only packs and unpacks its bytes.
//
// The reader is a verifier. It proves the header (magic, version, its own SHA-256, the payload
// size against the file's) before it decompresses a byte, refuses a frame that declares another
// size than the header, never writes more than the header's database size, caps zstd's window
// (k_max_window_log) so a hostile frame cannot make it allocate more, and compares the SHA-256 of
// what it wrote with the header's. Every failure names the file and what did not fit.
//
// Thread-safety: the functions are pure apart from the descriptors they are given.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/sha256.h"
#include "formats/status.h"

namespace shortlink::formats::backup {

// PNG's trick, as for snapshots (container_format.h): a high-bit byte first, so a transfer that
// strips the eighth bit or translates line ends breaks the magic, then the name.
inline constexpr std::array<std::uint8_t, 8> k_magic = {0x89, 'S', 'L', 'B', 'A', 'C', 'K', '\n'};
inline constexpr std::uint32_t k_version = 1;
inline constexpr std::size_t k_header_size = 104;

// Header fields (little-endian), at these offsets.
inline constexpr std::size_t k_off_magic = 0;            // 8 bytes
inline constexpr std::size_t k_off_version = 8;          // u32
inline constexpr std::size_t k_off_schema_version = 12;  // u32, the database's PRAGMA user_version
inline constexpr std::size_t k_off_database_bytes = 16;  // u64, size of the decompressed database
inline constexpr std::size_t k_off_payload_bytes = 24;   // u64, size of the zstd frame after the header
inline constexpr std::size_t k_off_created_at = 32;      // i64, Unix seconds
inline constexpr std::size_t k_off_database_sha256 = 40; // 32 bytes
inline constexpr std::size_t k_off_header_sha256 = 72;   // 32 bytes, of bytes 0..71

// zstd level 3 (zstd's default): a database compresses to a fraction at about disk speed.
inline constexpr int k_zstd_level = 3;
// The largest zstd window a reader accepts: 2^23 = 8 MiB, what levels up to 19 use. Bounds the
// decompressor's memory whatever a frame declares.
inline constexpr int k_max_window_log = 23;

struct Header {
    std::uint32_t version = k_version;
    std::uint32_t schema_version = 0;
    std::uint64_t database_bytes = 0;
    std::uint64_t payload_bytes = 0;
    std::int64_t created_at = 0;
    Sha256Digest database_sha256{};
};

// The header's bytes, its own SHA-256 included.
std::array<std::uint8_t, k_header_size> encode_header(const Header& header);
// Checks magic, version and the header's SHA-256. `path` names the file in messages.
// invalid_argument: not a backup (too short for a header, wrong magic); unsupported: a newer
// version; corruption: the header's checksum does not match.
Result<Header> decode_header(const std::uint8_t* bytes, std::size_t size, const std::string& path);

// Writes a backup of the database read from `database_fd` (its whole content, from offset 0) to
// `out_fd`, which must be empty and positioned at 0: a header, then the compressed frame, then
// the header rewritten with the sizes and digest. The caller fsyncs and renames (the writer
// streams, so a crash leaves only the caller's temporary file). Returns the header written.
Result<Header> write(int database_fd, const std::string& database_path, int out_fd, const std::string& out_path,
                     std::uint32_t schema_version, std::int64_t created_at);

// Reads and verifies the backup `in_fd` (`in_path` in messages). With `database_fd` >= 0, writes
// the database there from its offset 0 as it goes (the caller discards it on failure); with -1,
// only verifies. Returns the header once everything matched. corruption for a truncated file,
// extra bytes, a damaged frame, a size or digest that differs from the header's.
Result<Header> read(int in_fd, const std::string& in_path, int database_fd, const std::string& database_path);

}  // namespace shortlink::formats::backup
