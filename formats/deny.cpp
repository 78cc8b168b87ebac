// The deny section: writer (encode_deny_section), verifier and lookups (DenySet), and the deny
// overlay file around it (DenyOverlay). Layout in SPEC.md "Section 6: deny".
#include "formats/deny.h"

#include <algorithm>
#include <bit>
#include <tuple>

#include "formats/bytes.h"
#include "formats/deny_format.h"
#include "formats/hash.h"
#include "formats/records.h"
#include "formats/snapshot_format.h"

namespace shortlink::formats {

namespace fmt = format;

namespace {

// Larger tables are refused by the reader: 2^25 entries of 16 bytes is 512 MiB, far more than
// k_deny_max_entries at the writer's load.
constexpr std::uint64_t k_max_table_size = std::uint64_t{1} << 25;

// The tag of an entry: a seeded hash of kind, host and (for links) code, never 0 (0 marks an
// empty table entry). A probe starts at (tag >> 1) & mask.
std::uint64_t entry_tag(std::uint64_t seed, std::uint8_t kind, std::string_view host,
                        std::string_view code) {
    std::uint64_t h = hash128(host, seed ^ (kind * fmt::k_deny_kind_salt)).lo;
    if (kind == fmt::k_deny_link) {
        h = hash128(code, h).lo;
    }
    return h | 1;
}

struct RecordView {
    std::uint8_t kind = 0;
    std::string_view host;
    std::string_view code;
};

// The record at `p` (trusted: load() proved it).
RecordView read_record(const std::uint8_t* p) {
    RecordView r;
    r.kind = p[0];
    std::uint32_t host_len = 0;
    std::uint32_t code_len = 0;
    p = bytes::get_varint32_trusted(p + 1, host_len);
    p = bytes::get_varint32_trusted(p, code_len);
    r.host = std::string_view(reinterpret_cast<const char*>(p), host_len);
    r.code = std::string_view(reinterpret_cast<const char*>(p + host_len), code_len);
    return r;
}

std::uint8_t kind_byte(DenyKind kind) { return static_cast<std::uint8_t>(kind); }

unsigned label_count(std::string_view host) {
    return 1 + static_cast<unsigned>(std::count(host.begin(), host.end(), '.'));
}

std::uint64_t label_bit(unsigned labels) { return std::uint64_t{1} << std::min(labels, 63u); }

}  // namespace

std::string_view deny_kind_name(DenyKind kind) {
    switch (kind) {
    case DenyKind::link: return "link";
    case DenyKind::domain: return "domain";
    case DenyKind::destination: return "destination";
    }
    return "unknown";
}

std::string_view destination_host(std::string_view url) {
    const std::size_t scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return {};
    }
    std::string_view authority = url.substr(scheme + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    const std::size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
        authority = authority.substr(at + 1);
    }
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        return close == std::string_view::npos ? std::string_view{} : authority.substr(0, close + 1);
    }
    return authority.substr(0, authority.find(':'));
}

