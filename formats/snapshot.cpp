// The snapshot payload reader: after the Container has proven what every file kind shares, it
// proves the domains, the index, every slot and the baked-in deny set (SPEC.md "Validation"
// steps 6 to 9), so lookup() can trust offsets without checking them again; a lazy open proves
// the slot and string sections block by block instead (SPEC.md "Lazy validation").
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "formats/bytes.h"
#include "formats/records.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"

namespace shortlink::formats {

namespace fmt = format;

namespace {

// prefault() works in pieces of this size, pausing between them when asked to.
constexpr std::size_t k_paced_piece = std::size_t{1} << 20;
// Bounds the header's link count before anything is multiplied by it: 2^40 links would be a
// file of tens of terabytes.
constexpr std::uint64_t k_max_links = std::uint64_t{1} << 40;
// The smallest link record: two one-byte varints, a one-byte code and a one-byte destination.
constexpr std::uint64_t k_min_record_size = 4;

// Reserved bytes [from, to) of a section header must be zero.
Status check_reserved(const std::uint8_t* p, std::size_t from, std::size_t to, const std::string& where) {
    for (std::size_t i = from; i < to; ++i) {
        if (p[i] != 0) {
            return Status::corruption(where + ": reserved byte " + std::to_string(i) + " is not zero");
        }
    }
    return Status::ok();
}

// What a snapshot's (or a patch's) container holds (SPEC.md "Sections").
ContainerLayout snapshot_layout(fmt::FileKind kind) {
    ContainerLayout layout;
    layout.kind = kind;
    layout.required = section_bit(fmt::SectionType::domains) | section_bit(fmt::SectionType::index) |
                      section_bit(fmt::SectionType::slots) | section_bit(fmt::SectionType::strings);
    layout.allowed = layout.required | section_bit(fmt::SectionType::rules) |
                     section_bit(fmt::SectionType::deny) | section_bit(fmt::SectionType::policies);
    if (kind == fmt::FileKind::patch) {
        // A patch states its deny set, empty or not: it replaces the base's.
        layout.required |= section_bit(fmt::SectionType::deny);
    }
    layout.deferred = section_bit(fmt::SectionType::slots) | section_bit(fmt::SectionType::strings);
    return layout;
}

Status load_domains(const Container& file, const SectionInfo& sec, std::uint64_t count,
                    std::vector<DomainView>& domains,
                    std::optional<std::uint32_t>& default_domain) {
    const std::uint8_t known_flags = file.kind() == fmt::FileKind::patch
                                         ? fmt::k_patch_domain_known_flags
                                         : fmt::k_domain_known_flags;
    const std::string& name = file.path();
    const std::uint8_t* base = file.base() + sec.offset;
    const std::string where = name + ": " + section_label(sec.type);
    if (count > fmt::k_max_domains || count * fmt::k_domain_record_size > sec.length) {
        return Status::corruption(where + ": " + std::to_string(count) +
                                  " domain records do not fit in " + std::to_string(sec.length) +
                                  " bytes");
    }
    domains.clear();
    domains.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::uint8_t* r = base + i * fmt::k_domain_record_size;
        const records::DomainRecord rec_fields = records::DomainRecord::decode(r);
        const std::uint32_t host_off = rec_fields.host_offset;
        const std::uint32_t host_len = rec_fields.host_length;
        const std::uint32_t root_off = rec_fields.root_offset;
        const std::uint32_t root_len = rec_fields.root_length;
        const std::uint16_t redirect = rec_fields.default_redirect;
        const std::uint8_t flags = rec_fields.flags;
        const std::string rec = where + ": domain " + std::to_string(i);
        if (std::uint64_t{host_off} + host_len > sec.length ||
            std::uint64_t{root_off} + root_len > sec.length || host_len == 0 ||
            host_len > fmt::k_max_host_length || root_len > fmt::k_max_destination_length) {
            return Status::corruption(rec + ": string out of bounds");
        }
        if (std::find(fmt::k_redirect_codes.begin(), fmt::k_redirect_codes.end(), redirect) ==
                fmt::k_redirect_codes.end() ||
            (flags & ~known_flags) != 0 || rec_fields.zero1 != 0) {
            return Status::corruption(rec + ": invalid redirect type, flags or reserved bytes");
        }
        DomainView d;
        d.host = std::string_view(reinterpret_cast<const char*>(base + host_off), host_len);
        d.root_url = std::string_view(reinterpret_cast<const char*>(base + root_off), root_len);
        d.default_redirect = redirect;
        d.is_default = (flags & fmt::k_domain_is_default) != 0;
        d.case_insensitive = (flags & fmt::k_domain_case_insensitive) != 0;
        d.forward_query = (flags & fmt::k_domain_forward_query) != 0;
        d.complete = (flags & fmt::k_domain_complete) != 0;
        d.cache_max_age_s = rec_fields.cache_max_age_s;
        d.negative_max_age_s = rec_fields.negative_max_age_s;
        d.https_redirect = (flags & fmt::k_domain_https_redirect) != 0;
        d.hsts_max_age_s = rec_fields.hsts_max_age_s;
        d.hsts_include_subdomains = (flags & fmt::k_domain_hsts_include_subdomains) != 0;
        if (!domains.empty() && !(domains.back().host < d.host)) {
            return Status::corruption(rec + ": hosts are not sorted and unique");
        }
        if (d.is_default != (d.host == "*")) {
            return Status::corruption(rec + ": only the host \"*\" may be the default domain");
        }
        if (d.is_default) {
            default_domain = static_cast<std::uint32_t>(i);
        }
        domains.push_back(d);
    }
    return Status::ok();
}

// A policy string: inside the strings area, at most `limit` bytes, and free of the bytes a
// header or a one-line page must not hold (below 0x20, 0x7f).
bool policy_string(const std::uint8_t* strings, std::uint64_t strings_length, std::uint32_t offset,
                   std::uint32_t length, std::size_t limit, std::string_view& out) {
    if (length > limit || std::uint64_t{offset} + length > strings_length) {
        return false;
    }
    for (std::uint32_t i = 0; i < length; ++i) {
        if (strings[offset + i] < 0x20 || strings[offset + i] == 0x7f) {
            return false;
        }
    }
    out = std::string_view(reinterpret_cast<const char*>(strings + offset), length);
    return true;
}

// Section 8: one record per domain, in domain index order (SPEC.md "Section 8: domain policies").
Status load_policies(const Container& file, const SectionInfo& sec, std::vector<DomainView>& domains) {
    const std::string where = file.path() + ": " + section_label(sec.type);
    if (sec.length < fmt::k_policies_header_size) {
        return Status::corruption(where + ": shorter than its " + std::to_string(fmt::k_policies_header_size) +
                                  "-byte header");
    }
    const std::uint8_t* p = file.base() + sec.offset;
    if (Status st = check_reserved(p, records::PoliciesHeader::k_used, fmt::k_policies_header_size, where); !st) {
        return st;
    }
    const records::PoliciesHeader header = records::PoliciesHeader::decode(p);
    if (header.record_count != domains.size()) {
        return Status::corruption(where + ": " + std::to_string(header.record_count) + " records for " +
                                  std::to_string(domains.size()) + " domains");
    }
    // domains.size() is below 2^24 (load_domains), so the product cannot overflow.
    const std::uint64_t records_end = fmt::k_policies_header_size + header.record_count * fmt::k_policy_record_size;
    if (records_end > sec.length || header.strings_length != sec.length - records_end) {
        return Status::corruption(where + ": length " + std::to_string(sec.length) + " is not " +
                                  std::to_string(header.record_count) + " records and " +
                                  std::to_string(header.strings_length) + " bytes of strings");
    }
    const std::uint8_t* strings = p + records_end;
    for (std::size_t i = 0; i < domains.size(); ++i) {
        const std::uint8_t* r = p + fmt::k_policies_header_size + i * fmt::k_policy_record_size;
        const std::string rec = where + ": domain " + std::to_string(i);
        if (Status st = check_reserved(r, records::PolicyRecord::k_used, fmt::k_policy_record_size, rec); !st) {
            return st;
        }
        if (Status st = check_reserved(r, records::PolicyRecord::k_scope_end, records::PolicyRecord::k_country_header_at,
                                       rec);
            !st) {
            return st;
        }
        const records::PolicyRecord pr = records::PolicyRecord::decode(r);
        DomainView& d = domains[i];
        if (!policy_string(strings, header.strings_length, pr.not_found_url_offset, pr.not_found_url_length,
                           fmt::k_max_destination_length, d.not_found_url) ||
            !policy_string(strings, header.strings_length, pr.expired_url_offset, pr.expired_url_length,
                           fmt::k_max_destination_length, d.expired_url)) {
            return Status::corruption(rec + ": fallback URL out of bounds, too long or holding a control byte");
        }
        if (!policy_string(strings, header.strings_length, pr.not_found_text_offset, pr.not_found_text_length,
                           fmt::k_max_page_text_length, d.not_found_text) ||
            !policy_string(strings, header.strings_length, pr.gone_text_offset, pr.gone_text_length,
                           fmt::k_max_page_text_length, d.gone_text)) {
            return Status::corruption(rec + ": page text out of bounds, too long or holding a control byte");
        }
        if (!policy_string(strings, header.strings_length, pr.country_header_offset, pr.country_header_length,
                           fmt::k_max_country_header_length, d.country_header) ||
            (!d.country_header.empty() && !fmt::is_country_header_name(d.country_header))) {
            return Status::corruption(rec + ": country header out of bounds or not a header name");
        }
        if (pr.cache_scope > fmt::k_cache_scope_private) {
            return Status::corruption(rec + ": unknown cache scope " + std::to_string(pr.cache_scope));
        }
        d.permanent_max_age_s = pr.permanent_max_age_s;
        d.stale_while_revalidate_s = pr.stale_while_revalidate_s;
        d.stale_if_error_s = pr.stale_if_error_s;
        d.miss_budget = pr.miss_budget;
        d.cache_scope = pr.cache_scope;
    }
    return Status::ok();
}

Status load_index(const Container& file, const SectionInfo& sec, std::uint64_t link_count,
                  MphfParams& mphf, const std::uint8_t*& pilots) {
    const std::string& name = file.path();
    const std::string where = name + ": " + section_label(sec.type);
    if (sec.length < fmt::k_index_header_size) {
        return Status::corruption(where + ": shorter than its " +
                                  std::to_string(fmt::k_index_header_size) + "-byte header");
    }
    const std::uint8_t* p = file.base() + sec.offset;
    const records::IndexHeader header = records::IndexHeader::decode(p);
    mphf = MphfParams{};
    mphf.key_count = header.key_count;
    mphf.slot_count = header.slot_count;
    mphf.bucket_count = header.bucket_count;
    mphf.dense_buckets = header.dense_buckets;
    mphf.dense_threshold = header.dense_threshold;
    if (Status st = check_reserved(p, records::IndexHeader::k_used, fmt::k_index_header_size, where); !st) {
        return st;
    }
    if (mphf.key_count != link_count) {
        return Status::corruption(where + ": key count " + std::to_string(mphf.key_count) +
                                  " differs from the header's link count " +
                                  std::to_string(link_count));
    }
    // Slots are at most twice the keys (the writer uses a load factor near 1). Every count is
    // bounded before it is multiplied, so nothing below can overflow.
    if (mphf.key_count > k_max_links || mphf.slot_count > 2 * mphf.key_count + 64 ||
        mphf.bucket_count > mphf.key_count + 64 || !mphf.derive()) {
        return Status::corruption(where + ": inconsistent perfect-hash parameters");
    }
    if (sec.length != fmt::k_index_header_size + mphf.bucket_count) {
        return Status::corruption(where + ": length " + std::to_string(sec.length) +
                                  " does not match " + std::to_string(mphf.bucket_count) +
                                  " pilots");
    }
    pilots = p + fmt::k_index_header_size;
    return Status::ok();
}

// What is wrong with one occupied slot, or nothing; `record_end` gets the end of its record
// (an offset into section 4). Shared by the slot walk and the lazy lookup.
enum class SlotDefect { none, meta, offset, lengths, overrun, rules };

SlotDefect check_slot(const std::uint8_t* s, const std::uint8_t* strings,
                      std::uint64_t strings_length, std::uint32_t domain_count,
                      std::uint64_t rule_list_count, std::uint64_t& record_end) {
    const records::SlotRecord slot = records::SlotRecord::decode(s);
    const std::uint32_t meta = slot.meta;
    const std::uint64_t off = slot.record_offset;
    if (!link_state_from_number(meta & fmt::k_meta_status_mask) || (meta >> fmt::k_meta_domain_shift) >= domain_count) {
        return SlotDefect::meta;
    }
    if (off >= strings_length) {
        return SlotDefect::offset;
    }
    const std::uint8_t* r = strings + off;
    const std::uint8_t* end = strings + strings_length;
    std::uint32_t code_len = 0;
    std::uint32_t dest_len = 0;
    const std::size_t n = bytes::get_varint32(r, end, code_len);
    const std::size_t m = n == 0 ? 0 : bytes::get_varint32(r + n, end, dest_len);
    if (n == 0 || m == 0 || code_len > fmt::k_max_code_length ||
        dest_len > fmt::k_max_destination_length) {
        return SlotDefect::lengths;
    }
    const std::uint64_t times = (meta & fmt::k_meta_has_times) ? 16 : 0;
    const std::uint64_t rules = (meta & fmt::k_meta_has_rules) ? 4 : 0;
    const std::uint64_t body = n + m + times + rules + std::uint64_t{code_len} + dest_len;
    if (body > strings_length - off) {
        return SlotDefect::overrun;
    }
    if (rules != 0 && bytes::load<std::uint32_t>(r + n + m + times) >= rule_list_count) {
        return SlotDefect::rules;
    }
    record_end = off + body;
    return SlotDefect::none;
}

Status load_slots(const Container& file, const SectionInfo& slot_sec, const SectionInfo& str_sec,
                  const MphfParams& mphf, std::uint32_t domain_count, std::uint64_t rule_list_count) {
    const std::string where = file.path() + ": " + section_label(slot_sec.type);
    const std::uint8_t* slots = file.base() + slot_sec.offset;
    const std::uint8_t* strings = file.base() + str_sec.offset;
    std::uint64_t occupied = 0;
    for (std::uint64_t i = 0; i < mphf.slot_count; ++i) {
        if (i % 4096 == 4095) {
            file.pause();
        }
        const std::uint8_t* s = slots + i * fmt::k_slot_size;
        const records::SlotRecord slot = records::SlotRecord::decode(s);
        const std::uint32_t fp = slot.fingerprint;
        const std::uint32_t meta = slot.meta;
        const std::uint64_t off = slot.record_offset;
        if ((meta & fmt::k_meta_occupied) == 0) {
            if (fp != 0 || meta != 0 || off != 0) {
                return Status::corruption(where + ": empty slot " + std::to_string(i) +
                                          " is not zeroed");
            }
            continue;
        }
        ++occupied;
        std::uint64_t record_end = 0;
        const SlotDefect defect = check_slot(s, strings, str_sec.length, domain_count, rule_list_count, record_end);
        if (defect == SlotDefect::none) [[likely]] {
            continue;
        }
        const std::string rec = where + ": slot " + std::to_string(i);  // only for the error
        switch (defect) {
        case SlotDefect::none: break;
        case SlotDefect::meta:
            return Status::corruption(rec + ": invalid status or domain index");
        case SlotDefect::offset:
            return Status::corruption(rec + ": record offset " + std::to_string(off) +
                                      " is past the end of the strings section");
        case SlotDefect::lengths:
            return Status::corruption(rec + ": malformed record lengths at strings offset " +
                                      std::to_string(off));
        case SlotDefect::overrun:
            return Status::corruption(rec + ": record at strings offset " + std::to_string(off) +
                                      " runs past the end of the section");
        case SlotDefect::rules:
            return Status::corruption(rec + ": names a rule list that section 5 (rules) does not hold");
        }
    }
    if (occupied != mphf.key_count) {
        return Status::corruption(where + ": " + std::to_string(occupied) +
                                  " occupied slots, header says " +
                                  std::to_string(mphf.key_count) + " links");
    }
    return Status::ok();
}

}  // namespace

