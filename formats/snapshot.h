// Snapshot: a read-only, verified view of one links-<serial>.slsnap file (file kind 1).
//
// This is the API the redirect plane (serve/) and the offline tools (verify, inspect, resolve,
// diff) use. The byte layout is documented in formats/SPEC.md; the constants shared by the writer
// and this reader live in formats/snapshot_format.h, the container's in formats/container.h.
//
// open() maps the file read-only, lets the Container check what every file kind shares (magic,
// version, sizes, every offset and length against the end of the mapping, section checksums, the
// Ed25519 signature against the trusted keys, every block digest), then checks the payload
// (domains, index, every slot, the baked-in deny set) before it returns a Snapshot. A
// Snapshot opened that way is valid: lookups do no bounds checking beyond what open() already
// proved, allocate nothing, and never fail other than by returning "not found".
//
// A server with nothing to answer from yet may open with OpenOptions::lazy_content instead: the
// header, the signature, the small sections and the digests are checked at once (milliseconds
// for any size), while the slot and string sections are checked block by block on first touch
// (each lookup proves the blocks it reads against their signed digests before it trusts them)
// and in full by finish_verification(), which a background thread runs. No lookup ever answers
// from a byte that has not been proven; a block that fails makes intact() false for good.
//
// Thread-safety: immutable after open() apart from the verification state, which is atomic; any
// number of threads may call any const method at once, finish_verification() included.
// Ownership: the Snapshot owns its Container, which unmaps the file in its destructor. Readers that must keep
// the mapping alive while a newer snapshot is published hold a std::shared_ptr<const Snapshot>.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/container.h"
#include "formats/deny.h"
#include "formats/link_state.h"
#include "formats/mphf_query.h"
#include "formats/rules.h"
#include "formats/snapshot_format.h"
#include "formats/status.h"

namespace shortlink::formats {

// A domain's precomputed redirect policy.
struct DomainView {
    std::string_view host;        // lowercase A-label; the default domain's host is "*"
    std::string_view root_url;    // where "/" redirects; empty: "/" answers 404
    std::uint16_t default_redirect = 302;  // 301, 302, 307 or 308
    bool is_default = false;      // answers any Host without a domain entry of its own
    bool case_insensitive = false;  // codes were folded to lowercase at compile time
    bool forward_query = true;    // default for links that do not override it
    std::uint32_t cache_max_age_s = 0;     // Cache-Control max-age on redirects
    std::uint32_t negative_max_age_s = 0;  // Cache-Control max-age on 404 answers
    bool complete = false;        // patches only: all of its links are in the patch
    bool https_redirect = false;  // plain HTTP answers 308 to https://HOST/same-target
    std::uint32_t hsts_max_age_s = 0;     // Strict-Transport-Security over TLS; 0: none
    bool hsts_include_subdomains = false;
    // Section 8 (SPEC.md "Section 8: domain policies"); a file without it reads as these defaults.
    std::string_view not_found_url;   // where unknown codes redirect; empty: 404
    std::string_view expired_url;     // where ended links without their own redirect; empty: 410
    std::string_view not_found_text;  // the 404 page's text; empty: "Not Found"
    std::string_view gone_text;       // the 410 page's text; empty: "Gone"
    std::uint32_t permanent_max_age_s = format::k_no_permanent_cap;  // cap on 301/308 max-age
    std::uint32_t stale_while_revalidate_s = 0;  // 0: no such directive
    std::uint32_t stale_if_error_s = 0;
    std::uint32_t miss_budget = 0;    // misses per client and minute; 0: the server's default
    std::uint8_t cache_scope = format::k_cache_scope_none;  // format::k_cache_scope_*
    std::string_view country_header;  // the request header trusted for the country; empty: the server's
};

// One link, as a redirect needs it: nothing to parse, join or compute.
struct LinkView {
    std::string_view code;         // the stored key (lowercase on case-insensitive domains)
    std::string_view destination;  // normalized absolute URL, free of CR/LF/NUL
    std::uint32_t domain_index = 0;
    LinkState status = LinkState::active;
    std::uint16_t redirect_type = 302;  // already resolved: link override or domain default
    bool forward_query = true;          // already resolved against the domain default
    std::int64_t not_before = 0;        // Unix seconds; 0: no lower bound
    std::int64_t expires = 0;           // Unix seconds; 0: never expires
    RuleListView rules;                 // empty for a link without rules (formats/rules.h)
};

class Snapshot {
public:
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    ~Snapshot();

    // Maps and fully verifies `path`. The error says which check failed and where
    // ("section 3 (slots) checksum mismatch", "truncated: file is 812 bytes, header needs 4096").
    static Result<std::shared_ptr<const Snapshot>> open(const std::string& path,
                                                        const TrustedKeys& trusted,
                                                        OpenOptions options = {});

