// The fixed-size records of every shortlink file, each encoded and decoded in one place so that
// the writers (formats/writer.cpp, compiler/snapshot_builder.cpp, formats/deny.cpp) and the
// readers (formats/container.cpp, formats/snapshot.cpp, formats/deny.cpp) cannot drift apart.
// Offsets are the named constants of the *_format.h headers; SPEC.md says what each field means.
// decode() reads exactly the record's bytes: callers prove the bounds first.
#pragma once

#include <cstdint>
#include <cstring>

#include "formats/bytes.h"
#include "formats/container_format.h"
#include "formats/deny_format.h"
#include "formats/snapshot_format.h"

namespace shortlink::formats::records {

// The container header, payload header excepted (its 48 bytes belong to the file kind).
struct ContainerHeader {
    std::uint32_t version = format::k_version;
    std::uint32_t header_size = format::k_header_size;
    std::uint64_t file_size = 0;
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;
    std::int64_t not_after = 0;
    std::uint8_t key_id[format::k_key_id_size] = {};
    std::uint32_t file_kind = 0;
    std::uint32_t section_count = 0;
    std::uint64_t base_serial = 0;

    void encode(std::uint8_t* h) const {
        std::memcpy(h + format::k_off_magic, format::k_magic.data(), format::k_magic.size());
        bytes::store<std::uint32_t>(h + format::k_off_version, version);
        bytes::store<std::uint32_t>(h + format::k_off_header_size, header_size);
        bytes::store<std::uint64_t>(h + format::k_off_file_size, file_size);
        bytes::store<std::uint64_t>(h + format::k_off_serial, serial);
        bytes::store<std::int64_t>(h + format::k_off_created_at, created_at);
        bytes::store<std::int64_t>(h + format::k_off_not_after, not_after);
        std::memcpy(h + format::k_off_key_id, key_id, format::k_key_id_size);
        bytes::store<std::uint32_t>(h + format::k_off_file_kind, file_kind);
        bytes::store<std::uint32_t>(h + format::k_off_section_count, section_count);
        bytes::store<std::uint64_t>(h + format::k_off_base_serial, base_serial);
        std::memset(h + format::k_off_reserved, 0, format::k_off_payload_header - format::k_off_reserved);
    }
    static ContainerHeader decode(const std::uint8_t* h) {
        ContainerHeader r;
        r.version = bytes::load<std::uint32_t>(h + format::k_off_version);
        r.header_size = bytes::load<std::uint32_t>(h + format::k_off_header_size);
        r.file_size = bytes::load<std::uint64_t>(h + format::k_off_file_size);
        r.serial = bytes::load<std::uint64_t>(h + format::k_off_serial);
        r.created_at = bytes::load<std::int64_t>(h + format::k_off_created_at);
        r.not_after = bytes::load<std::int64_t>(h + format::k_off_not_after);
        std::memcpy(r.key_id, h + format::k_off_key_id, format::k_key_id_size);
        r.file_kind = bytes::load<std::uint32_t>(h + format::k_off_file_kind);
        r.section_count = bytes::load<std::uint32_t>(h + format::k_off_section_count);
        r.base_serial = bytes::load<std::uint64_t>(h + format::k_off_base_serial);
        return r;
    }
};

struct SectionEntry {
    std::uint32_t type = 0;
    std::uint32_t zero = 0;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::uint64_t checksum = 0;

    void encode(std::uint8_t* e) const {
        bytes::store<std::uint32_t>(e, type);
        bytes::store<std::uint32_t>(e + 4, 0);
        bytes::store<std::uint64_t>(e + 8, offset);
        bytes::store<std::uint64_t>(e + 16, length);
        bytes::store<std::uint64_t>(e + 24, checksum);
    }
    static SectionEntry decode(const std::uint8_t* e) {
        return {bytes::load<std::uint32_t>(e), bytes::load<std::uint32_t>(e + 4),
                bytes::load<std::uint64_t>(e + 8), bytes::load<std::uint64_t>(e + 16),
                bytes::load<std::uint64_t>(e + 24)};
    }
};

struct DigestsHeader {  // the first k_digests_header_size bytes of the digests section
    std::uint64_t block_size = 0;
    std::uint64_t content_start = 0;
    std::uint64_t content_end = 0;
    std::uint64_t block_count = 0;
    static constexpr std::size_t k_used = 32;  // bytes k_used..63 are zero

    void encode(std::uint8_t* p) const {
        std::memset(p, 0, format::k_digests_header_size);
        bytes::store<std::uint64_t>(p, block_size);
        bytes::store<std::uint64_t>(p + 8, content_start);
        bytes::store<std::uint64_t>(p + 16, content_end);
        bytes::store<std::uint64_t>(p + 24, block_count);
    }
    static DigestsHeader decode(const std::uint8_t* p) {
        return {bytes::load<std::uint64_t>(p), bytes::load<std::uint64_t>(p + 8),
                bytes::load<std::uint64_t>(p + 16), bytes::load<std::uint64_t>(p + 24)};
    }
};

// The snapshot's payload header (container header bytes 80..127).
struct SnapshotHeader {
    std::uint64_t link_count = 0;
    std::uint32_t domain_count = 0;
    std::uint32_t hash_function = format::k_hash_slhash128_v1;
    std::uint64_t hash_seed = 0;
    std::uint32_t flags = 0;

