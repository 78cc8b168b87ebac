// The snapshot reader is a verifier: open() proves every invariant SPEC.md "Validation" lists
// before a Snapshot exists, so lookup() can trust offsets without checking them again; a lazy
// open proves the slot and string sections block by block instead (SPEC.md "Lazy validation").
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>

#include "formats/bytes.h"
#include "formats/keys.h"
#include "formats/sha256.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"

namespace shortlink::formats {

namespace fmt = format;

// The paced passes over the mapping (prefault(), the unmapping) work in pieces of this size.
constexpr std::size_t k_paced_piece = std::size_t{1} << 20;

struct Snapshot::Impl {
    // Either a read-only mapping (m_mapped) or an owned copy (open_buffer).
    const std::uint8_t* base = nullptr;
    std::size_t size = 0;
    bool mapped = false;
    std::string owned;
    std::string path;

    std::uint32_t version = 0;
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;
    std::int64_t not_after = 0;
    std::string key_id;
    std::uint64_t link_count = 0;
    std::uint32_t domain_count = 0;
    std::uint64_t hash_seed = 0;
    std::vector<SectionInfo> sections;

    // The content region and its signed block digests (section 7).
    std::uint64_t content_start = 0;
    std::uint64_t content_end = 0;
    std::uint64_t block_size = 0;
    std::uint64_t block_count = 0;
    const std::uint8_t* block_digests = nullptr;
    Sha256Digest digest{};  // the signed snapshot digest

    // Lazy opens only: what is still to prove. block_state: 0 unproven, 1 good, 2 bad.
    std::unique_ptr<std::atomic<std::uint8_t>[]> block_state;
    SectionInfo slots_section;
    SectionInfo strings_section;
    std::vector<SectionInfo> deferred;  // sections whose checksum is outstanding
    std::mutex failure_mutex;
    Status failure;  // guarded by failure_mutex: the first failed check
    std::atomic<std::int64_t> failed_block{-1};  // set when a lookup met a bad block

    std::function<void()> pace;  // OpenOptions::pace

    void pause() const {
        if (pace) {
            pace();
        }
    }

    ~Impl() {
        if (!mapped || base == nullptr) {
            return;
        }
        // Unmapping 1 GB is tens of milliseconds in the kernel: in pieces, pausing between
        // them, when the owner asked for pauses.
        std::size_t done = 0;
        while (pace && size - done > k_paced_piece) {
            ::munmap(const_cast<std::uint8_t*>(base) + done, k_paced_piece);
            done += k_paced_piece;
            pace();
        }
        ::munmap(const_cast<std::uint8_t*>(base) + done, size - done);
    }
};

namespace {

std::string hex(const std::uint8_t* p, std::size_t n) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += k_hex[p[i] >> 4];
        out += k_hex[p[i] & 15];
    }
    return out;
}

std::string section_label(std::uint32_t type) {
    return "section " + std::to_string(type) + " (" + std::string(fmt::section_name(type)) + ")";
}

// Parsed, bounds-checked view of the container; filled step by step.
struct Parsed {
    const SectionInfo* domains = nullptr;
    const SectionInfo* index = nullptr;
    const SectionInfo* slots = nullptr;
    const SectionInfo* strings = nullptr;
    const SectionInfo* digests = nullptr;
};

// Reserved bytes [from, to) of a section header must be zero.
Status check_reserved(const std::uint8_t* p, std::size_t from, std::size_t to, const std::string& where) {
    for (std::size_t i = from; i < to; ++i) {
        if (p[i] != 0) {
            return Status::corruption(where + ": reserved byte " + std::to_string(i) + " is not zero");
        }
    }
    return Status::ok();
}

// Sections a lazy open leaves to first touch and finish_verification(): the large ones.
bool is_deferred(const SectionInfo& s) {
    return s.type == static_cast<std::uint32_t>(fmt::SectionType::slots) ||
           s.type == static_cast<std::uint32_t>(fmt::SectionType::strings);
}

Status check_checksum(const Snapshot::Impl& impl, const std::string& name, const SectionInfo& s) {
    if (checksum(impl.base + s.offset, s.length, impl.pace) != s.checksum) {
        return Status::corruption(name + ": " + section_label(s.type) + " checksum mismatch");
    }
    return Status::ok();
}

// Block i of the content region, as [begin, end) file offsets.
std::pair<std::uint64_t, std::uint64_t> block_range(const Snapshot::Impl& impl, std::uint64_t i) {
    const std::uint64_t begin = impl.content_start + i * impl.block_size;
    return {begin, std::min(begin + impl.block_size, impl.content_end)};
}

