// Constants shared by the snapshot writer (formats/writer.cpp) and reader (formats/reader.cpp).
//
// Only constants live here: formats/SPEC.md is the authority on the byte layout and says what
// every field means; change both in the same commit (leveldb's db/log_format.h does the same).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shortlink::formats::format {

static_assert(std::endian::native == std::endian::little,
              "the snapshot is read in place and is little-endian (SPEC.md)");

// The magic number is PNG's trick applied to our name: a byte with the high bit set first (a
// 7-bit channel or a text-mode copy damages it), then "SLSNAP", then LF (a CRLF conversion
// damages it). It reads as "\x89SLSNAP\n" in a hex dump.
inline constexpr std::array<std::uint8_t, 8> k_magic = {0x89, 'S', 'L', 'S', 'N', 'A', 'P', '\n'};

// Format versions this build reads. A file below k_min_version is "too old", above k_version
// "too new"; both are refused with distinct errors.
// Version 2 added the signed block digests (section 7) that let a server answer before it has
// hashed the whole file; a version-1 file has no digests section and is "too old".
inline constexpr std::uint32_t k_version = 2;
inline constexpr std::uint32_t k_min_version = 2;

// Fixed header (bytes 0..127); the section table follows it.
inline constexpr std::size_t k_header_size = 128;
inline constexpr std::size_t k_off_magic = 0;           // 8 bytes
inline constexpr std::size_t k_off_version = 8;         // u32
inline constexpr std::size_t k_off_header_size = 12;    // u32, always k_header_size in v1
inline constexpr std::size_t k_off_file_size = 16;      // u64, whole file incl. signature
inline constexpr std::size_t k_off_serial = 24;         // u64
inline constexpr std::size_t k_off_created_at = 32;     // i64 Unix seconds
inline constexpr std::size_t k_off_not_after = 40;      // i64 Unix seconds, 0: none
inline constexpr std::size_t k_off_key_id = 48;         // 8 bytes
inline constexpr std::size_t k_off_link_count = 56;     // u64
inline constexpr std::size_t k_off_domain_count = 64;   // u32
inline constexpr std::size_t k_off_section_count = 68;  // u32
inline constexpr std::size_t k_off_hash_seed = 72;      // u64
inline constexpr std::size_t k_off_hash_function = 80;  // u32
inline constexpr std::size_t k_off_flags = 84;          // u32, 0 in v1
inline constexpr std::size_t k_off_reserved = 88;       // 40 zero bytes up to k_header_size

inline constexpr std::size_t k_key_id_size = 8;

// Section table entry: u32 type, u32 zero, u64 offset, u64 length, u64 checksum.
inline constexpr std::size_t k_section_entry_size = 32;
inline constexpr std::uint32_t k_max_sections = 16;

// Sections start at multiples of 64 bytes (a cache line) so slot records never straddle lines.
inline constexpr std::size_t k_alignment = 64;

// The Ed25519 signature occupies the last 64 bytes of the file.
inline constexpr std::size_t k_signature_size = 64;
// The signed message is this context string, a NUL, then the snapshot digest: SHA-256 of the
// bytes before the first section followed by the bytes from the digests section to the signature
// (SPEC.md "Signature"). The block digests inside the latter cover every other byte.
inline constexpr std::string_view k_signature_context = "shortlink snapshot v2";

// Section 7 (digests): a 64-byte header, then one SHA-256 per block of the content region (the
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

// Hash functions (header field hash_function).
inline constexpr std::uint32_t k_hash_slhash128_v1 = 1;

enum class SectionType : std::uint32_t {
    domains = 1,
    index = 2,    // the perfect hash: parameters and one pilot byte per bucket
    slots = 3,    // fixed-size slot records
    strings = 4,  // variable-length link records: lengths, times, code, destination
    rules = 5,    // reserved: compiled rules (not written yet)
    deny = 6,     // reserved: deny overlay (*.sldeny files)
    digests = 7,  // signed SHA-256 of every content block; always the last section
};

inline constexpr std::string_view section_name(std::uint32_t type) {
    switch (type) {
    case 1: return "domains";
    case 2: return "index";
    case 3: return "slots";
    case 4: return "strings";
    case 5: return "rules";
    case 6: return "deny";
    case 7: return "digests";
    default: return "unknown";
    }
}

// Domain record: 32 bytes, see SPEC.md "Section 1: domains".
inline constexpr std::size_t k_domain_record_size = 32;
inline constexpr std::uint8_t k_domain_is_default = 1;
inline constexpr std::uint8_t k_domain_case_insensitive = 2;
inline constexpr std::uint8_t k_domain_forward_query = 4;
inline constexpr std::uint8_t k_domain_known_flags = 7;
inline constexpr std::size_t k_max_host_length = 253;  // DNS name limit

// Index section header: 64 bytes, then one pilot byte per bucket.
inline constexpr std::size_t k_index_header_size = 64;

// Slot record: 16 bytes: u32 fingerprint, u32 meta, u64 record offset into the strings section.
inline constexpr std::size_t k_slot_size = 16;
// meta bits
inline constexpr std::uint32_t k_meta_status_mask = 0x3;       // LinkStatus
inline constexpr std::uint32_t k_meta_redirect_shift = 2;      // 2 bits: 301, 302, 307, 308
inline constexpr std::uint32_t k_meta_redirect_mask = 0x3;
inline constexpr std::uint32_t k_meta_forward_query = 1u << 4;
inline constexpr std::uint32_t k_meta_has_times = 1u << 5;
inline constexpr std::uint32_t k_meta_occupied = 1u << 6;
inline constexpr std::uint32_t k_meta_reserved_bit = 1u << 7;   // must be 0
inline constexpr std::uint32_t k_meta_domain_shift = 8;         // 24 bits of domain index
inline constexpr std::uint32_t k_max_domains = 1u << 24;
inline constexpr std::array<std::uint16_t, 4> k_redirect_codes = {301, 302, 307, 308};

// Limits enforced by writer and reader.
inline constexpr std::size_t k_max_code_length = 1024;
inline constexpr std::size_t k_max_destination_length = 64 * 1024;

}  // namespace shortlink::formats::format