Result<DenySet> DenySet::load(const Container& file, const SectionInfo& section) {
    const std::string where = file.path() + ": " + section_label(section.type);
    if (section.length < fmt::k_deny_header_size) {
        return Status::corruption(where + ": shorter than its " +
                                  std::to_string(fmt::k_deny_header_size) + "-byte header");
    }
    const std::uint8_t* p = file.base() + section.offset;
    const records::DenyHeader h = records::DenyHeader::decode(p);
    for (std::size_t i = records::DenyHeader::k_used; i < fmt::k_deny_header_size; ++i) {
        if (p[i] != 0) {
            return Status::corruption(where + ": reserved byte " + std::to_string(i) + " is not zero");
        }
    }
    if (h.zero != 0) {
        return Status::corruption(where + ": reserved byte 20 is not zero");
    }
    if (h.entry_count > fmt::k_deny_max_entries ||
        h.entry_count != std::uint64_t{h.link_count} + h.domain_count + h.destination_count) {
        return Status::corruption(where + ": entry count " + std::to_string(h.entry_count) +
                                  " is over the limit or not the sum of its kinds");
    }
    const bool table_ok = h.entry_count == 0
                              ? h.table_size == 0
                              : (std::has_single_bit(h.table_size) && h.table_size > h.entry_count &&
                                 h.table_size <= k_max_table_size);
    if (!table_ok) {
        return Status::corruption(where + ": table size " + std::to_string(h.table_size) +
                                  " is not a power of two above the entry count");
    }
    const std::uint64_t table_bytes = h.table_size * fmt::k_deny_entry_size;
    const std::uint64_t room = section.length - fmt::k_deny_header_size;
    if (table_bytes > room || h.records_length != room - table_bytes) {
        return Status::corruption(where + ": length " + std::to_string(section.length) +
                                  " does not match a table of " + std::to_string(h.table_size) +
                                  " entries and " + std::to_string(h.records_length) +
                                  " bytes of records");
    }
    DenySet set;
    set.m_entry_count = h.entry_count;
    set.m_link_count = h.link_count;
    set.m_domain_count = h.domain_count;
    set.m_destination_count = h.destination_count;
    set.m_mask = h.table_size == 0 ? 0 : h.table_size - 1;
    set.m_seed = h.hash_seed;
    set.m_table = p + fmt::k_deny_header_size;
    set.m_records = set.m_table + table_bytes;

    std::uint64_t counts[4] = {};
    const std::uint8_t* records_end = set.m_records + h.records_length;
    for (std::uint64_t i = 0; i < h.table_size; ++i) {
        const std::uint8_t* e = set.m_table + i * fmt::k_deny_entry_size;
        const auto tag = bytes::load<std::uint64_t>(e);
        const auto off = bytes::load<std::uint64_t>(e + 8);
        const std::string entry = where + ": table entry " + std::to_string(i);
        if (tag == 0) {
            if (off != 0) {
                return Status::corruption(entry + ": empty entry is not zeroed");
            }
            continue;
        }
        if (off >= h.records_length) {
            return Status::corruption(entry + ": record offset " + std::to_string(off) +
                                      " is past the end of the records");
        }
        const std::uint8_t* r = set.m_records + off;
        const std::uint8_t kind = r[0];
        std::uint32_t host_len = 0;
        std::uint32_t code_len = 0;
        const std::size_t n = bytes::get_varint32(r + 1, records_end, host_len);
        const std::size_t m = n == 0 ? 0 : bytes::get_varint32(r + 1 + n, records_end, code_len);
        if (kind < fmt::k_deny_link || kind > fmt::k_deny_destination) {
            return Status::corruption(entry + ": unknown entry kind " + std::to_string(kind));
        }
        const bool link = kind == fmt::k_deny_link;
        if (n == 0 || m == 0 || host_len == 0 || host_len > fmt::k_max_host_length ||
            (link ? (code_len == 0 || code_len > fmt::k_max_code_length) : code_len != 0)) {
            return Status::corruption(entry + ": malformed record lengths at offset " +
                                      std::to_string(off));
        }
        if (1 + n + m + std::uint64_t{host_len} + code_len > h.records_length - off) {
            return Status::corruption(entry + ": record at offset " + std::to_string(off) +
                                      " runs past the end of the section");
        }
        const RecordView rec = read_record(r);
        if (entry_tag(set.m_seed, kind, rec.host, rec.code) != tag) {
            return Status::corruption(entry + ": tag does not match its record");
        }
        // A probe from the tag's home must reach this entry before an empty one.
        for (std::uint64_t j = (tag >> 1) & set.m_mask; j != i; j = (j + 1) & set.m_mask) {
            if (bytes::load<std::uint64_t>(set.m_table + j * fmt::k_deny_entry_size) == 0) {
                return Status::corruption(entry + ": not reachable from its home position");
            }
        }
        ++counts[kind];
        if (kind == fmt::k_deny_destination) {
            set.m_destination_labels |= label_bit(label_count(rec.host));
        }
    }
    if (counts[fmt::k_deny_link] != h.link_count || counts[fmt::k_deny_domain] != h.domain_count ||
        counts[fmt::k_deny_destination] != h.destination_count) {
        return Status::corruption(where + ": the table's entries do not match the header's counts");
    }
    return set;
}