Snapshot::Snapshot(std::unique_ptr<Container> file) : m_file(std::move(file)) {}
Snapshot::~Snapshot() = default;

Result<std::shared_ptr<const Snapshot>> Snapshot::open(const std::string& path,
                                                       const TrustedKeys& trusted,
                                                       OpenOptions options) {
    auto file = Container::open_file(path, options);
    if (!file) {
        return file.status();
    }
    return load(std::move(file).value(), trusted, std::move(options), fmt::FileKind::snapshot);
}

Result<std::shared_ptr<const Snapshot>> Snapshot::open_buffer(std::string_view data,
                                                              const TrustedKeys& trusted,
                                                              OpenOptions options,
                                                              std::string name) {
    return load(Container::copy_buffer(data, std::move(name)), trusted, std::move(options),
                fmt::FileKind::snapshot);
}

Result<std::shared_ptr<const Snapshot>> Snapshot::open_patch(const std::string& path,
                                                             const TrustedKeys& trusted,
                                                             OpenOptions options) {
    auto file = Container::open_file(path, options);
    if (!file) {
        return file.status();
    }
    return load(std::move(file).value(), trusted, std::move(options), fmt::FileKind::patch);
}

Result<std::shared_ptr<const Snapshot>> Snapshot::open_patch_buffer(std::string_view data,
                                                                    const TrustedKeys& trusted,
                                                                    OpenOptions options,
                                                                    std::string name) {
    return load(Container::copy_buffer(data, std::move(name)), trusted, std::move(options),
                fmt::FileKind::patch);
}

