// The deny set: blocked links, suspended domains and blocked destination hosts, as the redirect
// answer consults it. Carried by a deny overlay file (deny-<serial>.sldeny, file kind 2) and, baked
// in by the compiler, by a snapshot's optional deny section. Layout: SPEC.md "Section 6: deny".
//
// A DenySet is a view into a verified deny section: its load() proves every table entry and
// record (bounds, kinds, lengths, that the entry's tag is the hash of its record and that a probe
// from the tag's home reaches it), so the lookups trust the bytes, allocate nothing and cost one
// seeded hash and about one cache miss each; an empty set costs one comparison. A destination
// is looked up only at the suffixes whose label count some destination entry has.
//
// Thread-safety: immutable after load; any number of threads may look up at once.
// Ownership: a DenySet points into the mapping of the file that holds it (a Snapshot or a
// DenyOverlay), which must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/container.h"
#include "formats/status.h"

namespace shortlink::formats {

enum class DenyKind : std::uint8_t { link = 1, domain = 2, destination = 3 };

std::string_view deny_kind_name(DenyKind kind);  // "link", "domain", "destination"

// One entry, as the compiler and `shortlink overlay` write it.
struct DenyEntry {
    DenyKind kind = DenyKind::link;
    // link and domain: the domain's host as the snapshot has it ("*" for the default domain);
    // destination: a lowercase host name, matching itself and every subdomain.
    std::string host;
    std::string code;  // link only: the code as the snapshot stores it (folded on a
                       // case-insensitive domain); empty otherwise

    bool operator==(const DenyEntry&) const = default;
};

// The host of an absolute URL ("https://user@a.example.com:8080/x" -> "a.example.com"), as the
// deny check reads a destination; empty when there is none.
std::string_view destination_host(std::string_view url);

class DenySet {
public:
    DenySet() = default;

    // Proves the deny section `section` of `file` (already verified as a container) and returns
    // a view of it. Errors name the file, the section and the entry.
    static Result<DenySet> load(const Container& file, const SectionInfo& section);

    bool empty() const { return m_entry_count == 0; }
    std::uint64_t size() const { return m_entry_count; }
    std::uint32_t link_count() const { return m_link_count; }
    std::uint32_t domain_count() const { return m_domain_count; }
    std::uint32_t destination_count() const { return m_destination_count; }

    // The link (domain host, code) is blocked; `code` as the snapshot stores it.
    bool blocks_link(std::string_view host, std::string_view code) const;
    // Every link of the domain with this host is suspended.
    bool blocks_domain(std::string_view host) const;
    // The destination URL's host, or a parent domain of it, is blocked.
    bool blocks_destination(std::string_view url) const;
    // All three, as the answer asks: domain, then link, then destination.
    bool blocks(std::string_view domain_host, std::string_view code,
                std::string_view destination) const {
        return m_entry_count != 0 &&
               ((m_domain_count != 0 && blocks_domain(domain_host)) ||
                (m_link_count != 0 && blocks_link(domain_host, code)) ||
                (m_destination_count != 0 && blocks_destination(destination)));
    }

    // Every entry in table order (for inspect, diff and tests; not for the request path).
    void for_each(const std::function<void(DenyKind, std::string_view host,
                                           std::string_view code)>& fn) const;

private:
    bool find(std::uint8_t kind, std::string_view host, std::string_view code) const;

    std::uint64_t m_entry_count = 0;
    std::uint32_t m_link_count = 0;
    std::uint32_t m_domain_count = 0;
    std::uint32_t m_destination_count = 0;
    std::uint64_t m_mask = 0;  // table size - 1
    // Bit n: some destination entry has n labels (n >= 63 in bit 63). A destination's suffixes
    // with a label count no entry has are not looked up: most of them miss the cache.
    std::uint64_t m_destination_labels = 0;
    std::uint64_t m_seed = 0;
    const std::uint8_t* m_table = nullptr;
    const std::uint8_t* m_records = nullptr;
};

// The deny section's bytes for `entries` (duplicates removed; order does not matter: the same
// set gives the same bytes). Fails on an entry the format cannot hold (empty or too long host or
// code, a code on a non-link entry).
Result<std::string> encode_deny_section(std::vector<DenyEntry> entries);

// A verified deny overlay file (deny-<serial>.sldeny).
class DenyOverlay {
public:
    static Result<std::shared_ptr<const DenyOverlay>> open(const std::string& path,
                                                           const TrustedKeys& trusted,
                                                           OpenOptions options = {});
    static Result<std::shared_ptr<const DenyOverlay>> open_buffer(std::string_view bytes,
                                                                  const TrustedKeys& trusted,
                                                                  OpenOptions options = {},
                                                                  std::string name = "<buffer>");

    const DenySet& deny() const { return m_deny; }
    const Container& file() const { return *m_file; }
    std::uint64_t serial() const { return m_file->serial(); }
    std::int64_t created_at() const { return m_file->created_at(); }
    const std::string& path() const { return m_file->path(); }

private:
    explicit DenyOverlay(std::unique_ptr<Container> file) : m_file(std::move(file)) {}
    static Result<std::shared_ptr<const DenyOverlay>> load(std::unique_ptr<Container> file,
                                                           const TrustedKeys& trusted,
                                                           OpenOptions options);

    std::unique_ptr<Container> m_file;
    DenySet m_deny;
};

}  // namespace shortlink::formats
