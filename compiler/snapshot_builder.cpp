#include "compiler/snapshot_builder.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "compiler/publish.h"
#include "formats/bytes.h"
#include "formats/hash.h"
#include "formats/mphf_query.h"
#include "formats/records.h"
#include "formats/snapshot_format.h"

namespace shortlink::compiler {

namespace fmt = formats::format;

namespace {

// Arena blocks: records never straddle a block, and a block is far larger than any record
// (code <= 1 KiB, destination <= 64 KiB), so the waste is below 0.5%. Growing by blocks (not
// one vector) avoids the 2x peak of a reallocating copy at 10M links.
constexpr std::uint64_t k_block_bits = 24;
constexpr std::uint64_t k_block_size = std::uint64_t{1} << k_block_bits;  // 16 MiB

// An arena block mapped straight from the kernel, so that freeing the arena gives its memory
// back at once. 16 MiB malloc blocks land in the heap once glibc's adaptive mmap threshold has
// risen, and freed heap blocks below live allocations stay in the process: at 10M links the
// freed arena (0.9 GB) stayed resident through the self-check.
struct BlockUnmap {
    void operator()(char* p) const { ::munmap(p, k_block_size); }
};
using Block = std::unique_ptr<char, BlockUnmap>;

// Null when the kernel refuses the memory.
Block map_block() {
    void* p = ::mmap(nullptr, k_block_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (p == MAP_FAILED) {
        return nullptr;
    }
    // Writing the records reads the arena in slot order, i.e. at random: with 4 KiB pages
    // nearly every read also missed the TLB (a 1 GB arena is 250,000 pages). Transparent huge
    // pages where the system allows them (a hint: without them nothing changes but speed).
    ::madvise(p, k_block_size, MADV_HUGEPAGE);
    return Block(static_cast<char*>(p));
}

constexpr std::uint8_t k_flag_forward_query = 1u << 2;
constexpr std::uint8_t k_flag_has_times = 1u << 3;
constexpr std::uint8_t k_flag_has_rules = 1u << 4;  // a u32 index into Data::rule_lists follows the times

// One link: 24 bytes of fixed data; code, destination and optional times sit in the arena.
struct LinkEntry {
    std::uint64_t pos = 0;       // arena position of code, then destination, then times
    std::uint32_t dest_len = 0;
    std::uint16_t code_len = 0;
    std::uint8_t status = 0;
    std::uint8_t flags = 0;      // bits 0-1: redirect code index; forward_query; has_times
    std::uint32_t domain = 0;    // handle before build(), index after
    std::uint32_t fingerprint = 0;  // set by build(): the slot record's fingerprint
};
static_assert(sizeof(LinkEntry) == 24);

int redirect_index(std::uint16_t code) {
    for (std::size_t i = 0; i < fmt::k_redirect_codes.size(); ++i) {
        if (fmt::k_redirect_codes[i] == code) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

// True if `s` holds CR, LF or NUL. One compare per byte that is almost never true, where
// string_view::find_first_of tests each byte against the set in an inner loop (it was most of
// add_link's time).
bool has_cr_lf_nul(std::string_view s) {
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= '\r' && (c == '\r' || c == '\n' || c == '\0')) {
            return true;
        }
    }
    return false;
}

// What the self-check compares for one link when the link table is gone (publish()): a 64-bit
// digest of every field a lookup returns, taken from the compiled link while writing and from
// the reader's LinkView while checking.
std::uint64_t link_digest(std::uint32_t domain, std::string_view code, std::string_view destination,
                          std::uint8_t status, std::uint16_t redirect, bool forward_query,
                          std::int64_t not_before, std::int64_t expires, std::string_view rules) {
    std::uint64_t fields[4] = {
        (std::uint64_t{domain} << 32) | (std::uint64_t{status} << 24) |
            (std::uint64_t{redirect} << 8) | (forward_query ? 1u : 0u),
        static_cast<std::uint64_t>(not_before), static_cast<std::uint64_t>(expires),
        (std::uint64_t{code.size()} << 32) | destination.size()};
    std::uint64_t h = formats::hash128(fields, sizeof(fields), 0x6469676573747631ULL).lo;  // "digestv1"
    h = formats::hash128(code, h).lo;
    h = formats::hash128(rules, h).lo;
    return formats::hash128(destination, h).hi;
}

// True when a reader without section 8 would answer for the domain exactly as its policy says:
// no fallbacks or page texts, no stale directives, no scope, no miss budget, no country header of
// its own, and a cap on permanent redirects that the domain's cache lifetime does not reach.
bool neutral_policy(const DomainInput& p) {
    return p.not_found_url.empty() && p.expired_url.empty() && p.not_found_text.empty() && p.gone_text.empty() &&
           p.permanent_max_age_s >= p.cache_max_age_s && p.stale_while_revalidate_s == 0 &&
           p.stale_if_error_s == 0 && p.miss_budget == 0 && p.cache_scope == fmt::k_cache_scope_none &&
           p.country_header.empty();
}

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

struct SnapshotBuilder::Data {
    BuilderConfig config;
    std::vector<DomainInput> domains;          // by handle
    std::vector<std::uint32_t> domain_order;   // index -> handle (sorted by host) after build
    std::vector<Block> blocks;
    std::uint64_t block_fill = k_block_size;   // forces the first block
    // In add order until build(), then in slot order (the order of sections 3 and 4 and of the
    // self-check), so writing and checking read it sequentially.
    std::vector<LinkEntry> links;
    MphfResult mphf;  // after build(): params and pilots; slot_key is replaced by `occupied`
    std::vector<std::uint64_t> occupied;  // one bit per slot
    std::uint64_t link_count = 0;         // links.size(), kept when publish() frees the links
    std::uint64_t seed = 0;
    bool released = false;  // publish() freed links and blocks
    std::string deny_section;  // encoded deny set; empty: the snapshot has no deny section
    // Encoded rule lists in add order; a link with rules holds its index here. The file numbers
    // them again in slot order, so its bytes do not depend on the order links were added in.
    std::vector<std::string> rule_lists;

    // Records each link's fingerprint, frees `hashes`, and puts the links in slot order (one
    // gather through the permutation the perfect hash defines); slot_key becomes a bit per slot.
    void order_by_slot(std::vector<formats::Hash128>& hashes) {
        for (std::size_t i = 0; i < links.size(); ++i) {
            links[i].fingerprint = formats::mphf_fingerprint(hashes[i]);
        }
        std::vector<formats::Hash128>().swap(hashes);  // the gather's copy takes its place
        const std::vector<std::uint32_t>& slot_key = mphf.slot_key;
        std::vector<LinkEntry> by_slot;
        by_slot.reserve(links.size());
        occupied.assign((slot_key.size() + 63) / 64, 0);
        const std::size_t m = slot_key.size();
        for (std::size_t s = 0; s < m; ++s) {
            // Links are read at random: fetch a few slots ahead.
            if (s + 8 < m && slot_key[s + 8] != 0) {
                __builtin_prefetch(&links[slot_key[s + 8] - 1]);
            }
            const std::uint32_t k = slot_key[s];
            if (k == 0) {
                continue;
            }
            by_slot.push_back(links[k - 1]);
            occupied[s >> 6] |= std::uint64_t{1} << (s & 63);
        }
        links = std::move(by_slot);
        std::vector<std::uint32_t>().swap(mphf.slot_key);
    }
    bool is_occupied(std::uint64_t s) const { return (occupied[s >> 6] >> (s & 63)) & 1; }

    // Null when a new block cannot be mapped.
    char* reserve(std::size_t n, std::uint64_t& pos) {
        if (block_fill + n > k_block_size) {
            Block block = map_block();
            if (!block) {
                return nullptr;
            }
            blocks.push_back(std::move(block));
            block_fill = 0;
        }
        pos = ((blocks.size() - 1) << k_block_bits) | block_fill;
        char* p = blocks.back().get() + block_fill;
        block_fill += n;
        return p;
    }
    const char* at(std::uint64_t pos) const {
        return blocks[pos >> k_block_bits].get() + (pos & (k_block_size - 1));
    }
    std::string_view code(const LinkEntry& e) const { return {at(e.pos), e.code_len}; }
    std::string_view destination(const LinkEntry& e) const {
        return {at(e.pos) + e.code_len, e.dest_len};
    }
    void times(const LinkEntry& e, std::int64_t& not_before, std::int64_t& expires) const {
        not_before = 0;
        expires = 0;
        if ((e.flags & k_flag_has_times) != 0) {
            const char* t = at(e.pos) + e.code_len + e.dest_len;
            std::memcpy(&not_before, t, 8);
            std::memcpy(&expires, t + 8, 8);
        }
    }
    std::uint64_t record_size(const LinkEntry& e) const {
        return formats::bytes::varint_size(e.code_len) + formats::bytes::varint_size(e.dest_len) +
               ((e.flags & k_flag_has_times) ? 16 : 0) + ((e.flags & k_flag_has_rules) ? 4 : 0) +
               e.code_len + e.dest_len;
    }
    // The link's encoded rule list; empty without rules.
    std::string_view rules(const LinkEntry& e) const {
        if ((e.flags & k_flag_has_rules) == 0) {
            return {};
        }
        std::uint32_t index = 0;
        std::memcpy(&index, at(e.pos) + e.code_len + e.dest_len + ((e.flags & k_flag_has_times) ? 16 : 0), 4);
        return rule_lists[index];
    }
    formats::Hash128 hash(const LinkEntry& e, std::uint64_t with_seed) const {
        return formats::hash128(at(e.pos), e.code_len, formats::domain_seed(with_seed, e.domain));
    }
};

namespace {

// Section 8 (SPEC.md "Section 8: domain policies"), one record per domain in index order; empty
// when every domain's policy is neutral, so files that need nothing new stay readable by servers
// that predate the section.
std::string policies_section(const SnapshotBuilder::Data& d) {
    namespace records = formats::records;
    if (std::all_of(d.domains.begin(), d.domains.end(), neutral_policy)) {
        return {};
    }
    std::string records_bytes;
    std::string strings;
    const auto put = [&](const std::string& text, std::uint32_t& offset, std::uint32_t& length) {
        offset = static_cast<std::uint32_t>(strings.size());
        length = static_cast<std::uint32_t>(text.size());
        strings += text;
    };
    for (std::uint32_t handle : d.domain_order) {
        const DomainInput& dom = d.domains[handle];
        records::PolicyRecord rec;
        put(dom.not_found_url, rec.not_found_url_offset, rec.not_found_url_length);
        put(dom.expired_url, rec.expired_url_offset, rec.expired_url_length);
        put(dom.not_found_text, rec.not_found_text_offset, rec.not_found_text_length);
        put(dom.gone_text, rec.gone_text_offset, rec.gone_text_length);
        rec.permanent_max_age_s = dom.permanent_max_age_s;
        rec.stale_while_revalidate_s = dom.stale_while_revalidate_s;
        rec.stale_if_error_s = dom.stale_if_error_s;
        rec.miss_budget = dom.miss_budget;
        rec.cache_scope = dom.cache_scope;
        put(dom.country_header, rec.country_header_offset, rec.country_header_length);
        std::uint8_t encoded[fmt::k_policy_record_size];
        rec.encode(encoded);
        records_bytes.append(reinterpret_cast<const char*>(encoded), sizeof(encoded));
    }
    std::string out(fmt::k_policies_header_size, '\0');
    records::PoliciesHeader header;
    header.record_count = d.domains.size();
    header.strings_length = strings.size();
    header.encode(reinterpret_cast<std::uint8_t*>(out.data()));
    out += records_bytes;
    out += strings;
    return out;
}

}  // namespace

SnapshotBuilder::SnapshotBuilder(BuilderConfig config)
    : m_config(config), m_data(std::make_unique<Data>()) {
    m_data->config = config;
}
SnapshotBuilder::~SnapshotBuilder() = default;
SnapshotBuilder::SnapshotBuilder(SnapshotBuilder&&) noexcept = default;
SnapshotBuilder& SnapshotBuilder::operator=(SnapshotBuilder&&) noexcept = default;

std::uint64_t SnapshotBuilder::link_count() const { return m_data->links.size(); }

Status SnapshotBuilder::set_deny(std::vector<formats::DenyEntry> entries) {
    if (entries.empty()) {
        m_data->deny_section.clear();
        return Status::ok();
    }
    auto encoded = formats::encode_deny_section(std::move(entries));
    if (!encoded) {
        return encoded.status();
    }
    m_data->deny_section = std::move(encoded).value();
    return Status::ok();
}

Result<std::uint32_t> SnapshotBuilder::add_domain(const DomainInput& domain) {
    Data& d = *m_data;
    const std::string& host = domain.host;
    if (host.empty() || host.size() > fmt::k_max_host_length) {
        return Status::invalid_argument("domain host must be 1 to 253 bytes");
    }
    if (domain.is_default != (host == "*")) {
        return Status::invalid_argument("the default domain, and only it, has host \"*\"");
    }
    if (std::any_of(host.begin(), host.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) <= 0x20;
        })) {
        return Status::invalid_argument("domain host \"" + host + "\" must be lowercase");
    }
    if (redirect_index(domain.default_redirect) < 0) {
        return Status::invalid_argument("domain " + host + ": redirect type must be 301, 302, "
                                        "307 or 308");
    }
    if (domain.root_url.size() > fmt::k_max_destination_length) {
        return Status::invalid_argument("domain " + host + ": root URL too long");
    }
    // The server sends it as the Location of "/": a control character there would split or
    // corrupt the response, whoever wrote it into the database.
    for (std::size_t i = 0; i < domain.root_url.size(); ++i) {
        const auto c = static_cast<unsigned char>(domain.root_url[i]);
        if (c < 0x20 || c == 0x7f) {
            char shown[8];
            std::snprintf(shown, sizeof shown, "0x%02x", c);
            return Status::invalid_argument("domain " + host + ": root URL contains control character " + shown +
                                            " at byte " + std::to_string(i));
        }
    }
    // The policy's strings are checked as the reader checks them (formats/snapshot.cpp).
    const std::pair<const std::string*, std::size_t> policy_strings[] = {
        {&domain.not_found_url, fmt::k_max_destination_length},
        {&domain.expired_url, fmt::k_max_destination_length},
        {&domain.not_found_text, fmt::k_max_page_text_length},
        {&domain.gone_text, fmt::k_max_page_text_length}};
    for (const auto& [text, limit] : policy_strings) {
        if (text->size() > limit ||
            std::any_of(text->begin(), text->end(), [](char ch) {
                const auto c = static_cast<unsigned char>(ch);
                return c < 0x20 || c == 0x7f;
            })) {
            return Status::invalid_argument("domain " + host + ": a fallback URL or page text is too long or "
                                            "holds a control character");
        }
    }
    if (!domain.country_header.empty() && !fmt::is_country_header_name(domain.country_header)) {
        return Status::invalid_argument("domain " + host + ": country header '" + domain.country_header +
                                        "' is not a header name");
    }
    if (domain.cache_scope > fmt::k_cache_scope_private) {
        return Status::invalid_argument("domain " + host + ": unknown cache scope");
    }
    for (const DomainInput& other : d.domains) {
        if (other.host == host) {
            return Status::conflict("domain " + host + " added twice");
        }
    }
    if (d.domains.size() >= fmt::k_max_domains) {
        return Status::invalid_argument("too many domains");
    }
    d.domains.push_back(domain);
    return static_cast<std::uint32_t>(d.domains.size() - 1);
}

Status SnapshotBuilder::add_link(const LinkInput& link) {
    Data& d = *m_data;
    if (link.domain >= d.domains.size()) {
        return Status::invalid_argument("link names an unknown domain handle");
    }
    const DomainInput& domain = d.domains[link.domain];
    if (link.code.empty() || link.code.size() > fmt::k_max_code_length) {
        return Status::invalid_argument("code must be 1 to 1024 bytes");
    }
    if (link.destination.empty() || link.destination.size() > fmt::k_max_destination_length) {
        return Status::invalid_argument("destination of " + std::string(link.code) +
                                        " must be 1 to 65536 bytes");
    }
    if (has_cr_lf_nul(link.destination)) {
        return Status::invalid_argument("destination of " + std::string(link.code) +
                                        " contains CR, LF or NUL");
    }
    const int redirect = redirect_index(link.redirect_type == 0 ? domain.default_redirect
                                                                : link.redirect_type);
    if (redirect < 0) {
        return Status::invalid_argument("link " + std::string(link.code) +
                                        ": redirect type must be 301, 302, 307 or 308");
    }
    if (!formats::link_state_from_number(static_cast<std::uint8_t>(link.status))) {
        return Status::invalid_argument("link " + std::string(link.code) + ": invalid status");
    }
    const bool forward = link.forward_query < 0 ? domain.forward_query : link.forward_query != 0;
    const bool has_times = link.not_before != 0 || link.expires != 0;
    const bool has_rules = !link.rules.empty();
    if (has_rules) {
        std::uint64_t list_count = 0;
        const std::string section = formats::encode_rules_section({std::string(link.rules)});
        if (Status st = formats::check_rules_section(reinterpret_cast<const std::uint8_t*>(section.data()),
                                                     section.size(), "link " + std::string(link.code) + ": rules",
                                                     list_count);
            !st) {
            return Status::invalid_argument(st.message());
        }
        if (d.rule_lists.size() >= UINT32_MAX) {
            return Status::invalid_argument("too many links with rules for one snapshot");
        }
    }

    LinkEntry e;
    e.code_len = static_cast<std::uint16_t>(link.code.size());
    e.dest_len = static_cast<std::uint32_t>(link.destination.size());
    e.status = static_cast<std::uint8_t>(link.status);
    e.flags = static_cast<std::uint8_t>(redirect) | (forward ? k_flag_forward_query : 0) |
              (has_times ? k_flag_has_times : 0) | (has_rules ? k_flag_has_rules : 0);
    e.domain = link.domain;
    char* p = d.reserve(e.code_len + e.dest_len + (has_times ? 16 : 0) + (has_rules ? 4 : 0), e.pos);
    if (p == nullptr) {
        return Status::io_error("out of memory: cannot map another " +
                                std::to_string(k_block_size >> 20) + " MiB for link data");
    }
    std::memcpy(p, link.code.data(), e.code_len);
    if (domain.case_insensitive) {
        for (std::size_t i = 0; i < e.code_len; ++i) {
            if (p[i] >= 'A' && p[i] <= 'Z') {
                p[i] = static_cast<char>(p[i] - 'A' + 'a');
            }
        }
    }
    std::memcpy(p + e.code_len, link.destination.data(), e.dest_len);
    if (has_times) {
        std::memcpy(p + e.code_len + e.dest_len, &link.not_before, 8);
        std::memcpy(p + e.code_len + e.dest_len + 8, &link.expires, 8);
    }
    if (has_rules) {
        const auto index = static_cast<std::uint32_t>(d.rule_lists.size());
        std::memcpy(p + e.code_len + e.dest_len + (has_times ? 16 : 0), &index, 4);
        d.rule_lists.emplace_back(link.rules);
    }
    d.links.push_back(e);
    return Status::ok();
}

Result<CompiledSnapshot> SnapshotBuilder::build() && {
    Data& d = *m_data;
    if (d.links.size() >= UINT32_MAX) {
        return Status::invalid_argument("too many links for one snapshot");
    }
    // Domain index = rank of its host; links switch from handles to indices.
    const auto domain_count = static_cast<std::uint32_t>(d.domains.size());
    d.domain_order.resize(domain_count);
    for (std::uint32_t i = 0; i < domain_count; ++i) {
        d.domain_order[i] = i;
    }
    std::sort(d.domain_order.begin(), d.domain_order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return d.domains[a].host < d.domains[b].host; });
    std::vector<std::uint32_t> index_of(domain_count);
    for (std::uint32_t i = 0; i < domain_count; ++i) {
        index_of[d.domain_order[i]] = i;
    }
    for (LinkEntry& e : d.links) {
        e.domain = index_of[e.domain];
    }