bool block_matches(const Snapshot::Impl& impl, std::uint64_t i) {
    const auto [begin, end] = block_range(impl, i);
    const Sha256Digest digest = sha256(impl.base + begin, end - begin);
    return std::memcmp(digest.data(), impl.block_digests + i * fmt::k_block_digest_size,
                       fmt::k_block_digest_size) == 0;
}

Status block_mismatch(const Snapshot::Impl& impl, const std::string& name, std::uint64_t i) {
    const auto [begin, end] = block_range(impl, i);
    std::string where;  // every section the block overlaps
    for (const SectionInfo& s : impl.sections) {
        if (s.offset < end && begin < s.offset + s.length) {
            where += (where.empty() ? ", in " : " and ") + section_label(s.type);
        }
    }
    return Status::permission_denied(name + ": block " + std::to_string(i) + " (bytes " +
                                     std::to_string(begin) + ".." + std::to_string(end) + where +
                                     ") does not match its signed digest");
}

Status check_header(Snapshot::Impl& impl, const std::string& name) {
    const std::uint8_t* h = impl.base;
    const std::uint64_t actual = impl.size;
    if (actual < fmt::k_header_size) {
        return Status::corruption(name + ": truncated: file is " + std::to_string(actual) +
                                  " bytes, header needs " + std::to_string(fmt::k_header_size));
    }
    if (std::memcmp(h, fmt::k_magic.data(), fmt::k_magic.size()) != 0) {
        return Status::corruption(name + ": not a shortlink snapshot (bad magic number)");
    }
    impl.version = bytes::load<std::uint32_t>(h + fmt::k_off_version);
    if (impl.version < fmt::k_min_version) {
        return Status::unsupported(name + ": format version " + std::to_string(impl.version) +
                                   " is too old (this build reads versions " +
                                   std::to_string(fmt::k_min_version) + " to " +
                                   std::to_string(fmt::k_version) + ")");
    }
    if (impl.version > fmt::k_version) {
        return Status::unsupported(name + ": format version " + std::to_string(impl.version) +
                                   " is too new (this build reads versions up to " +
                                   std::to_string(fmt::k_version) + "; upgrade shortlink)");
    }
    if (bytes::load<std::uint32_t>(h + fmt::k_off_header_size) != fmt::k_header_size) {
        return Status::corruption(name + ": header size field is not " +
                                  std::to_string(fmt::k_header_size) + " (byte 12)");
    }
    const std::uint64_t declared = bytes::load<std::uint64_t>(h + fmt::k_off_file_size);
    if (actual < declared) {
        return Status::corruption(name + ": truncated at byte " + std::to_string(actual) +
                                  " (header says the file is " + std::to_string(declared) +
                                  " bytes)");
    }
    if (actual > declared) {
        return Status::corruption(name + ": " + std::to_string(actual - declared) +
                                  " trailing bytes after the declared end at byte " +
                                  std::to_string(declared));
    }
    if (bytes::load<std::uint32_t>(h + fmt::k_off_hash_function) != fmt::k_hash_slhash128_v1) {
        return Status::unsupported(name + ": unknown hash function id (byte 80)");
    }
    if (bytes::load<std::uint32_t>(h + fmt::k_off_flags) != 0) {
        return Status::unsupported(name + ": unknown header flags (byte 84)");
    }
    for (std::size_t i = fmt::k_off_reserved; i < fmt::k_header_size; ++i) {
        if (h[i] != 0) {
            return Status::corruption(name + ": reserved header byte " + std::to_string(i) +
                                      " is not zero");
        }
    }
    impl.serial = bytes::load<std::uint64_t>(h + fmt::k_off_serial);
    impl.created_at = bytes::load<std::int64_t>(h + fmt::k_off_created_at);
    impl.not_after = bytes::load<std::int64_t>(h + fmt::k_off_not_after);
    impl.key_id = hex(h + fmt::k_off_key_id, fmt::k_key_id_size);
    impl.link_count = bytes::load<std::uint64_t>(h + fmt::k_off_link_count);
    impl.domain_count = bytes::load<std::uint32_t>(h + fmt::k_off_domain_count);
    impl.hash_seed = bytes::load<std::uint64_t>(h + fmt::k_off_hash_seed);
    return Status::ok();
}

