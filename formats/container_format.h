// Constants of the signed container that every shortlink file uses: snapshots (*.slsnap) and
// deny overlays (*.sldeny). The container owns the header, the section table, alignment, the
// section checksums, the signed block digests and the signature; what the sections hold is the
// payload's business (formats/snapshot_format.h, formats/deny_format.h).
//
// Only constants live here: formats/SPEC.md is the authority on the byte layout and says what
// every field means; change both in the same commit (leveldb's db/log_format.h does the same).
// The encoders and decoders of the records are in formats/records.h.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shortlink::formats::format {

static_assert(std::endian::native == std::endian::little,
              "shortlink files are read in place and are little-endian (SPEC.md)");

// The magic number is PNG's trick applied to our name: a byte with the high bit set first (a
// 7-bit channel or a text-mode copy damages it), then "SLSNAP", then LF (a CRLF conversion
// damages it). It reads as "\x89SLSNAP\n" in a hex dump. Every file kind shares it; the header's
// file_kind field tells them apart.
inline constexpr std::array<std::uint8_t, 8> k_magic = {0x89, 'S', 'L', 'S', 'N', 'A', 'P', '\n'};

// Format versions this build reads. A file below k_min_version is "too old", above k_version
// "too new"; both are refused with distinct errors naming the version.
// Version 2 added the signed block digests; version 3 split the container from its payloads
// (a file_kind field, one header for every kind, the deny section).
inline constexpr std::uint32_t k_version = 3;
inline constexpr std::uint32_t k_min_version = 3;

// Fixed header (bytes 0..127); the section table follows it.
inline constexpr std::size_t k_header_size = 128;
inline constexpr std::size_t k_off_magic = 0;           // 8 bytes
inline constexpr std::size_t k_off_version = 8;         // u32
inline constexpr std::size_t k_off_header_size = 12;    // u32, always k_header_size
inline constexpr std::size_t k_off_file_size = 16;      // u64, whole file incl. signature
inline constexpr std::size_t k_off_serial = 24;         // u64
inline constexpr std::size_t k_off_created_at = 32;     // i64 Unix seconds
inline constexpr std::size_t k_off_not_after = 40;      // i64 Unix seconds, 0: none
inline constexpr std::size_t k_off_key_id = 48;         // 8 bytes
inline constexpr std::size_t k_off_file_kind = 56;      // u32, FileKind
inline constexpr std::size_t k_off_section_count = 60;  // u32
inline constexpr std::size_t k_off_base_serial = 64;    // u64, a patch's base snapshot; else 0
inline constexpr std::size_t k_off_reserved = 72;       // 8 zero bytes
inline constexpr std::size_t k_off_payload_header = 80; // 48 bytes the file kind defines
inline constexpr std::size_t k_payload_header_size = k_header_size - k_off_payload_header;

inline constexpr std::size_t k_key_id_size = 8;

enum class FileKind : std::uint32_t {
    snapshot = 1,  // links-<serial>.slsnap: every link, indexed by a perfect hash
    deny = 2,      // deny-<serial>.sldeny: the whole current deny set
    patch = 3,     // patch-<base>-<serial>.slpatch: every link changed since snapshot <base>
    index = 4,     // index-<channel>.slindex: an origin's current files, with an expiry
};

inline constexpr std::string_view file_kind_name(std::uint32_t kind) {
    switch (kind) {
    case 1: return "snapshot";
    case 2: return "deny overlay";
    case 3: return "patch";
    case 4: return "origin index";
    default: return "unknown";
    }
}

// Section table entry: u32 type, u32 zero, u64 offset, u64 length, u64 checksum.
inline constexpr std::size_t k_section_entry_size = 32;
inline constexpr std::uint32_t k_max_sections = 16;

// Sections start at multiples of 64 bytes (a cache line) so fixed records never straddle lines.
inline constexpr std::size_t k_alignment = 64;

// The Ed25519 signature occupies the last 64 bytes of the file.
inline constexpr std::size_t k_signature_size = 64;
// The signed message is this context string, a NUL, then the file digest: SHA-256 of the bytes
// before the first section followed by the bytes from the digests section to the signature
// (SPEC.md "Signature"). The block digests inside the latter cover every other byte; the header
// (file kind included) is signed directly.
inline constexpr std::string_view k_signature_context = "shortlink signed file v3";

// The digests section: a 64-byte header, then one SHA-256 per block of the content region (the
// bytes from the first section up to the digests section). Readers accept block sizes between
// k_min_block_size and k_max_block_size, powers of two; the writer uses k_block_size.
inline constexpr std::size_t k_digests_header_size = 64;
inline constexpr std::size_t k_block_digest_size = 32;
inline constexpr std::uint64_t k_block_size = 64 * 1024;
inline constexpr std::uint64_t k_min_block_size = 4 * 1024;
inline constexpr std::uint64_t k_max_block_size = 16 * 1024 * 1024;

// Section checksums chain hash128 (formats/hash.h) over chunks of this many bytes.
inline constexpr std::size_t k_checksum_chunk = 64 * 1024;
inline constexpr std::uint64_t k_checksum_seed = 0x736c736e61707631;  // "slsnapv1"

// Section types, one registry for every file kind (which kind allows which is in SPEC.md and
// in each payload's reader). The digests section is always the last one.
enum class SectionType : std::uint32_t {
    domains = 1,
    index = 2,     // the perfect hash: parameters and one pilot byte per bucket
    slots = 3,     // fixed-size slot records
    strings = 4,   // variable-length link records: lengths, times, code, destination
    rules = 5,     // reserved: compiled rules
    deny = 6,      // the deny set: blocked links, suspended domains, blocked destination hosts
    files = 7,     // an origin index's list of the files it publishes
    policies = 8,  // per-domain fallbacks, 404/410 texts and cache directives (snapshots, patches)
    digests = 15,  // signed SHA-256 of every content block; always the last section
};
inline constexpr std::uint32_t k_max_section_type = 15;

inline constexpr std::string_view section_name(std::uint32_t type) {
    switch (type) {
    case 1: return "domains";
    case 2: return "index";
    case 3: return "slots";
    case 4: return "strings";
    case 5: return "rules";
    case 6: return "deny";
    case 7: return "files";
    case 8: return "policies";
    case 15: return "digests";
    default: return "unknown";
    }
}

}  // namespace shortlink::formats::format