Result<std::shared_ptr<const Snapshot>> Snapshot::load(std::unique_ptr<Container> file,
                                                       const TrustedKeys& trusted,
                                                       OpenOptions options, fmt::FileKind kind) {
    const bool lazy = options.lazy_content && options.verify_signature;
    if (Status s = file->verify(snapshot_layout(kind), trusted, std::move(options)); !s) {
        return s;
    }
    std::unique_ptr<Snapshot> snap(new Snapshot(std::move(file)));
    if (Status s = snap->check_payload(lazy); !s) {
        return s;
    }
    return std::shared_ptr<const Snapshot>(std::move(snap));
}

Status Snapshot::check_payload(bool lazy) {
    const Container& file = *m_file;
    const std::string& name = file.path();
    const records::SnapshotHeader header = records::SnapshotHeader::decode(file.base());
    if (header.hash_function != fmt::k_hash_slhash128_v1) {
        return Status::unsupported(name + ": unknown hash function id (byte " +
                                   std::to_string(fmt::k_off_hash_function) + ")");
    }
    if (header.flags != 0) {
        return Status::unsupported(name + ": unknown snapshot flags (byte " +
                                   std::to_string(fmt::k_off_flags) + ")");
    }
    for (std::size_t i = fmt::k_off_snapshot_reserved; i < fmt::k_header_size; ++i) {
        if (file.base()[i] != 0) {
            return Status::corruption(name + ": reserved header byte " + std::to_string(i) +
                                      " is not zero");
        }
    }
    const bool patch = file.kind() == fmt::FileKind::patch;
    if (patch ? (file.base_serial() == 0 || file.base_serial() >= file.serial())
              : file.base_serial() != 0) {
        return Status::corruption(name + (patch ? ": a patch's base serial must be above 0 and below its own"
                                                : ": a full snapshot has no base serial") +
                                  " (byte " + std::to_string(fmt::k_off_base_serial) + ")");
    }
    m_link_count = header.link_count;
    m_domain_count = header.domain_count;
    m_seed = header.hash_seed;
    const SectionInfo& domains = *file.section(fmt::SectionType::domains);
    const SectionInfo& index = *file.section(fmt::SectionType::index);
    const SectionInfo& slots = *file.section(fmt::SectionType::slots);
    const SectionInfo& strings = *file.section(fmt::SectionType::strings);
    if (Status s = load_domains(file, domains, m_domain_count, m_domains, m_default_domain); !s) {
        return s;
    }
    if (const SectionInfo* policies = file.section(fmt::SectionType::policies)) {
        if (Status s = load_policies(file, *policies, m_domains); !s) {
            return s;
        }
    }
    // Every count is bounded by the bytes of the section that holds its records before anything
    // is sized or walked from it.
    if (m_link_count > strings.length / k_min_record_size) {
        return Status::corruption(name + ": " + section_label(strings.type) + ": " +
                                  std::to_string(m_link_count) + " links cannot fit in " +
                                  std::to_string(strings.length) + " bytes");
    }
    if (Status s = load_index(file, index, m_link_count, m_mphf, m_pilots); !s) {
        return s;
    }
    if (slots.length / fmt::k_slot_size != m_mphf.slot_count ||
        slots.length % fmt::k_slot_size != 0) {
        return Status::corruption(name + ": " + section_label(slots.type) + ": length " +
                                  std::to_string(slots.length) + " is not " +
                                  std::to_string(m_mphf.slot_count) + " slots");
    }
    if (const SectionInfo* deny = file.section(fmt::SectionType::deny)) {
        auto set = DenySet::load(file, *deny);
        if (!set) {
            return set.status();
        }
        m_deny = *set;
    }
    if (const SectionInfo* rules = file.section(fmt::SectionType::rules)) {
        const std::uint8_t* p = file.base() + rules->offset;
        if (Status s = check_rules_section(p, rules->length, name + ": " + section_label(rules->type),
                                           m_rule_list_count);
            !s) {
            return s;
        }
        m_rule_offsets = p + k_rules_section_header;
        m_rule_lists = m_rule_offsets + m_rule_list_count * 8;
    }
    if (!lazy) {
        if (Status s = load_slots(file, slots, strings, m_mphf, m_domain_count, m_rule_list_count); !s) {
            return s;
        }
    }
    m_slots = file.base() + slots.offset;
    m_strings = file.base() + strings.offset;
    m_strings_length = strings.length;
    return Status::ok();
}