Status check_sections(Snapshot::Impl& impl, const std::string& name, Parsed& parsed) {
    const std::uint8_t* h = impl.base;
    const std::uint64_t size = impl.size;
    if (size < fmt::k_header_size + fmt::k_signature_size) {
        return Status::corruption(name + ": truncated at byte " + std::to_string(size) +
                                  " (no room for a signature)");
    }
    const std::uint64_t signature_offset = size - fmt::k_signature_size;
    const std::uint32_t count = bytes::load<std::uint32_t>(h + fmt::k_off_section_count);
    if (count > fmt::k_max_sections) {
        return Status::corruption(name + ": section count " + std::to_string(count) +
                                  " exceeds the limit of " + std::to_string(fmt::k_max_sections));
    }
    const std::uint64_t table_end = fmt::k_header_size + count * fmt::k_section_entry_size;
    if (table_end > signature_offset) {
        return Status::corruption(name + ": section table ends at byte " +
                                  std::to_string(table_end) + ", past the signature at byte " +
                                  std::to_string(signature_offset));
    }
    std::uint64_t previous_end = table_end;
    std::uint32_t previous_type = 0;
    impl.sections.clear();
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint8_t* e = h + fmt::k_header_size + i * fmt::k_section_entry_size;
        SectionInfo s;
        s.type = bytes::load<std::uint32_t>(e);
        s.name = fmt::section_name(s.type);
        s.offset = bytes::load<std::uint64_t>(e + 8);
        s.length = bytes::load<std::uint64_t>(e + 16);
        s.checksum = bytes::load<std::uint64_t>(e + 24);
        const std::string where = name + ": section table entry " + std::to_string(i) + " (" +
                                  section_label(s.type) + ")";
        if (s.type == 0 || s.type > static_cast<std::uint32_t>(fmt::SectionType::digests) ||
            bytes::load<std::uint32_t>(e + 4) != 0) {
            return Status::corruption(where + ": unknown section type");
        }
        if (s.type <= previous_type) {
            return Status::corruption(where + ": sections out of order or repeated");
        }
        if (s.offset % fmt::k_alignment != 0 || s.offset < previous_end) {
            return Status::corruption(where + ": offset " + std::to_string(s.offset) +
                                      " is misaligned or overlaps what precedes it");
        }
        if (s.offset > signature_offset || s.length > signature_offset - s.offset) {
            return Status::corruption(where + ": [" + std::to_string(s.offset) + ", +" +
                                      std::to_string(s.length) + ") runs past byte " +
                                      std::to_string(signature_offset));
        }
        previous_end = s.offset + s.length;
        previous_type = s.type;
        impl.sections.push_back(s);
    }
    for (const SectionInfo& s : impl.sections) {
        switch (static_cast<fmt::SectionType>(s.type)) {
        case fmt::SectionType::domains: parsed.domains = &s; break;
        case fmt::SectionType::index: parsed.index = &s; break;
        case fmt::SectionType::slots: parsed.slots = &s; break;
        case fmt::SectionType::strings: parsed.strings = &s; break;
        case fmt::SectionType::digests: parsed.digests = &s; break;
        default: break;  // reserved sections are checksummed and otherwise ignored
        }
    }
    if (!parsed.domains || !parsed.index || !parsed.slots || !parsed.strings || !parsed.digests) {
        return Status::corruption(name + ": a required section (domains, index, slots, strings, "
                                         "digests) is missing");
    }
    return Status::ok();
}

// Why block i does not match its digest, as precisely as the format can say: a section checksum
// that fails too means damage inside that section ("corrupt", as a full open reports it first);
// otherwise the change kept the checksums right or sits in padding, which only the signed digest
// covers.
Status explain_block(const Snapshot::Impl& impl, const std::string& name, std::uint64_t i) {
    const auto [begin, end] = block_range(impl, i);
    for (const SectionInfo& s : impl.sections) {
        if (s.offset < end && begin < s.offset + s.length) {
            if (Status st = check_checksum(impl, name, s); !st) {
                return st;
            }
        }
    }
    return block_mismatch(impl, name, i);
}

// Section 7's layout: it must describe exactly the content region before it, in blocks.
Status check_digests(Snapshot::Impl& impl, const std::string& name, const SectionInfo& sec) {
    const std::string where = name + ": " + section_label(sec.type);
    const std::uint64_t table_end =
        fmt::k_header_size + impl.sections.size() * fmt::k_section_entry_size;
    const std::uint64_t content_start = (table_end + fmt::k_alignment - 1) &
                                        ~static_cast<std::uint64_t>(fmt::k_alignment - 1);
    if (sec.length < fmt::k_digests_header_size) {
        return Status::corruption(where + ": shorter than its " +
                                  std::to_string(fmt::k_digests_header_size) + "-byte header");
    }
    const std::uint8_t* p = impl.base + sec.offset;
    impl.block_size = bytes::load<std::uint64_t>(p);
    impl.content_start = bytes::load<std::uint64_t>(p + 8);
    impl.content_end = bytes::load<std::uint64_t>(p + 16);
    impl.block_count = bytes::load<std::uint64_t>(p + 24);
    if (Status st = check_reserved(p, 32, fmt::k_digests_header_size, where); !st) {
        return st;
    }
    if (impl.block_size < fmt::k_min_block_size || impl.block_size > fmt::k_max_block_size ||
        (impl.block_size & (impl.block_size - 1)) != 0) {
        return Status::corruption(where + ": block size " + std::to_string(impl.block_size) +
                                  " is not a power of two in [4 KiB, 16 MiB]");
    }
    if (&sec != &impl.sections.back() || impl.content_start != content_start ||
        impl.content_end != sec.offset) {
        return Status::corruption(where + ": does not describe the content region [" +
                                  std::to_string(content_start) + ", " +
                                  std::to_string(sec.offset) + ") or is not the last section");
    }
    const std::uint64_t content = impl.content_end - impl.content_start;
    if (impl.block_count != (content + impl.block_size - 1) / impl.block_size ||
        sec.length != fmt::k_digests_header_size + impl.block_count * fmt::k_block_digest_size) {
        return Status::corruption(where + ": " + std::to_string(impl.block_count) +
                                  " block digests do not match the content size or the length");
    }
    impl.block_digests = p + fmt::k_digests_header_size;
    return Status::ok();
}

