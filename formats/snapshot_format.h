// Constants of the snapshot payload (file kind 1, links-<serial>.slsnap) shared by the compiler
// (compiler/snapshot_builder.cpp) and the reader (formats/snapshot.cpp). The container around it
// (header, section table, digests, signature) is formats/container_format.h.
//
// Only constants live here: formats/SPEC.md is the authority on the byte layout and says what
// every field means; change both in the same commit (leveldb's db/log_format.h does the same).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/container_format.h"

namespace shortlink::formats::format {

// The snapshot's payload header: header bytes 80..127 (k_off_payload_header).
inline constexpr std::size_t k_off_link_count = 80;     // u64
inline constexpr std::size_t k_off_domain_count = 88;   // u32
inline constexpr std::size_t k_off_hash_function = 92; // u32
inline constexpr std::size_t k_off_hash_seed = 96;      // u64
inline constexpr std::size_t k_off_flags = 104;         // u32, 0
inline constexpr std::size_t k_off_snapshot_reserved = 108;  // zero up to k_header_size

// Hash functions (payload header field hash_function).
inline constexpr std::uint32_t k_hash_slhash128_v1 = 1;

// Domain record: 32 bytes, see SPEC.md "Section 1: domains".
inline constexpr std::size_t k_domain_record_size = 32;
inline constexpr std::uint8_t k_domain_is_default = 1;
inline constexpr std::uint8_t k_domain_case_insensitive = 2;
inline constexpr std::uint8_t k_domain_forward_query = 4;
// Patches only: every link of the domain is in the patch, so a lookup never falls through to the
// base for it (a domain the base lacks, or whose defaults changed since the base).
inline constexpr std::uint8_t k_domain_complete = 8;
// Plain HTTP answers 308 to https://HOST; the HSTS header carries includeSubDomains.
inline constexpr std::uint8_t k_domain_https_redirect = 16;
inline constexpr std::uint8_t k_domain_hsts_include_subdomains = 32;
inline constexpr std::uint8_t k_domain_known_flags = 1 | 2 | 4 | 16 | 32;
inline constexpr std::uint8_t k_patch_domain_known_flags = k_domain_known_flags | k_domain_complete;
inline constexpr std::size_t k_max_host_length = 253;  // DNS name limit

// Domain policies (section 8): a 64-byte header, one 64-byte record per domain index, then the
// strings the records point at (SPEC.md "Section 8: domain policies").
inline constexpr std::size_t k_policies_header_size = 64;
inline constexpr std::size_t k_policy_record_size = 64;
// What a domain's cacheable answers say to shared caches: nothing, "public" or "private".
inline constexpr std::uint8_t k_cache_scope_none = 0;
inline constexpr std::uint8_t k_cache_scope_public = 1;
inline constexpr std::uint8_t k_cache_scope_private = 2;
// The 404 and 410 texts are a sentence or two: a short page, not a site.
inline constexpr std::size_t k_max_page_text_length = 1024;
// A domain's trusted country header: a name of letters, digits, '-' and '_' (what proxies and
// CDNs set: CF-IPCountry, X-Country-Code), at most this long.
inline constexpr std::size_t k_max_country_header_length = 64;
inline constexpr bool is_country_header_name(std::string_view name) {
    if (name.empty() || name.size() > k_max_country_header_length) {
        return false;
    }
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}
// permanent_max_age_s of a domain in a file without section 8: permanent redirects are cached
// as long as the domain's cache_max_age_s says, as before the section existed.
inline constexpr std::uint32_t k_no_permanent_cap = 0xffffffff;

// Index section header: 64 bytes, then one pilot byte per bucket.
inline constexpr std::size_t k_index_header_size = 64;

// Slot record: 16 bytes: u32 fingerprint, u32 meta, u64 record offset into the strings section.
inline constexpr std::size_t k_slot_size = 16;
// meta bits
inline constexpr std::uint32_t k_meta_status_mask = 0x3;       // LinkState (formats/link_state.h)
inline constexpr std::uint32_t k_meta_redirect_shift = 2;      // 2 bits: 301, 302, 307, 308
inline constexpr std::uint32_t k_meta_redirect_mask = 0x3;
inline constexpr std::uint32_t k_meta_forward_query = 1u << 4;
inline constexpr std::uint32_t k_meta_has_times = 1u << 5;
inline constexpr std::uint32_t k_meta_occupied = 1u << 6;
inline constexpr std::uint32_t k_meta_has_rules = 1u << 7;      // a u32 rule list index follows the times
inline constexpr std::uint32_t k_meta_domain_shift = 8;         // 24 bits of domain index
inline constexpr std::uint32_t k_max_domains = 1u << 24;
inline constexpr std::array<std::uint16_t, 4> k_redirect_codes = {301, 302, 307, 308};

// Limits enforced by writer and reader.
inline constexpr std::size_t k_max_code_length = 1024;
inline constexpr std::size_t k_max_destination_length = 64 * 1024;

}  // namespace shortlink::formats::format