Status Snapshot::finish_verification(const std::atomic<bool>* cancel) const {
    if (m_file->fully_verified()) {
        return Status::ok();
    }
    if (Status s = m_file->finish(cancel); !s) {
        return s;
    }
    if (!m_file->intact()) {
        return m_file->finish(nullptr);  // a lookup met a bad block meanwhile: its precise error
    }
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
        return Status::cancelled("verification stopped before the slots were checked");
    }
    const Container& file = *m_file;
    if (Status s = load_slots(file, *file.section(fmt::SectionType::slots),
                              *file.section(fmt::SectionType::strings), m_mphf, m_domain_count,
                              m_rule_list_count);
        !s) {
        return m_file->fail(s);
    }
    return m_file->mark_verified();
}

std::uint64_t Snapshot::serial() const { return m_file->serial(); }
bool Snapshot::is_patch() const { return m_file->kind() == fmt::FileKind::patch; }
std::uint64_t Snapshot::base_serial() const { return m_file->base_serial(); }
std::int64_t Snapshot::created_at() const { return m_file->created_at(); }
std::int64_t Snapshot::not_after() const { return m_file->not_after(); }
std::string_view Snapshot::key_id() const { return m_file->key_id(); }
std::uint64_t Snapshot::link_count() const { return m_link_count; }
std::uint32_t Snapshot::domain_count() const { return m_domain_count; }
std::uint64_t Snapshot::file_size() const { return m_file->size(); }
const std::string& Snapshot::path() const { return m_file->path(); }
std::uint32_t Snapshot::format_version() const { return m_file->version(); }
std::uint64_t Snapshot::hash_seed() const { return m_seed; }
std::string Snapshot::digest_hex() const { return m_file->digest_hex(); }