    void encode(std::uint8_t* h) const {
        std::memset(h + format::k_off_payload_header, 0, format::k_payload_header_size);
        bytes::store<std::uint64_t>(h + format::k_off_link_count, link_count);
        bytes::store<std::uint32_t>(h + format::k_off_domain_count, domain_count);
        bytes::store<std::uint32_t>(h + format::k_off_hash_function, hash_function);
        bytes::store<std::uint64_t>(h + format::k_off_hash_seed, hash_seed);
        bytes::store<std::uint32_t>(h + format::k_off_flags, flags);
    }
    static SnapshotHeader decode(const std::uint8_t* h) {
        return {bytes::load<std::uint64_t>(h + format::k_off_link_count),
                bytes::load<std::uint32_t>(h + format::k_off_domain_count),
                bytes::load<std::uint32_t>(h + format::k_off_hash_function),
                bytes::load<std::uint64_t>(h + format::k_off_hash_seed),
                bytes::load<std::uint32_t>(h + format::k_off_flags)};
    }
};

struct DomainRecord {  // k_domain_record_size bytes
    std::uint32_t host_offset = 0;
    std::uint32_t host_length = 0;
    std::uint32_t root_offset = 0;
    std::uint32_t root_length = 0;
    std::uint16_t default_redirect = 0;
    std::uint8_t flags = 0;
    std::uint8_t zero1 = 0;
    std::uint32_t cache_max_age_s = 0;
    std::uint32_t negative_max_age_s = 0;
    std::uint32_t hsts_max_age_s = 0;  // 0: no Strict-Transport-Security header

    void encode(std::uint8_t* r) const {
        bytes::store<std::uint32_t>(r, host_offset);
        bytes::store<std::uint32_t>(r + 4, host_length);
        bytes::store<std::uint32_t>(r + 8, root_offset);
        bytes::store<std::uint32_t>(r + 12, root_length);
        bytes::store<std::uint16_t>(r + 16, default_redirect);
        r[18] = flags;
        r[19] = 0;
        bytes::store<std::uint32_t>(r + 20, cache_max_age_s);
        bytes::store<std::uint32_t>(r + 24, negative_max_age_s);
        bytes::store<std::uint32_t>(r + 28, hsts_max_age_s);
    }
    static DomainRecord decode(const std::uint8_t* r) {
        return {bytes::load<std::uint32_t>(r),      bytes::load<std::uint32_t>(r + 4),
                bytes::load<std::uint32_t>(r + 8),  bytes::load<std::uint32_t>(r + 12),
                bytes::load<std::uint16_t>(r + 16), r[18],
                r[19],                              bytes::load<std::uint32_t>(r + 20),
                bytes::load<std::uint32_t>(r + 24), bytes::load<std::uint32_t>(r + 28)};
    }
};

// One domain's policy in section 8; string offsets are from the start of the section's strings.
struct PolicyRecord {  // k_policy_record_size bytes
    std::uint32_t not_found_url_offset = 0;
    std::uint32_t not_found_url_length = 0;   // 0: unknown codes answer 404
    std::uint32_t expired_url_offset = 0;
    std::uint32_t expired_url_length = 0;     // 0: ended links answer 410
    std::uint32_t not_found_text_offset = 0;
    std::uint32_t not_found_text_length = 0;  // 0: the body says "Not Found"
    std::uint32_t gone_text_offset = 0;
    std::uint32_t gone_text_length = 0;       // 0: the body says "Gone"
    std::uint32_t permanent_max_age_s = format::k_no_permanent_cap;
    std::uint32_t stale_while_revalidate_s = 0;
    std::uint32_t stale_if_error_s = 0;
    std::uint32_t miss_budget = 0;            // misses a client may cause per minute; 0: the server's
    std::uint8_t cache_scope = format::k_cache_scope_none;
    std::uint32_t country_header_offset = 0;
    std::uint32_t country_header_length = 0;  // 0: the server's --country-header
    // Bytes 49..51 and k_used..63 are zero.
    static constexpr std::size_t k_scope_end = 49;
    static constexpr std::size_t k_country_header_at = 52;
    static constexpr std::size_t k_used = 60;