    // Maps and fully verifies a patch (patch-<base>-<serial>.slpatch, file kind 3): the same
    // payload as a snapshot, holding the links changed since its base (SPEC.md "Patches").
    static Result<std::shared_ptr<const Snapshot>> open_patch(const std::string& path,
                                                              const TrustedKeys& trusted,
                                                              OpenOptions options = {});
    static Result<std::shared_ptr<const Snapshot>> open_patch_buffer(std::string_view bytes,
                                                                     const TrustedKeys& trusted,
                                                                     OpenOptions options = {},
                                                                     std::string name = "<buffer>");

    // Verifies a snapshot held in memory (a copy is kept); same checks and errors as open().
    // For the fuzz target and tests; `name` stands in for the path in messages.
    static Result<std::shared_ptr<const Snapshot>> open_buffer(std::string_view bytes,
                                                               const TrustedKeys& trusted,
                                                               OpenOptions options = {},
                                                               std::string name = "<buffer>");

    std::uint64_t serial() const;
    bool is_patch() const;
    std::uint64_t base_serial() const;  // a patch's base snapshot; 0 for a full snapshot
    std::int64_t created_at() const;   // Unix seconds
    std::int64_t not_after() const;    // Unix seconds; 0: no expiry
    std::string_view key_id() const;   // id of the key that signed the file
    std::uint64_t link_count() const;
    std::uint32_t domain_count() const;
    std::uint64_t file_size() const;
    const std::string& path() const;

    DomainView domain(std::uint32_t index) const;  // index < domain_count()

    // The domain that answers `host` (lowercase, no port): its own entry, else the default
    // domain, else nullopt.
    std::optional<std::uint32_t> find_domain(std::string_view host) const;

    // The link for (domain, code). `code` must already be folded to lowercase when the domain is
    // case-insensitive. A perfect hash maps foreign keys to some slot too, so this compares the
    // full key before it answers.
    std::optional<LinkView> lookup(std::uint32_t domain_index, std::string_view code) const;

    // Every link in slot order (for diff, inspect and tests; not for the request path). Finishes
    // a lazy open's verification first, and visits nothing and returns the failure if that fails.
    [[nodiscard]] Status for_each_link(const std::function<void(const LinkView&)>& fn) const;

    // Touches every page of the mapping so the first requests after a swap do not fault.
    void prefault() const;

    // Completes the checks a lazy_content open deferred: section checksums, every block digest,
    // the slot walk. Returns the first failure (and intact() turns false), or ok once the
    // snapshot is fully verified. Stops early with Code::cancelled, still unverified, when
    // `cancel` becomes true.
    Status finish_verification(const std::atomic<bool>* cancel = nullptr) const;
    // Every check passed (always true after a full open).
    bool fully_verified() const { return m_file->fully_verified(); }
    // No check has failed. A lazily opened snapshot that turns out damaged answers no lookups
    // (they return nullopt) and its owner must stop serving from it.
    bool intact() const { return m_file->intact(); }

    // For inspect and tests.
    std::uint32_t format_version() const;
    std::uint64_t hash_seed() const;
    const MphfParams& index_params() const { return m_mphf; }
    const std::vector<SectionInfo>& sections() const { return m_file->sections(); }
    const Container& file() const { return *m_file; }

    // The deny set the compiler baked in (empty when the snapshot has no deny section). A deny
    // overlay with a higher serial replaces it (serve/, resolve).
    const DenySet& deny() const { return m_deny; }
    std::optional<std::uint32_t> default_domain() const { return m_default_domain; }
    // The snapshot digest (SPEC.md "Signature"), 64 hex digits: what the signature signs.
    std::string digest_hex() const;

private:
    explicit Snapshot(std::unique_ptr<Container> file);
    static Result<std::shared_ptr<const Snapshot>> load(std::unique_ptr<Container> file,
                                                        const TrustedKeys& trusted,
                                                        OpenOptions options,
                                                        formats::format::FileKind kind);
    Status check_payload(bool lazy);  // SPEC.md "Validation" steps 6 to 9
    LinkView view_of_slot(const std::uint8_t* slot) const;
    // lookup() while a lazy open's checks are outstanding: proves each block before reading it.
    std::optional<LinkView> lookup_verifying(std::uint32_t domain_index,
                                             std::string_view code) const;

    // The lookup path reads only these (and the verification state), so it never chases more
    // than one pointer. All point into the mapping.
    MphfParams m_mphf;
    std::uint64_t m_seed = 0;
    const std::uint8_t* m_pilots = nullptr;   // bucket_count bytes
    const std::uint8_t* m_slots = nullptr;    // slot_count * 16 bytes
    const std::uint8_t* m_strings = nullptr;  // link records
    std::uint64_t m_strings_length = 0;
    const std::uint8_t* m_rule_offsets = nullptr;  // section 5: list_count u64 offsets
    const std::uint8_t* m_rule_lists = nullptr;    // the lists they point into
    std::uint64_t m_rule_list_count = 0;
    std::unique_ptr<Container> m_file;        // the mapping, header fields, verification state
    std::vector<DomainView> m_domains;        // sorted by host
    std::optional<std::uint32_t> m_default_domain;
    DenySet m_deny;                           // the deny set baked in by the compiler; may be empty
    std::uint64_t m_link_count = 0;
    std::uint32_t m_domain_count = 0;
};


}  // namespace shortlink::formats