DomainView Snapshot::domain(std::uint32_t index) const { return m_domains[index]; }

std::optional<std::uint32_t> Snapshot::find_domain(std::string_view host) const {
    auto it = std::lower_bound(m_domains.begin(), m_domains.end(), host,
                               [](const DomainView& d, std::string_view h) { return d.host < h; });
    if (it != m_domains.end() && it->host == host) {
        return static_cast<std::uint32_t>(it - m_domains.begin());
    }
    return m_default_domain;
}

LinkView Snapshot::view_of_slot(const std::uint8_t* slot) const {
    const records::SlotRecord rec = records::SlotRecord::decode(slot);
    const std::uint8_t* r = m_strings + rec.record_offset;
    std::uint32_t code_len = 0;
    std::uint32_t dest_len = 0;
    r = bytes::get_varint32_trusted(r, code_len);
    r = bytes::get_varint32_trusted(r, dest_len);
    LinkView v;
    if ((rec.meta & fmt::k_meta_has_times) != 0) {
        v.not_before = bytes::load<std::int64_t>(r);
        v.expires = bytes::load<std::int64_t>(r + 8);
        r += 16;
    }
    if ((rec.meta & fmt::k_meta_has_rules) != 0) [[unlikely]] {
        const std::uint32_t list = bytes::load<std::uint32_t>(r);  // proven < list count
        v.rules = RuleListView(m_rule_lists + bytes::load<std::uint64_t>(m_rule_offsets + std::uint64_t{list} * 8));
        r += 4;
    }
    v.code = std::string_view(reinterpret_cast<const char*>(r), code_len);
    v.destination = std::string_view(reinterpret_cast<const char*>(r + code_len), dest_len);
    v.domain_index = rec.meta >> fmt::k_meta_domain_shift;
    v.status = static_cast<LinkState>(rec.meta & fmt::k_meta_status_mask);  // proven <= 2 by verify
    v.redirect_type =
        fmt::k_redirect_codes[(rec.meta >> fmt::k_meta_redirect_shift) & fmt::k_meta_redirect_mask];
    v.forward_query = (rec.meta & fmt::k_meta_forward_query) != 0;
    return v;
}