bool DenySet::find(std::uint8_t kind, std::string_view host, std::string_view code) const {
    const std::uint64_t tag = entry_tag(m_seed, kind, host, code);
    for (std::uint64_t i = (tag >> 1) & m_mask;; i = (i + 1) & m_mask) {
        const std::uint8_t* e = m_table + i * fmt::k_deny_entry_size;
        const auto t = bytes::load<std::uint64_t>(e);
        if (t == 0) {
            return false;  // load() proved the table has an empty entry: the loop ends
        }
        if (t == tag) {
            const RecordView r = read_record(m_records + bytes::load<std::uint64_t>(e + 8));
            if (r.kind == kind && r.host == host && r.code == code) {
                return true;
            }
        }
    }
}

bool DenySet::blocks_link(std::string_view host, std::string_view code) const {
    return m_link_count != 0 && find(fmt::k_deny_link, host, code);
}

bool DenySet::blocks_domain(std::string_view host) const {
    return m_domain_count != 0 && find(fmt::k_deny_domain, host, {});
}

bool DenySet::blocks_destination(std::string_view url) const {
    if (m_destination_count == 0) {
        return false;
    }
    std::string_view host = destination_host(url);
    if (host.empty()) {
        return false;
    }
    for (unsigned labels = label_count(host);; --labels) {
        if ((m_destination_labels & label_bit(labels)) != 0 &&
            find(fmt::k_deny_destination, host, {})) {
            return true;
        }
        const std::size_t dot = host.find('.');
        if (dot == std::string_view::npos) {
            return false;
        }
        host.remove_prefix(dot + 1);
    }
}

void DenySet::for_each(
    const std::function<void(DenyKind, std::string_view, std::string_view)>& fn) const {
    if (m_entry_count == 0) {
        return;
    }
    for (std::uint64_t i = 0; i <= m_mask; ++i) {
        const std::uint8_t* e = m_table + i * fmt::k_deny_entry_size;
        if (bytes::load<std::uint64_t>(e) != 0) {
            const RecordView r = read_record(m_records + bytes::load<std::uint64_t>(e + 8));
            fn(static_cast<DenyKind>(r.kind), r.host, r.code);
        }
    }
}