    std::uint64_t seed = d.config.seed;
    std::vector<formats::Hash128> hashes(d.links.size());
    Status last = Status::conflict("no attempt");
    for (unsigned attempt = 0; attempt <= d.config.max_reseeds; ++attempt) {
        if (attempt > 0) {
            seed = splitmix64(seed);
        }
        for (std::size_t i = 0; i < d.links.size(); ++i) {
            hashes[i] = d.hash(d.links[i], seed);
        }
        MphfFailure failure;
        auto built = build_mphf(hashes, d.config.mphf, failure);
        if (built) {
            d.mphf = std::move(built).value();
            d.seed = seed;
            d.link_count = d.links.size();
            d.order_by_slot(hashes);
            CompiledSnapshot out;
            out.m_data = std::move(m_data);
            return out;
        }
        if (failure.duplicate) {
            const LinkEntry& a = d.links[failure.key_a];
            const LinkEntry& b = d.links[failure.key_b];
            if (a.domain == b.domain && d.code(a) == d.code(b)) {
                const DomainInput& dom = d.domains[d.domain_order[a.domain]];
                return Status::conflict("duplicate link " + dom.host + "/" +
                                        std::string(d.code(a)) +
                                        (dom.case_insensitive ? " (codes differ only in case on "
                                                                "a case-insensitive domain)"
                                                              : ""));
            }
        }
        if (built.status().code() != Status::Code::conflict) {
            return built.status();
        }
        last = built.status();
    }
    return Status::conflict("perfect hash failed after " +
                            std::to_string(d.config.max_reseeds + 1) + " seeds: " +
                            last.message());
}