std::optional<LinkView> Snapshot::lookup(std::uint32_t domain_index, std::string_view code) const {
    if (m_mphf.key_count == 0) {
        return std::nullopt;
    }
    if (!m_file->fully_verified()) [[unlikely]] {
        return lookup_verifying(domain_index, code);
    }
    const Hash128 h = hash128(code, domain_seed(m_seed, domain_index));
    const std::uint64_t bucket = mphf_bucket(m_mphf, h.hi);
    const std::uint64_t slot = mphf_slot(m_mphf, h.lo, m_pilots[bucket]);
    const std::uint8_t* s = m_slots + slot * fmt::k_slot_size;
    const records::SlotRecord rec = records::SlotRecord::decode(s);
    // An empty slot has fingerprint 0 and meta 0, so the occupied bit decides for it.
    if (rec.fingerprint != mphf_fingerprint(h) || (rec.meta & fmt::k_meta_occupied) == 0 ||
        (rec.meta >> fmt::k_meta_domain_shift) != domain_index) {
        return std::nullopt;
    }
    LinkView v = view_of_slot(s);
    if (v.code != code) {
        return std::nullopt;
    }
    return v;
}

std::optional<LinkView> Snapshot::lookup_verifying(std::uint32_t domain_index,
                                                   std::string_view code) const {
    const Container& file = *m_file;
    if (!file.intact()) {
        return std::nullopt;
    }
    const Hash128 h = hash128(code, domain_seed(m_seed, domain_index));
    const std::uint64_t bucket = mphf_bucket(m_mphf, h.hi);
    const std::uint64_t slot = mphf_slot(m_mphf, h.lo, m_pilots[bucket]);
    const std::uint8_t* s = m_slots + slot * fmt::k_slot_size;
    if (!file.prove(s, fmt::k_slot_size)) {
        return std::nullopt;
    }
    const records::SlotRecord rec = records::SlotRecord::decode(s);
    if (rec.fingerprint != mphf_fingerprint(h) || (rec.meta & fmt::k_meta_occupied) == 0 ||
        (rec.meta >> fmt::k_meta_domain_shift) != domain_index) {
        return std::nullopt;
    }
    // The slot walk has not run: check this slot as it would, on proven bytes only. The
    // record's first bytes (two varints, the times) are proven before they are parsed.
    const std::uint64_t off = rec.record_offset;
    constexpr std::uint64_t k_record_head = 5 + 5 + 16 + 4;
    std::uint64_t record_end = 0;
    if (off >= m_strings_length ||
        !file.prove(m_strings + off, std::min(k_record_head, m_strings_length - off)) ||
        check_slot(s, m_strings, m_strings_length, m_domain_count, m_rule_list_count, record_end) !=
            SlotDefect::none ||
        !file.prove(m_strings + off, record_end - off)) {
        if (file.intact()) {
            file.record_failure(Status::corruption(file.path() + ": " +
                                         section_label(static_cast<std::uint32_t>(fmt::SectionType::slots)) +
                                         ": slot " + std::to_string(slot) + " is malformed"));
        }
        return std::nullopt;
    }
    LinkView v = view_of_slot(s);
    if (v.code != code) {
        return std::nullopt;
    }
    return v;
}

Status Snapshot::for_each_link(const std::function<void(const LinkView&)>& fn) const {
    if (Status s = finish_verification(); !s) {
        return s;  // a walk reads every slot: only after every slot is proven
    }
    for (std::uint64_t i = 0; i < m_mphf.slot_count; ++i) {
        const std::uint8_t* s = m_slots + i * fmt::k_slot_size;
        if ((records::SlotRecord::decode(s).meta & fmt::k_meta_occupied) != 0) {
            fn(view_of_slot(s));
        }
    }
    return Status::ok();
}

void Snapshot::prefault() const {
    const Container& file = *m_file;
    volatile std::uint8_t sink = 0;
    for (std::uint64_t piece = 0; piece < file.size(); piece += k_paced_piece) {
        const std::uint64_t end = std::min<std::uint64_t>(file.size(), piece + k_paced_piece);
        if (file.mapped()) {
            ::madvise(const_cast<std::uint8_t*>(file.base()) + piece, end - piece, MADV_WILLNEED);
        }
        for (std::uint64_t off = piece; off < end; off += 4096) {
            sink = sink ^ file.base()[off];
        }
        file.pause();
    }
    (void)sink;
}

}  // namespace shortlink::formats