Result<std::string> encode_deny_section(std::vector<DenyEntry> entries) {
    for (const DenyEntry& e : entries) {
        const bool link = e.kind == DenyKind::link;
        if (kind_byte(e.kind) < fmt::k_deny_link || kind_byte(e.kind) > fmt::k_deny_destination) {
            return Status::invalid_argument("deny entry of unknown kind");
        }
        if (e.host.empty() || e.host.size() > fmt::k_max_host_length) {
            return Status::invalid_argument("deny entry host \"" + e.host +
                                            "\" is empty or longer than 253 bytes");
        }
        if (link ? (e.code.empty() || e.code.size() > fmt::k_max_code_length) : !e.code.empty()) {
            return Status::invalid_argument(
                "deny entry " + std::string(deny_kind_name(e.kind)) + " " + e.host +
                (link ? ": the code must be 1 to 1024 bytes" : ": only a link entry has a code"));
        }
    }
    if (entries.size() > fmt::k_deny_max_entries) {
        return Status::invalid_argument("deny set of " + std::to_string(entries.size()) +
                                        " entries is over the limit of " +
                                        std::to_string(fmt::k_deny_max_entries));
    }
    const auto key = [](const DenyEntry& e) { return std::tie(e.kind, e.host, e.code); };
    std::sort(entries.begin(), entries.end(),
              [&](const DenyEntry& a, const DenyEntry& b) { return key(a) < key(b); });
    entries.erase(std::unique(entries.begin(), entries.end()), entries.end());

    records::DenyHeader h;
    h.entry_count = entries.size();
    h.hash_seed = fmt::k_deny_hash_seed;
    h.table_size = entries.empty()
                       ? 0
                       : std::max<std::uint64_t>(fmt::k_deny_min_table,
                                                 std::bit_ceil(2 * std::uint64_t{entries.size()}));
    std::string records;
    std::vector<std::uint8_t> table(h.table_size * fmt::k_deny_entry_size, 0);
    for (const DenyEntry& e : entries) {
        switch (e.kind) {
        case DenyKind::link: ++h.link_count; break;
        case DenyKind::domain: ++h.domain_count; break;
        case DenyKind::destination: ++h.destination_count; break;
        }
        const std::uint64_t offset = records.size();
        std::uint8_t head[1 + 10 + 10];
        head[0] = kind_byte(e.kind);
        std::size_t n = 1 + bytes::put_varint(head + 1, e.host.size());
        n += bytes::put_varint(head + n, e.code.size());
        records.append(reinterpret_cast<const char*>(head), n);
        records += e.host;
        records += e.code;
        const std::uint64_t tag = entry_tag(h.hash_seed, kind_byte(e.kind), e.host, e.code);
        const std::uint64_t mask = h.table_size - 1;
        std::uint64_t i = (tag >> 1) & mask;
        while (bytes::load<std::uint64_t>(table.data() + i * fmt::k_deny_entry_size) != 0) {
            i = (i + 1) & mask;
        }
        bytes::store<std::uint64_t>(table.data() + i * fmt::k_deny_entry_size, tag);
        bytes::store<std::uint64_t>(table.data() + i * fmt::k_deny_entry_size + 8, offset);
    }
    h.records_length = records.size();
    std::string out(fmt::k_deny_header_size, '\0');
    h.encode(reinterpret_cast<std::uint8_t*>(out.data()));
    out.append(reinterpret_cast<const char*>(table.data()), table.size());
    out += records;
    return out;
}

Result<std::shared_ptr<const DenyOverlay>> DenyOverlay::load(std::unique_ptr<Container> file,
                                                             const TrustedKeys& trusted,
                                                             OpenOptions options) {
    ContainerLayout layout;
    layout.kind = fmt::FileKind::deny;
    layout.required = section_bit(fmt::SectionType::deny);
    layout.allowed = layout.required;
    options.lazy_content = false;  // small: always proven in full
    if (Status s = file->verify(layout, trusted, std::move(options)); !s) {
        return s;
    }
    for (std::size_t i = 0; i < fmt::k_payload_header_size; ++i) {
        if (file->payload_header()[i] != 0) {
            return Status::corruption(file->path() + ": reserved header byte " +
                                      std::to_string(fmt::k_off_payload_header + i) + " is not zero");
        }
    }
    if (file->base_serial() != 0) {
        return Status::corruption(file->path() + ": a deny overlay has no base serial (byte 64)");
    }
    std::shared_ptr<DenyOverlay> overlay(new DenyOverlay(std::move(file)));
    auto deny = DenySet::load(*overlay->m_file, *overlay->m_file->section(fmt::SectionType::deny));
    if (!deny) {
        return deny.status();
    }
    overlay->m_deny = *deny;
    return std::shared_ptr<const DenyOverlay>(std::move(overlay));
}

Result<std::shared_ptr<const DenyOverlay>> DenyOverlay::open(const std::string& path,
                                                             const TrustedKeys& trusted,
                                                             OpenOptions options) {
    auto file = Container::open_file(path, options);
    if (!file) {
        return file.status();
    }
    return load(std::move(file).value(), trusted, std::move(options));
}

Result<std::shared_ptr<const DenyOverlay>> DenyOverlay::open_buffer(std::string_view bytes,
                                                                    const TrustedKeys& trusted,
                                                                    OpenOptions options,
                                                                    std::string name) {
    return load(Container::copy_buffer(bytes, std::move(name)), trusted, std::move(options));
}

}  // namespace shortlink::formats
