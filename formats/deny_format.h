// Constants of the deny section (section type 6), the whole deny set as one open-addressing
// hash table: the payload of a deny overlay (file kind 2, deny-<serial>.sldeny) and, baked in
// by the compiler, an optional section of a snapshot. Writer: formats/deny.cpp
// (encode_deny_section); reader: formats/deny.cpp (DenySet::load).
//
// Only constants live here: formats/SPEC.md ("Section 6: deny") is the authority on the layout.
#pragma once

#include <cstddef>
#include <cstdint>

#include "formats/container_format.h"

namespace shortlink::formats::format {

// The section header: 64 bytes, then the table, then the records.
inline constexpr std::size_t k_deny_header_size = 64;
// A table entry: u64 tag (0: empty), u64 record offset from the start of the records area.
inline constexpr std::size_t k_deny_entry_size = 16;
// The writer keeps the table at most half full (at least 8 entries), so a probe for a key that
// is not there meets an empty entry after about two reads.
inline constexpr std::uint64_t k_deny_min_table = 8;
// Seeds the tag hash; fixed so that the same deny set gives the same bytes.
inline constexpr std::uint64_t k_deny_hash_seed = 0x736c64656e797631;  // "sldenyv1"
// Salt mixed into the seed per entry kind, so that a domain "x" and a destination host "x" are
// different keys.
inline constexpr std::uint64_t k_deny_kind_salt = 0xa0761d6478bd642fULL;

// Entry kinds (the first byte of a record).
inline constexpr std::uint8_t k_deny_link = 1;         // (domain host, code)
inline constexpr std::uint8_t k_deny_domain = 2;       // every link of a served domain
inline constexpr std::uint8_t k_deny_destination = 3;  // destination host or any subdomain of it

// Limits: the same as the snapshot's for hosts and codes; at most 16M entries.
inline constexpr std::uint64_t k_deny_max_entries = std::uint64_t{1} << 24;

}  // namespace shortlink::formats::format