    void encode(std::uint8_t* r) const {
        std::memset(r, 0, format::k_policy_record_size);
        const std::uint32_t words[12] = {not_found_url_offset,  not_found_url_length,  expired_url_offset,
                                         expired_url_length,    not_found_text_offset, not_found_text_length,
                                         gone_text_offset,      gone_text_length,      permanent_max_age_s,
                                         stale_while_revalidate_s, stale_if_error_s,   miss_budget};
        for (std::size_t i = 0; i < 12; ++i) {
            bytes::store<std::uint32_t>(r + 4 * i, words[i]);
        }
        r[48] = cache_scope;
        bytes::store<std::uint32_t>(r + k_country_header_at, country_header_offset);
        bytes::store<std::uint32_t>(r + k_country_header_at + 4, country_header_length);
    }
    static PolicyRecord decode(const std::uint8_t* r) {
        PolicyRecord p;
        std::uint32_t* words[12] = {&p.not_found_url_offset,  &p.not_found_url_length,  &p.expired_url_offset,
                                    &p.expired_url_length,    &p.not_found_text_offset, &p.not_found_text_length,
                                    &p.gone_text_offset,      &p.gone_text_length,      &p.permanent_max_age_s,
                                    &p.stale_while_revalidate_s, &p.stale_if_error_s,   &p.miss_budget};
        for (std::size_t i = 0; i < 12; ++i) {
            *words[i] = bytes::load<std::uint32_t>(r + 4 * i);
        }
        p.cache_scope = r[48];
        p.country_header_offset = bytes::load<std::uint32_t>(r + k_country_header_at);
        p.country_header_length = bytes::load<std::uint32_t>(r + k_country_header_at + 4);
        return p;
    }
};

struct PoliciesHeader {  // the first k_policies_header_size bytes of section 8
    std::uint64_t record_count = 0;     // = the payload header's domain_count
    std::uint64_t strings_length = 0;
    static constexpr std::size_t k_used = 16;  // bytes k_used..63 are zero

    void encode(std::uint8_t* p) const {
        std::memset(p, 0, format::k_policies_header_size);
        bytes::store<std::uint64_t>(p, record_count);
        bytes::store<std::uint64_t>(p + 8, strings_length);
    }
    static PoliciesHeader decode(const std::uint8_t* p) {
        return {bytes::load<std::uint64_t>(p), bytes::load<std::uint64_t>(p + 8)};
    }
};

struct IndexHeader {  // the first k_index_header_size bytes of the index section
    std::uint64_t key_count = 0;
    std::uint64_t slot_count = 0;
    std::uint64_t bucket_count = 0;
    std::uint64_t dense_buckets = 0;
    std::uint64_t dense_threshold = 0;
    static constexpr std::size_t k_used = 40;  // bytes k_used..63 are zero

    void encode(std::uint8_t* p) const {
        std::memset(p, 0, format::k_index_header_size);
        bytes::store<std::uint64_t>(p, key_count);
        bytes::store<std::uint64_t>(p + 8, slot_count);
        bytes::store<std::uint64_t>(p + 16, bucket_count);
        bytes::store<std::uint64_t>(p + 24, dense_buckets);
        bytes::store<std::uint64_t>(p + 32, dense_threshold);
    }
    static IndexHeader decode(const std::uint8_t* p) {
        return {bytes::load<std::uint64_t>(p), bytes::load<std::uint64_t>(p + 8),
                bytes::load<std::uint64_t>(p + 16), bytes::load<std::uint64_t>(p + 24),
                bytes::load<std::uint64_t>(p + 32)};
    }
};

struct SlotRecord {  // k_slot_size bytes; all zero when empty
    std::uint32_t fingerprint = 0;
    std::uint32_t meta = 0;
    std::uint64_t record_offset = 0;  // into the strings section

    void encode(std::uint8_t* s) const {
        bytes::store<std::uint32_t>(s, fingerprint);
        bytes::store<std::uint32_t>(s + 4, meta);
        bytes::store<std::uint64_t>(s + 8, record_offset);
    }
    static SlotRecord decode(const std::uint8_t* s) {
        return {bytes::load<std::uint32_t>(s), bytes::load<std::uint32_t>(s + 4),
                bytes::load<std::uint64_t>(s + 8)};
    }
};

struct DenyHeader {  // the first k_deny_header_size bytes of the deny section
    std::uint64_t entry_count = 0;
    std::uint32_t link_count = 0;
    std::uint32_t domain_count = 0;
    std::uint32_t destination_count = 0;
    std::uint32_t zero = 0;
    std::uint64_t table_size = 0;  // entries in the table: a power of two, 0 iff entry_count 0
    std::uint64_t hash_seed = 0;
    std::uint64_t records_length = 0;
    static constexpr std::size_t k_used = 48;  // bytes k_used..63 are zero

    void encode(std::uint8_t* p) const {
        std::memset(p, 0, format::k_deny_header_size);
        bytes::store<std::uint64_t>(p, entry_count);
        bytes::store<std::uint32_t>(p + 8, link_count);
        bytes::store<std::uint32_t>(p + 12, domain_count);
        bytes::store<std::uint32_t>(p + 16, destination_count);
        bytes::store<std::uint64_t>(p + 24, table_size);
        bytes::store<std::uint64_t>(p + 32, hash_seed);
        bytes::store<std::uint64_t>(p + 40, records_length);
    }
    static DenyHeader decode(const std::uint8_t* p) {
        return {bytes::load<std::uint64_t>(p),      bytes::load<std::uint32_t>(p + 8),
                bytes::load<std::uint32_t>(p + 12), bytes::load<std::uint32_t>(p + 16),
                bytes::load<std::uint32_t>(p + 20), bytes::load<std::uint64_t>(p + 24),
                bytes::load<std::uint64_t>(p + 32), bytes::load<std::uint64_t>(p + 40)};
    }
};

}  // namespace shortlink::formats::records
