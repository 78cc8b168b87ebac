// SnapshotBuilder: collects domains and links, then builds the immutable CompiledSnapshot that
// writes a signed snapshot file (formats/SPEC.md). Fed by `shortlink compile` from SQLite, or
// directly by tests (no database needed).
//
//   SnapshotBuilder builder(BuilderConfig{});          // explicit, recorded seed
//   auto d = builder.add_domain({.host = "*", .is_default = true});
//   builder.add_link({.domain = *d, .code = "abc", .destination = "https://example.com/"});
//   auto compiled = std::move(builder).build();
//   compiled->write_file("links-1.slsnap", {.serial = 1, .created_at = now}, key);
//
// Links are kept in compact arenas (about 24 bytes + code + destination each), so 10M links fit
// comfortably in memory. Building is deterministic and does not depend on the order links are
// added in: the same domains and the same set of links with the same config give a
// byte-identical file apart from the header's serial, created_at and not_after (and the
// signature over them).
//
// Thread-safety: none; a builder is used by one thread. A CompiledSnapshot is immutable and its
// const methods may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/mphf.h"
#include "formats/deny.h"
#include "formats/keys.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"
#include "formats/status.h"
#include "formats/writer.h"

namespace shortlink::compiler {

struct BuilderConfig {
    // Seed of the key hash, recorded in the file header. Fixed by default so that the same
    // database gives the same file; on a hash collision the builder derives the next seed from
    // it (splitmix64), also deterministically.
    std::uint64_t seed = 0x5eed5eed5eed5eedULL;
    // How many derived seeds to try before giving up (a collision is ~n^2 / 2^128 likely).
    unsigned max_reseeds = 8;
    // Perfect-hash tuning (lambda, alpha); see compiler/mphf.h.
    MphfConfig mphf;
    // Reopen the written file with the reader and look up every link before commit.
    bool self_check = true;
};

struct DomainInput {
    std::string host;       // lowercase; "*" for the default domain
    std::string root_url;   // empty: "/" answers 404
    std::uint16_t default_redirect = 302;
    bool is_default = false;
    bool case_insensitive = false;
    bool forward_query = true;
    std::uint32_t cache_max_age_s = 0;
    std::uint32_t negative_max_age_s = 0;
    bool complete = false;  // patches only: every link of the domain is in the patch
    bool https_redirect = false;
    std::uint32_t hsts_max_age_s = 0;  // 0: no Strict-Transport-Security header
    bool hsts_include_subdomains = false;
    // The domain's policy (section 8, SPEC.md "Section 8: domain policies"). A file gets the
    // section only when some domain's policy differs from what a reader without it assumes.
    std::string not_found_url;   // where unknown codes redirect; empty: 404
    std::string expired_url;     // where ended links without their own go; empty: 410
    std::string not_found_text;  // the 404 page's text; empty: "Not Found"
    std::string gone_text;       // the 410 page's text; empty: "Gone"
    std::uint32_t permanent_max_age_s = formats::format::k_no_permanent_cap;
    std::uint32_t stale_while_revalidate_s = 0;
    std::uint32_t stale_if_error_s = 0;
    std::uint32_t miss_budget = 0;  // misses per client and minute; 0: the server's default
    std::uint8_t cache_scope = formats::format::k_cache_scope_none;
    std::string country_header;  // the request header trusted for the country; empty: the server's
};

struct LinkInput {
    std::uint32_t domain = 0;  // handle returned by add_domain()
    std::string_view code;
    std::string_view destination;
    formats::LinkState status = formats::LinkState::active;
    std::uint16_t redirect_type = 0;  // 0: the domain's default
    int forward_query = -1;           // -1: the domain's default; 0 or 1: override
    std::int64_t not_before = 0;      // Unix seconds, 0: none
    std::int64_t expires = 0;         // Unix seconds, 0: none
    // The link's rule list as formats::encode_rule_list() wrote it; empty: no rules. Checked
    // again here (formats::check_rules_section's rules), so a list the reader would refuse is
    // refused before a file is written.
    std::string_view rules;
};

// Header fields decided when writing, not building.
struct SnapshotMeta {
    std::uint64_t serial = 0;
    std::int64_t created_at = 0;
    std::int64_t not_after = 0;  // 0: none
    // Non-zero: write a patch (patch-<base>-<serial>.slpatch) on the full snapshot with this
    // serial; the builder then holds the patch's links and every current domain.
    std::uint64_t base_serial = 0;
};

class CompiledSnapshot;

class SnapshotBuilder {
public:
    explicit SnapshotBuilder(BuilderConfig config = {});
    ~SnapshotBuilder();
    SnapshotBuilder(SnapshotBuilder&&) noexcept;
    SnapshotBuilder& operator=(SnapshotBuilder&&) noexcept;

    // Returns the handle links use to name this domain. Hosts must be unique.
    Result<std::uint32_t> add_domain(const DomainInput& domain);

    // Copies the link into the arena. The code is folded to ASCII lowercase when its domain is
    // case-insensitive; a duplicate (domain, code) is reported by build().
    Status add_link(const LinkInput& link);

    std::uint64_t link_count() const;

    // The deny set to bake into the snapshot (its deny section, SPEC.md "Section 6: deny"), so a
    // host that only ever receives snapshots blocks too. Empty: no deny section. Replaces any
    // earlier set; fails on an entry the format cannot hold.
    Status set_deny(std::vector<formats::DenyEntry> entries);

    // Builds the perfect hash and the layout. Consumes the builder.
    Result<CompiledSnapshot> build() &&;

    struct Data;

private:
    BuilderConfig m_config;
    std::unique_ptr<Data> m_data;
};

class CompiledSnapshot {
public:
    ~CompiledSnapshot();
    CompiledSnapshot(CompiledSnapshot&&) noexcept;
    CompiledSnapshot& operator=(CompiledSnapshot&&) noexcept;

    std::uint64_t link_count() const;
    std::uint32_t domain_count() const;
    std::uint64_t seed() const;  // the seed actually used (after any reseed)

    // Streams the signed snapshot into `fd` (an empty file open for reading and writing).
    Result<formats::WrittenFile> write(int fd, const SnapshotMeta& meta,
                                           const formats::SigningKey& key) const;

    // Checks that every link is found in `snapshot` with its destination, status and type.
    Status check(const formats::Snapshot& snapshot) const;

    // write() into an AtomicFile at `path`, self-check (if configured), then commit.
    Result<formats::WrittenFile> write_file(const std::string& path, const SnapshotMeta& meta,
                                                const formats::SigningKey& key) const;

    // write_file() for the last use of a compiled snapshot: frees the link table and arena as
    // soon as the file is written, so the self-check's mapping of the new file does not add to
    // them in memory, and checks against a 64-bit digest of each link taken while writing.
    // Afterwards only link_count(), domain_count() and seed() may be called.
    Result<formats::WrittenFile> publish(const std::string& path, const SnapshotMeta& meta,
                                             const formats::SigningKey& key) &&;

private:
    friend class SnapshotBuilder;
    CompiledSnapshot();
    Result<formats::WrittenFile> write_impl(int fd, const SnapshotMeta& meta,
                                                const formats::SigningKey& key,
                                                std::vector<std::uint64_t>* digests) const;
    std::unique_ptr<SnapshotBuilder::Data> m_data;
};

}  // namespace shortlink::compiler