// The snapshot digest: SHA-256 of the bytes before the content region and of those from the
// digests section to the signature (the block digests stand in for the content).
void compute_digest(Snapshot::Impl& impl) {
    Sha256 sha;
    sha.update(impl.base, impl.content_start);
    sha.update(impl.base + impl.content_end, impl.size - fmt::k_signature_size - impl.content_end);
    impl.digest = sha.finish();
}

Status check_signature(const Snapshot::Impl& impl, const std::string& name,
                       const TrustedKeys& trusted) {
    const TrustedKey* key = nullptr;
    for (const TrustedKey& k : trusted) {
        if (k.key_id == impl.key_id) {
            key = &k;
            break;
        }
    }
    if (key == nullptr) {
        return Status::permission_denied(name + ": signed by key " + impl.key_id +
                                         ", which is not among the " +
                                         std::to_string(trusted.size()) + " trusted key(s)");
    }
    const std::uint64_t signature_offset = impl.size - fmt::k_signature_size;
    const std::string message = signature_message(impl.digest);
    SignatureBytes sig{};
    std::memcpy(sig.data(), impl.base + signature_offset, sig.size());
    if (!verify_signature(*key, reinterpret_cast<const std::uint8_t*>(message.data()),
                          message.size(), sig)) {
        return Status::permission_denied(name + ": signature does not verify against key " +
                                         impl.key_id + " (file modified after signing)");
    }
    return Status::ok();
}

}  // namespace