CompiledSnapshot::CompiledSnapshot() = default;
CompiledSnapshot::~CompiledSnapshot() = default;
CompiledSnapshot::CompiledSnapshot(CompiledSnapshot&&) noexcept = default;
CompiledSnapshot& CompiledSnapshot::operator=(CompiledSnapshot&&) noexcept = default;

std::uint64_t CompiledSnapshot::link_count() const { return m_data->link_count; }
std::uint32_t CompiledSnapshot::domain_count() const {
    return static_cast<std::uint32_t>(m_data->domains.size());
}
std::uint64_t CompiledSnapshot::seed() const { return m_data->seed; }

Result<formats::WrittenFile> CompiledSnapshot::write(int fd, const SnapshotMeta& meta,
                                                         const formats::SigningKey& key) const {
    return write_impl(fd, meta, key, nullptr);
}

Result<formats::WrittenFile> CompiledSnapshot::write_impl(
    int fd, const SnapshotMeta& meta, const formats::SigningKey& key,
    std::vector<std::uint64_t>* digests) const {
    namespace bytes = formats::bytes;
    const SnapshotBuilder::Data& d = *m_data;
    if (d.released) {
        return Status::invalid_argument("the compiled links were released by publish()");
    }
    // A patch always states its deny set, an empty one too: it replaces the base's.
    std::string empty_deny;
    if (meta.base_serial != 0 && d.deny_section.empty()) {
        auto encoded = formats::encode_deny_section({});
        if (!encoded) {
            return encoded.status();
        }
        empty_deny = std::move(encoded).value();
    }
    const std::string& deny_section = d.deny_section.empty() ? empty_deny : d.deny_section;
    const bool has_deny = !deny_section.empty();
    const bool has_rules = !d.rule_lists.empty();
    const std::string policies = policies_section(d);
    const bool has_policies = !policies.empty();
    formats::ContainerWriter w(fd, 4 + (has_deny ? 1 : 0) + (has_rules ? 1 : 0) + (has_policies ? 1 : 0));

    // Section 1: fixed records, then hosts and root URLs.
    {
        std::string records;
        std::string strings;
        const std::uint64_t base = d.domains.size() * fmt::k_domain_record_size;
        for (std::uint32_t handle : d.domain_order) {
            const DomainInput& dom = d.domains[handle];
            const auto host_off = static_cast<std::uint32_t>(base + strings.size());
            strings += dom.host;
            const auto root_off = static_cast<std::uint32_t>(base + strings.size());
            strings += dom.root_url;
            formats::records::DomainRecord rec;
            rec.host_offset = host_off;
            rec.host_length = static_cast<std::uint32_t>(dom.host.size());
            rec.root_offset = root_off;
            rec.root_length = static_cast<std::uint32_t>(dom.root_url.size());
            rec.default_redirect = dom.default_redirect;
            rec.flags = (dom.is_default ? fmt::k_domain_is_default : 0) |
                        (dom.case_insensitive ? fmt::k_domain_case_insensitive : 0) |
                        (dom.forward_query ? fmt::k_domain_forward_query : 0) |
                        (dom.complete && meta.base_serial != 0 ? fmt::k_domain_complete : 0) |
                        (dom.https_redirect ? fmt::k_domain_https_redirect : 0) |
                        (dom.hsts_include_subdomains ? fmt::k_domain_hsts_include_subdomains : 0);
            rec.cache_max_age_s = dom.cache_max_age_s;
            rec.negative_max_age_s = dom.negative_max_age_s;
            rec.hsts_max_age_s = dom.hsts_max_age_s;
            std::uint8_t encoded[fmt::k_domain_record_size];
            rec.encode(encoded);
            records.append(reinterpret_cast<const char*>(encoded), sizeof(encoded));
        }
        if (Status st = w.begin_section(fmt::SectionType::domains); !st) {
            return st;
        }
        if (Status st = w.append(records.data(), records.size()); !st) {
            return st;
        }
        if (Status st = w.append(strings.data(), strings.size()); !st) {
            return st;
        }
        if (Status st = w.end_section(); !st) {
            return st;
        }
    }
    // Section 2: perfect-hash parameters and pilots.
    {
        const formats::MphfParams& p = d.mphf.params;
        formats::records::IndexHeader index{p.key_count, p.slot_count, p.bucket_count,
                                            p.dense_buckets, p.dense_threshold};
        std::uint8_t head[fmt::k_index_header_size];
        index.encode(head);
        if (Status st = w.begin_section(fmt::SectionType::index); !st) {
            return st;
        }
        if (Status st = w.append(head, sizeof(head)); !st) {
            return st;
        }
        if (Status st = w.append(d.mphf.pilots.data(), d.mphf.pilots.size()); !st) {
            return st;
        }
        if (Status st = w.end_section(); !st) {
            return st;
        }
    }
    // Section 3: one 16-byte record per slot. Links are in slot order, so both this section and
    // the next read the link table sequentially; record offsets accumulate in the same order.
    {
        if (Status st = w.begin_section(fmt::SectionType::slots); !st) {
            return st;
        }
        std::vector<std::uint8_t> buf;
        buf.reserve(4096 * fmt::k_slot_size);
        std::uint64_t offset = 0;
        std::size_t next = 0;
        const std::uint64_t m = d.mphf.params.slot_count;
        for (std::uint64_t s = 0; s < m; ++s) {
            std::uint8_t rec[fmt::k_slot_size] = {};
            if (d.is_occupied(s)) {
                const LinkEntry& e = d.links[next++];
                const std::uint32_t slot_meta = e.status |
                                           (std::uint32_t{e.flags & 3u} << fmt::k_meta_redirect_shift) |
                                           ((e.flags & k_flag_forward_query) ? fmt::k_meta_forward_query : 0) |
                                           ((e.flags & k_flag_has_times) ? fmt::k_meta_has_times : 0) |
                                           ((e.flags & k_flag_has_rules) ? fmt::k_meta_has_rules : 0) |
                                           fmt::k_meta_occupied | (e.domain << fmt::k_meta_domain_shift);
                formats::records::SlotRecord{e.fingerprint, slot_meta, offset}.encode(rec);
                offset += d.record_size(e);
            }
            buf.insert(buf.end(), rec, rec + sizeof(rec));
            if (buf.size() >= 4096 * fmt::k_slot_size) {
                if (Status st = w.append(buf.data(), buf.size()); !st) {
                    return st;
                }
                buf.clear();
            }
        }
        if (Status st = w.append(buf.data(), buf.size()); !st) {
            return st;
        }
        if (Status st = w.end_section(); !st) {
            return st;
        }
    }
    // Section 4: link records in slot order. The arena is read at random (it is in add order):
    // fetch a few links ahead.
    {
        if (Status st = w.begin_section(fmt::SectionType::strings); !st) {
            return st;
        }
        std::vector<std::uint8_t> buf;
        buf.reserve(1 << 20);
        if (digests != nullptr) {
            digests->clear();
            digests->reserve(d.links.size());
        }
        const std::size_t count = d.links.size();
        std::uint32_t rule_list = 0;  // lists are numbered in slot order
        for (std::size_t i = 0; i < count; ++i) {
            if (i + 6 < count) {
                const LinkEntry& ahead = d.links[i + 6];
                const char* p = d.at(ahead.pos);
                __builtin_prefetch(p);
                __builtin_prefetch(p + 64);
            }
            const LinkEntry& e = d.links[i];
            std::uint8_t head[10 + 10 + 16 + 4];
            std::size_t n = bytes::put_varint(head, e.code_len);
            n += bytes::put_varint(head + n, e.dest_len);
            std::int64_t nb = 0;
            std::int64_t ex = 0;
            d.times(e, nb, ex);
            if ((e.flags & k_flag_has_times) != 0) {
                bytes::store<std::int64_t>(head + n, nb);
                bytes::store<std::int64_t>(head + n + 8, ex);
                n += 16;
            }
            if ((e.flags & k_flag_has_rules) != 0) {
                bytes::store<std::uint32_t>(head + n, rule_list++);
                n += 4;
            }
            // resize + memcpy: inserting a char range into a vector of bytes copied byte by byte.
            const std::size_t at = buf.size();
            const std::size_t body_len = std::size_t{e.code_len} + e.dest_len;
            buf.resize(at + n + body_len);
            std::memcpy(buf.data() + at, head, n);
            std::memcpy(buf.data() + at + n, d.at(e.pos), body_len);
            if (digests != nullptr) {
                digests->push_back(link_digest(e.domain, d.code(e), d.destination(e), e.status,
                                               fmt::k_redirect_codes[e.flags & 3u],
                                               (e.flags & k_flag_forward_query) != 0, nb, ex, d.rules(e)));
            }
            if (buf.size() >= (1 << 20) - 70000) {
                if (Status st = w.append(buf.data(), buf.size()); !st) {
                    return st;
                }
                buf.clear();
            }
        }
        if (Status st = w.append(buf.data(), buf.size()); !st) {
            return st;
        }
        if (Status st = w.end_section(); !st) {
            return st;
        }
    }
    // Section 5: the rule lists, in the slot order of their links (the indices section 4 gave).
    if (!d.rule_lists.empty()) {
        std::vector<std::string> lists;
        lists.reserve(d.rule_lists.size());
        for (const LinkEntry& e : d.links) {
            if ((e.flags & k_flag_has_rules) != 0) {
                lists.emplace_back(d.rules(e));
            }
        }
        const std::string section = formats::encode_rules_section(lists);
        if (Status st = w.begin_section(fmt::SectionType::rules); !st) {
            return st;
        }
        if (Status st = w.append(section.data(), section.size()); !st) {
            return st;
        }
        if (Status st = w.end_section(); !st) {
            return st;
        }
    }
    // Section 6: the deny set the compiler was given.
    if (has_deny) {
        if (Status st = w.begin_section(fmt::SectionType::deny); !st) {
            return st;
        }
        if (Status st = w.append(deny_section.data(), deny_section.size()); !st) {
            return st;
        }
        if (Status st = w.end_section(); !st) {
            return st;
        }
    }
    // Section 8: the domains' policies, when any differs from what a file without them means.
    if (has_policies) {
        if (Status st = w.begin_section(fmt::SectionType::policies); !st) {
            return st;
        }
        if (Status st = w.append(policies.data(), policies.size()); !st) {
            return st;
        }
        if (Status st = w.end_section(); !st) {
            return st;
        }
    }
    formats::records::SnapshotHeader payload;
    payload.link_count = d.link_count;
    payload.domain_count = static_cast<std::uint32_t>(d.domains.size());
    payload.hash_seed = d.seed;
    formats::ContainerMeta header;
    header.kind = meta.base_serial != 0 ? fmt::FileKind::patch : fmt::FileKind::snapshot;
    header.base_serial = meta.base_serial;
    header.serial = meta.serial;
    header.created_at = meta.created_at;
    header.not_after = meta.not_after;
    std::uint8_t head[fmt::k_header_size] = {};
    payload.encode(head);
    std::memcpy(header.payload_header.data(), head + fmt::k_off_payload_header,
                header.payload_header.size());
    return w.finish(header, key);
}

