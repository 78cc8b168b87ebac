// The snapshot reader is a verifier: open() proves every invariant SPEC.md "Validation" lists
// before a Snapshot exists, so lookup() can trust offsets without checking them again.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <openssl/evp.h>

#include "formats/bytes.h"
#include "formats/keys.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"

namespace shortlink::formats {

namespace fmt = format;

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

    ~Impl() {
        if (mapped && base != nullptr) {
            ::munmap(const_cast<std::uint8_t*>(base), size);
        }
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
};

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
        if (s.type == 0 || s.type > static_cast<std::uint32_t>(fmt::SectionType::deny) ||
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
        if (checksum(h + s.offset, s.length) != s.checksum) {
            return Status::corruption(name + ": " + section_label(s.type) + " checksum mismatch");
        }
    }
    for (const SectionInfo& s : impl.sections) {
        switch (static_cast<fmt::SectionType>(s.type)) {
        case fmt::SectionType::domains: parsed.domains = &s; break;
        case fmt::SectionType::index: parsed.index = &s; break;
        case fmt::SectionType::slots: parsed.slots = &s; break;
        case fmt::SectionType::strings: parsed.strings = &s; break;
        default: break;  // reserved sections are checksummed and otherwise ignored by v1
        }
    }
    if (!parsed.domains || !parsed.index || !parsed.slots || !parsed.strings) {
        return Status::corruption(name + ": a required section (domains, index, slots, strings) "
                                         "is missing");
    }
    return Status::ok();
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
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(impl.base, signature_offset, digest, &len, EVP_sha256(), nullptr);
    std::string message(fmt::k_signature_context);
    message.push_back('\0');
    message.append(reinterpret_cast<const char*>(digest), len);
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
    for (std::size_t i = 40; i < fmt::k_index_header_size; ++i) {
        if (p[i] != 0) {
            return Status::corruption(where + ": reserved byte " + std::to_string(i) +
                                      " is not zero");
        }
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

Status load_slots(const Snapshot::Impl& impl, const SectionInfo& slot_sec,
                  const SectionInfo& str_sec, const MphfParams& mphf, const std::string& name) {
    const std::string where = name + ": " + section_label(slot_sec.type);
    if (slot_sec.length != mphf.slot_count * fmt::k_slot_size) {
        return Status::corruption(where + ": length " + std::to_string(slot_sec.length) +
                                  " is not " + std::to_string(mphf.slot_count) + " slots");
    }
    const std::uint8_t* slots = impl.base + slot_sec.offset;
    const std::uint8_t* strings = impl.base + str_sec.offset;
    const std::uint8_t* strings_end = strings + str_sec.length;
    std::uint64_t occupied = 0;
    for (std::uint64_t i = 0; i < mphf.slot_count; ++i) {
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
        const std::string rec = where + ": slot " + std::to_string(i);
        if ((meta & fmt::k_meta_status_mask) > 2 || (meta & fmt::k_meta_reserved_bit) != 0 ||
            (meta >> fmt::k_meta_domain_shift) >= impl.domain_count) {
            return Status::corruption(rec + ": invalid status, reserved bit or domain index");
        }
        if (off >= str_sec.length) {
            return Status::corruption(rec + ": record offset " + std::to_string(off) +
                                      " is past the end of the strings section");
        }
        const std::uint8_t* r = strings + off;
        std::uint32_t code_len = 0;
        std::uint32_t dest_len = 0;
        std::size_t n = bytes::get_varint32(r, strings_end, code_len);
        std::size_t m = n == 0 ? 0 : bytes::get_varint32(r + n, strings_end, dest_len);
        if (n == 0 || m == 0 || code_len > fmt::k_max_code_length ||
            dest_len > fmt::k_max_destination_length) {
            return Status::corruption(rec + ": malformed record lengths at strings offset " +
                                      std::to_string(off));
        }
        const std::uint64_t body = n + m + ((meta & fmt::k_meta_has_times) ? 16 : 0) +
                                   std::uint64_t{code_len} + dest_len;
        if (body > str_sec.length - off) {
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
    Parsed parsed;
    if (Status s = check_header(impl, name); !s) {
        return s;
    }
    if (Status s = check_sections(impl, name, parsed); !s) {
        return s;
    }
    if (options.verify_signature) {
        if (Status s = check_signature(impl, name, trusted); !s) {
            return s;
        }
    }
    if (Status s = load_domains(impl, *parsed.domains, name, m_domains, m_default_domain); !s) {
        return s;
    }
    if (Status s = load_index(impl, *parsed.index, name, m_mphf, m_pilots); !s) {
        return s;
    }
    if (Status s = load_slots(impl, *parsed.slots, *parsed.strings, m_mphf, name); !s) {
        return s;
    }
    m_seed = impl.hash_seed;
    m_slots = impl.base + parsed.slots->offset;
    m_strings = impl.base + parsed.strings->offset;
    return Status::ok();
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

void Snapshot::for_each_link(const std::function<void(const LinkView&)>& fn) const {
    for (std::uint64_t i = 0; i < m_mphf.slot_count; ++i) {
        const std::uint8_t* s = m_slots + i * fmt::k_slot_size;
        if ((bytes::load<std::uint32_t>(s + 4) & fmt::k_meta_occupied) != 0) {
            fn(view_of_slot(s));
        }
    }
}

void Snapshot::prefault() const {
    const Impl& impl = *m_impl;
    if (impl.mapped) {
        ::madvise(const_cast<std::uint8_t*>(impl.base), impl.size, MADV_WILLNEED);
    }
    volatile std::uint8_t sink = 0;
    for (std::size_t off = 0; off < impl.size; off += 4096) {
        sink = sink ^ impl.base[off];
    }
    (void)sink;
}

}  // namespace shortlink::formats