Snapshot::Snapshot(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Snapshot::~Snapshot() = default;

namespace {

Status load_domains(const Snapshot::Impl& impl, const SectionInfo& sec, const std::string& name,
                    std::vector<DomainView>& domains,
                    std::optional<std::uint32_t>& default_domain) {
    const std::uint8_t* base = impl.base + sec.offset;
    const std::uint64_t count = impl.domain_count;
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
        const auto host_off = bytes::load<std::uint32_t>(r);
        const auto host_len = bytes::load<std::uint32_t>(r + 4);
        const auto root_off = bytes::load<std::uint32_t>(r + 8);
        const auto root_len = bytes::load<std::uint32_t>(r + 12);
        const auto redirect = bytes::load<std::uint16_t>(r + 16);
        const std::uint8_t flags = r[18];
        const std::string rec = where + ": domain " + std::to_string(i);
        if (std::uint64_t{host_off} + host_len > sec.length ||
            std::uint64_t{root_off} + root_len > sec.length || host_len == 0 ||
            host_len > fmt::k_max_host_length || root_len > fmt::k_max_destination_length) {
            return Status::corruption(rec + ": string out of bounds");
        }
        if (std::find(fmt::k_redirect_codes.begin(), fmt::k_redirect_codes.end(), redirect) ==
                fmt::k_redirect_codes.end() ||
            (flags & ~fmt::k_domain_known_flags) != 0 || r[19] != 0 ||
            bytes::load<std::uint32_t>(r + 28) != 0) {
            return Status::corruption(rec + ": invalid redirect type, flags or reserved bytes");
        }
        DomainView d;
        d.host = std::string_view(reinterpret_cast<const char*>(base + host_off), host_len);
        d.root_url = std::string_view(reinterpret_cast<const char*>(base + root_off), root_len);
        d.default_redirect = redirect;
        d.is_default = (flags & fmt::k_domain_is_default) != 0;
        d.case_insensitive = (flags & fmt::k_domain_case_insensitive) != 0;
        d.forward_query = (flags & fmt::k_domain_forward_query) != 0;
        d.cache_max_age_s = bytes::load<std::uint32_t>(r + 20);
        d.negative_max_age_s = bytes::load<std::uint32_t>(r + 24);
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

Status load_index(const Snapshot::Impl& impl, const SectionInfo& sec, const std::string& name,
                  MphfParams& mphf, const std::uint8_t*& pilots) {
    const std::string where = name + ": " + section_label(sec.type);
    if (sec.length < fmt::k_index_header_size) {
        return Status::corruption(where + ": shorter than its " +
                                  std::to_string(fmt::k_index_header_size) + "-byte header");
    }
    const std::uint8_t* p = impl.base + sec.offset;
    mphf = MphfParams{};
    mphf.key_count = bytes::load<std::uint64_t>(p);
    mphf.slot_count = bytes::load<std::uint64_t>(p + 8);
    mphf.bucket_count = bytes::load<std::uint64_t>(p + 16);
    mphf.dense_buckets = bytes::load<std::uint64_t>(p + 24);
    mphf.dense_threshold = bytes::load<std::uint64_t>(p + 32);
    if (Status st = check_reserved(p, 40, fmt::k_index_header_size, where); !st) {
        return st;
    }
    if (mphf.key_count != impl.link_count) {
        return Status::corruption(where + ": key count " + std::to_string(mphf.key_count) +
                                  " differs from the header's link count " +
                                  std::to_string(impl.link_count));
    }
    // Slots are at most twice the keys (the writer uses a load factor near 1).
    if (mphf.slot_count > 2 * mphf.key_count + 64 || mphf.bucket_count > mphf.key_count + 64 ||
        !mphf.derive()) {
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
enum class SlotDefect { none, meta, offset, lengths, overrun };

SlotDefect check_slot(const std::uint8_t* s, const std::uint8_t* strings,
                      std::uint64_t strings_length, std::uint32_t domain_count,
                      std::uint64_t& record_end) {
    const auto meta = bytes::load<std::uint32_t>(s + 4);
    const auto off = bytes::load<std::uint64_t>(s + 8);
    if ((meta & fmt::k_meta_status_mask) > 2 || (meta & fmt::k_meta_reserved_bit) != 0 ||
        (meta >> fmt::k_meta_domain_shift) >= domain_count) {
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
    const std::uint64_t body = n + m + ((meta & fmt::k_meta_has_times) ? 16 : 0) +
                               std::uint64_t{code_len} + dest_len;
    if (body > strings_length - off) {
        return SlotDefect::overrun;
    }
    record_end = off + body;
    return SlotDefect::none;
}

Status load_slots(const Snapshot::Impl& impl, const SectionInfo& slot_sec,
                  const SectionInfo& str_sec, const MphfParams& mphf, const std::string& name) {
    const std::string where = name + ": " + section_label(slot_sec.type);
    const std::uint8_t* slots = impl.base + slot_sec.offset;
    const std::uint8_t* strings = impl.base + str_sec.offset;
    std::uint64_t occupied = 0;
    for (std::uint64_t i = 0; i < mphf.slot_count; ++i) {
        if (i % 4096 == 4095) {
            impl.pause();
        }
        const std::uint8_t* s = slots + i * fmt::k_slot_size;
        const auto fp = bytes::load<std::uint32_t>(s);
        const auto meta = bytes::load<std::uint32_t>(s + 4);
        const auto off = bytes::load<std::uint64_t>(s + 8);
        if ((meta & fmt::k_meta_occupied) == 0) {
            if (fp != 0 || meta != 0 || off != 0) {
                return Status::corruption(where + ": empty slot " + std::to_string(i) +
                                          " is not zeroed");
            }
            continue;
        }
        ++occupied;
        std::uint64_t record_end = 0;
        const SlotDefect defect = check_slot(s, strings, str_sec.length, impl.domain_count, record_end);
        if (defect == SlotDefect::none) [[likely]] {
            continue;
        }
        const std::string rec = where + ": slot " + std::to_string(i);  // only for the error
        switch (defect) {
        case SlotDefect::none: break;
        case SlotDefect::meta:
            return Status::corruption(rec + ": invalid status, reserved bit or domain index");
        case SlotDefect::offset:
            return Status::corruption(rec + ": record offset " + std::to_string(off) +
                                      " is past the end of the strings section");
        case SlotDefect::lengths:
            return Status::corruption(rec + ": malformed record lengths at strings offset " +
                                      std::to_string(off));
        case SlotDefect::overrun:
            return Status::corruption(rec + ": record at strings offset " + std::to_string(off) +
                                      " runs past the end of the section");
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

Result<std::shared_ptr<const Snapshot>> Snapshot::open(const std::string& path,
                                                       const TrustedKeys& trusted,
                                                       OpenOptions options) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return Status::not_found(path + ": no such file");
        }
        return Status::io_error(path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::io_error(path + ": not a regular file");
    }
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->size = static_cast<std::size_t>(st.st_size);
    if (impl->size > 0) {
        void* p = ::mmap(nullptr, impl->size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return Status::io_error(path + ": cannot map: " + std::strerror(err));
        }
        impl->base = static_cast<const std::uint8_t*>(p);
        impl->mapped = true;
    } else {
        impl->base = reinterpret_cast<const std::uint8_t*>("");
    }
    ::close(fd);  // the mapping keeps the file alive
    std::unique_ptr<Snapshot> snap(new Snapshot(std::move(impl)));
    if (Status s = snap->load(trusted, options); !s) {
        return s;
    }
    return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<std::shared_ptr<const Snapshot>> Snapshot::open_buffer(std::string_view data,
                                                              const TrustedKeys& trusted,
                                                              OpenOptions options,
                                                              std::string name) {
    auto impl = std::make_unique<Impl>();
    impl->path = std::move(name);
    impl->owned.assign(data.data(), data.size());
    impl->base = reinterpret_cast<const std::uint8_t*>(impl->owned.data());
    impl->size = impl->owned.size();
    std::unique_ptr<Snapshot> snap(new Snapshot(std::move(impl)));
    if (Status s = snap->load(trusted, options); !s) {
        return s;
    }
    return std::shared_ptr<const Snapshot>(std::move(snap));
}

Status Snapshot::load(const TrustedKeys& trusted, OpenOptions options) {
    Impl& impl = *m_impl;
    const std::string& name = impl.path;
    const bool lazy = options.lazy_content && options.verify_signature;
    // A lazy open is milliseconds by design and a server's first answer waits for it: it runs
    // through, and only the passes it leaves (finish_verification, prefault, unmapping) pause.
    if (!lazy) {
        impl.pace = std::move(options.pace);
    }
    Parsed parsed;
    if (Status s = check_header(impl, name); !s) {
        return s;
    }
    if (Status s = check_sections(impl, name, parsed); !s) {
        return s;
    }
    for (const SectionInfo& sec : impl.sections) {
        if (lazy && is_deferred(sec)) {
            impl.deferred.push_back(sec);
        } else if (Status s = check_checksum(impl, name, sec); !s) {
            return s;
        }
    }
    if (Status s = check_digests(impl, name, *parsed.digests); !s) {
        return s;
    }
    compute_digest(impl);
    if (options.verify_signature) {
        if (Status s = check_signature(impl, name, trusted); !s) {
            return s;
        }
        // The signature covers the content through the block digests: prove them now, or in a
        // lazy open only those under the sections it does not defer.
        impl.block_state = std::make_unique<std::atomic<std::uint8_t>[]>(impl.block_count);
        for (std::uint64_t i = 0; i < impl.block_count; ++i) {
            bool needed = !lazy;
            const auto [begin, end] = block_range(impl, i);
            for (const SectionInfo& sec : impl.sections) {
                needed = needed || (!is_deferred(sec) && sec.offset < end &&
                                    begin < sec.offset + sec.length);
            }
            if (!needed) {
                continue;
            }
            impl.pause();
            if (!block_matches(impl, i)) {
                return explain_block(impl, name, i);
            }
            impl.block_state[i].store(1, std::memory_order_relaxed);
        }
    }
    if (Status s = load_domains(impl, *parsed.domains, name, m_domains, m_default_domain); !s) {
        return s;
    }
    if (Status s = load_index(impl, *parsed.index, name, m_mphf, m_pilots); !s) {
        return s;
    }
    if (parsed.slots->length != m_mphf.slot_count * fmt::k_slot_size) {
        return Status::corruption(name + ": " + section_label(parsed.slots->type) + ": length " +
                                  std::to_string(parsed.slots->length) + " is not " +
                                  std::to_string(m_mphf.slot_count) + " slots");
    }
    impl.slots_section = *parsed.slots;
    impl.strings_section = *parsed.strings;
    if (!lazy) {
        if (Status s = load_slots(impl, *parsed.slots, *parsed.strings, m_mphf, name); !s) {
            return s;
        }
    }
    m_seed = impl.hash_seed;
    m_slots = impl.base + parsed.slots->offset;
    m_strings = impl.base + parsed.strings->offset;
    if (lazy) {
        impl.pace = std::move(options.pace);
    }
    m_state.store(lazy ? k_verifying : k_verified, std::memory_order_release);
    return Status::ok();
}

void Snapshot::fail(const Status& status) const {
    {
        std::lock_guard lock(m_impl->failure_mutex);
        if (m_impl->failure.is_ok()) {
            m_impl->failure = status;
        }
    }
    m_state.store(k_failed, std::memory_order_release);
}

Status Snapshot::finish_verification(const std::atomic<bool>* cancel) const {
    Impl& impl = *m_impl;
    const auto cancelled = [&] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };
    const auto failed = [&](const Status& s) {
        fail(s);
        std::lock_guard lock(impl.failure_mutex);
        return impl.failure;
    };
    if (m_state.load(std::memory_order_acquire) == k_failed) {
        const std::int64_t block = impl.failed_block.load();
        std::lock_guard lock(impl.failure_mutex);
        if (block >= 0) {  // a lookup met it: say what a full open would have said
            impl.failure = explain_block(impl, impl.path, static_cast<std::uint64_t>(block));
            impl.failed_block.store(-1);
        }
        return impl.failure;
    }
    if (m_state.load(std::memory_order_acquire) == k_verified) {
        return Status::ok();
    }
    // The same order as a full open, so a damaged file gets the same message either way.
    for (const SectionInfo& sec : impl.deferred) {
        if (cancelled()) {
            return Status::ok();
        }
        if (Status s = check_checksum(impl, impl.path, sec); !s) {
            return failed(s);
        }
    }
    for (std::uint64_t i = 0; i < impl.block_count; ++i) {
        if (cancelled()) {
            return Status::ok();
        }
        const std::uint8_t state = impl.block_state[i].load(std::memory_order_acquire);
        if (state == 1) {
            continue;
        }
        impl.pause();
        if (state == 2 || !block_matches(impl, i)) {
            impl.block_state[i].store(2, std::memory_order_release);
            return failed(explain_block(impl, impl.path, i));
        }
        impl.block_state[i].store(1, std::memory_order_release);
    }
    if (Status s = load_slots(impl, impl.slots_section, impl.strings_section, m_mphf, impl.path);
        !s) {
        return failed(s);
    }
    std::uint8_t expected = k_verifying;
    if (!m_state.compare_exchange_strong(expected, k_verified, std::memory_order_acq_rel) &&
        expected == k_failed) {
        std::lock_guard lock(impl.failure_mutex);  // a lookup found a bad block meanwhile
        return impl.failure;
    }
    return Status::ok();
}

bool Snapshot::prove(const std::uint8_t* p, std::uint64_t length) const {
    Impl& impl = *m_impl;
    const auto begin = static_cast<std::uint64_t>(p - impl.base);
    if (length == 0 || begin < impl.content_start || begin + length > impl.content_end) {
        return false;  // not reachable from a well-formed slot: callers bound offsets first
    }
    for (std::uint64_t i = (begin - impl.content_start) / impl.block_size;
         i <= (begin + length - 1 - impl.content_start) / impl.block_size; ++i) {
        const std::uint8_t state = impl.block_state[i].load(std::memory_order_acquire);
        if (state == 1) {
            continue;
        }
        if (state == 2 || !block_matches(impl, i)) {
            impl.block_state[i].store(2, std::memory_order_release);
            std::int64_t none = -1;
            impl.failed_block.compare_exchange_strong(none, static_cast<std::int64_t>(i));
            fail(block_mismatch(impl, impl.path, i));  // finish_verification() refines it
            return false;
        }
        impl.block_state[i].store(1, std::memory_order_release);
    }
    return true;
}

std::uint64_t Snapshot::serial() const { return m_impl->serial; }
std::int64_t Snapshot::created_at() const { return m_impl->created_at; }
std::int64_t Snapshot::not_after() const { return m_impl->not_after; }
std::string_view Snapshot::key_id() const { return m_impl->key_id; }
std::uint64_t Snapshot::link_count() const { return m_impl->link_count; }
std::uint32_t Snapshot::domain_count() const { return m_impl->domain_count; }
std::uint64_t Snapshot::file_size() const { return m_impl->size; }
const std::string& Snapshot::path() const { return m_impl->path; }
std::uint32_t Snapshot::format_version() const { return m_impl->version; }
std::uint64_t Snapshot::hash_seed() const { return m_impl->hash_seed; }
std::vector<SectionInfo> Snapshot::sections() const { return m_impl->sections; }
std::string Snapshot::digest_hex() const { return hex(m_impl->digest.data(), m_impl->digest.size()); }

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
    const auto meta = bytes::load<std::uint32_t>(slot + 4);
    const auto off = bytes::load<std::uint64_t>(slot + 8);
    const std::uint8_t* r = m_strings + off;
    std::uint32_t code_len = 0;
    std::uint32_t dest_len = 0;
    r = bytes::get_varint32_trusted(r, code_len);
    r = bytes::get_varint32_trusted(r, dest_len);
    LinkView v;
    if ((meta & fmt::k_meta_has_times) != 0) {
        v.not_before = bytes::load<std::int64_t>(r);
        v.expires = bytes::load<std::int64_t>(r + 8);
        r += 16;
    }
    v.code = std::string_view(reinterpret_cast<const char*>(r), code_len);
    v.destination = std::string_view(reinterpret_cast<const char*>(r + code_len), dest_len);
    v.domain_index = meta >> fmt::k_meta_domain_shift;
    v.status = static_cast<LinkStatus>(meta & fmt::k_meta_status_mask);
    v.redirect_type =
        fmt::k_redirect_codes[(meta >> fmt::k_meta_redirect_shift) & fmt::k_meta_redirect_mask];
    v.forward_query = (meta & fmt::k_meta_forward_query) != 0;
    return v;
}

std::optional<LinkView> Snapshot::lookup(std::uint32_t domain_index, std::string_view code) const {
    if (m_mphf.key_count == 0) {
        return std::nullopt;
    }
    if (m_state.load(std::memory_order_acquire) != k_verified) [[unlikely]] {
        return lookup_verifying(domain_index, code);
    }
    const Hash128 h = hash128(code, domain_seed(m_seed, domain_index));
    const std::uint64_t bucket = mphf_bucket(m_mphf, h.hi);
    const std::uint64_t slot = mphf_slot(m_mphf, h.lo, m_pilots[bucket]);
    const std::uint8_t* s = m_slots + slot * fmt::k_slot_size;
    const auto fp = bytes::load<std::uint32_t>(s);
    const auto meta = bytes::load<std::uint32_t>(s + 4);
    // An empty slot has fingerprint 0 and meta 0, so the occupied bit decides for it.
    if (fp != mphf_fingerprint(h) || (meta & fmt::k_meta_occupied) == 0 ||
        (meta >> fmt::k_meta_domain_shift) != domain_index) {
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
    if (m_state.load(std::memory_order_acquire) == k_failed) {
        return std::nullopt;
    }
    const Hash128 h = hash128(code, domain_seed(m_seed, domain_index));
    const std::uint64_t bucket = mphf_bucket(m_mphf, h.hi);
    const std::uint64_t slot = mphf_slot(m_mphf, h.lo, m_pilots[bucket]);
    const std::uint8_t* s = m_slots + slot * fmt::k_slot_size;
    if (!prove(s, fmt::k_slot_size)) {
        return std::nullopt;
    }
    const auto fp = bytes::load<std::uint32_t>(s);
    const auto meta = bytes::load<std::uint32_t>(s + 4);
    if (fp != mphf_fingerprint(h) || (meta & fmt::k_meta_occupied) == 0 ||
        (meta >> fmt::k_meta_domain_shift) != domain_index) {
        return std::nullopt;
    }
    // The slot walk has not run: check this slot as it would, on proven bytes only. The
    // record's first bytes (two varints, the times) are proven before they are parsed.
    const Impl& impl = *m_impl;
    const std::uint64_t strings_length = impl.strings_section.length;
    const auto off = bytes::load<std::uint64_t>(s + 8);
    constexpr std::uint64_t k_record_head = 5 + 5 + 16;
    std::uint64_t record_end = 0;
    if (off >= strings_length ||
        !prove(m_strings + off, std::min(k_record_head, strings_length - off)) ||
        check_slot(s, m_strings, strings_length, impl.domain_count, record_end) !=
            SlotDefect::none ||
        !prove(m_strings + off, record_end - off)) {
        if (intact()) {
            fail(Status::corruption(impl.path + ": " + section_label(impl.slots_section.type) +
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

void Snapshot::for_each_link(const std::function<void(const LinkView&)>& fn) const {
    if (!fully_verified() && !finish_verification().is_ok()) {
        return;  // a walk reads every slot: only after every slot is proven
    }
    for (std::uint64_t i = 0; i < m_mphf.slot_count; ++i) {
        const std::uint8_t* s = m_slots + i * fmt::k_slot_size;
        if ((bytes::load<std::uint32_t>(s + 4) & fmt::k_meta_occupied) != 0) {
            fn(view_of_slot(s));
        }
    }
}

void Snapshot::prefault() const {
    const Impl& impl = *m_impl;
    volatile std::uint8_t sink = 0;
    for (std::size_t piece = 0; piece < impl.size; piece += k_paced_piece) {
        const std::size_t end = std::min(impl.size, piece + k_paced_piece);
        if (impl.mapped) {
            ::madvise(const_cast<std::uint8_t*>(impl.base) + piece, end - piece, MADV_WILLNEED);
        }
        for (std::size_t off = piece; off < end; off += 4096) {
            sink = sink ^ impl.base[off];
        }
        impl.pause();
    }
    (void)sink;
}

}  // namespace shortlink::formats