namespace {

// Walks the written snapshot in slot order (sequential reads of the new file) and asks of the
// i-th link that it matches what was compiled (`matches(i, view)`) and that looking up its key
// finds this very record: every key finds itself, and the file holds exactly the compiled links.
template <typename Matches>
Status check_in_slot_order(const formats::Snapshot& snapshot, std::uint64_t link_count,
                           std::uint32_t domain_count, const Matches& matches) {
    if (snapshot.link_count() != link_count || snapshot.domain_count() != domain_count) {
        return Status::corruption("self-check: counts differ from what was compiled");
    }
    std::uint64_t i = 0;
    Status failed;
    Status walked = snapshot.for_each_link([&](const formats::LinkView& v) {
        if (!failed) {
            return;
        }
        if (i >= link_count || !matches(i, v)) {
            failed = Status::corruption("self-check: link " + std::string(v.code) +
                                        " differs from what was compiled");
            return;
        }
        auto found = snapshot.lookup(v.domain_index, v.code);
        if (!found || found->code.data() != v.code.data()) {
            failed = Status::corruption("self-check: link " + std::string(v.code) +
                                        " does not find itself in the written snapshot");
            return;
        }
        ++i;
    });
    if (!walked) {
        return Status::corruption("self-check: " + walked.message());
    }
    if (failed && i != link_count) {
        return Status::corruption("self-check: the written snapshot holds " + std::to_string(i) +
                                  " links, " + std::to_string(link_count) + " were compiled");
    }
    return failed;
}

}  // namespace

Status CompiledSnapshot::check(const formats::Snapshot& snapshot) const {
    const SnapshotBuilder::Data& d = *m_data;
    if (d.released) {
        return Status::invalid_argument("the compiled links were released by publish()");
    }
    return check_in_slot_order(
        snapshot, d.link_count, static_cast<std::uint32_t>(d.domains.size()),
        [&](std::uint64_t i, const formats::LinkView& v) {
            const LinkEntry& e = d.links[i];
            std::int64_t nb = 0;
            std::int64_t ex = 0;
            d.times(e, nb, ex);
            return v.domain_index == e.domain && v.code == d.code(e) &&
                   v.destination == d.destination(e) &&
                   static_cast<std::uint8_t>(v.status) == e.status &&
                   v.redirect_type == fmt::k_redirect_codes[e.flags & 3u] &&
                   v.forward_query == ((e.flags & k_flag_forward_query) != 0) &&
                   v.not_before == nb && v.expires == ex && v.rules.bytes() == d.rules(e);
        });
}

Result<formats::WrittenFile> CompiledSnapshot::write_file(const std::string& path,
                                                              const SnapshotMeta& meta,
                                                              const formats::SigningKey& key) const {
    auto file = AtomicFile::create(path);
    if (!file) {
        return file.status();
    }
    auto written = write(file->fd(), meta, key);
    if (!written) {
        return file->named(written.status());
    }
    if (m_data->config.self_check) {
        auto snap = meta.base_serial != 0
                        ? formats::Snapshot::open_patch(file->temp_path(), {key.trusted()})
                        : formats::Snapshot::open(file->temp_path(), {key.trusted()});
        if (!snap) {
            return Status::corruption("self-check: the written snapshot does not verify: " +
                                      snap.status().message());
        }
        if (Status s = check(**snap); !s) {
            return s;
        }
    }
    if (Status s = file->commit(); !s) {
        return file->named(s);
    }
    return written;
}

Result<formats::WrittenFile> CompiledSnapshot::publish(const std::string& path,
                                                           const SnapshotMeta& meta,
                                                           const formats::SigningKey& key) && {
    auto file = AtomicFile::create(path);
    if (!file) {
        return file.status();
    }
    std::vector<std::uint64_t> digests;
    const bool self_check = m_data->config.self_check;
    auto written = write_impl(file->fd(), meta, key, self_check ? &digests : nullptr);
    if (!written) {
        return file->named(written.status());
    }
    // The link table and arena are not needed any more: free them before the self-check maps
    // the new file, so the two never count in memory at once (10M links: 1.1 GB each).
    SnapshotBuilder::Data& d = *m_data;
    std::vector<LinkEntry>().swap(d.links);
    std::vector<Block>().swap(d.blocks);
    d.released = true;
    if (self_check) {
        auto snap = meta.base_serial != 0
                        ? formats::Snapshot::open_patch(file->temp_path(), {key.trusted()})
                        : formats::Snapshot::open(file->temp_path(), {key.trusted()});
        if (!snap) {
            return Status::corruption("self-check: the written snapshot does not verify: " +
                                      snap.status().message());
        }
        Status s = check_in_slot_order(
            **snap, d.link_count, static_cast<std::uint32_t>(d.domains.size()),
            [&](std::uint64_t i, const formats::LinkView& v) {
                return link_digest(v.domain_index, v.code, v.destination,
                                   static_cast<std::uint8_t>(v.status), v.redirect_type,
                                   v.forward_query, v.not_before, v.expires, v.rules.bytes()) == digests[i];
            });
        if (!s) {
            return s;
        }
    }
    if (Status s = file->commit(); !s) {
        return file->named(s);
    }
    return written;
}

}  // namespace shortlink::compiler
