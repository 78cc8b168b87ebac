// The link store: the SQLite database that is the source of truth for domains, links, the audit
// log and the record of compiled snapshots (DESIGN.md, "The source of truth").
//
// The schema lives in store/store_schema.cpp as forward-only migrations numbered by
// `PRAGMA user_version`; `PRAGMA application_id` marks the file as shortlink's. The database runs
// in WAL mode with foreign keys on and a busy timeout, so two processes may write at once (the
// second waits). The audit log is append-only: triggers in the schema refuse UPDATE, DELETE and
// an INSERT over an existing row, whoever the writer is; and it is tamper-evident: each row
// carries a SHA-256 chained to the previous row's, written in the transaction of its change.
//
// Inputs are validated by the caller (store/validate.h) before they reach the store; the store
// enforces uniqueness (a link is unique on (domain, code); a case-insensitive domain also refuses
// two codes that differ only in ASCII case) and referential rules.
//
// Thread-safety: a Store is one SQLite connection; use it from one thread at a time. Ownership:
// the Store owns its connection and its cached prepared statements; it is movable, not copyable.
// Destroying it finalizes the statements and closes the connection; the last connection to a
// database checkpoints the WAL into it and removes the WAL, so keep no Store past the command.
// Views handed to callbacks (CompileLinkRow, LinkRow fields) are valid only during the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/link_state.h"
#include "formats/status.h"
#include "store/rules.h"

namespace shortlink::store {

// Defaults of a new domain (the "built-in defaults").
inline constexpr std::uint16_t k_default_redirect = 302;
inline constexpr std::uint32_t k_default_cache_max_age_s = 300;  // edge caches may keep a redirect 5 min
inline constexpr std::uint32_t k_default_negative_max_age_s = 60;  // a 404 is cached only 1 min
inline constexpr std::string_view k_default_host = "*";  // the domain `init` creates
// 301 and 308 answers are cached at most a day by default, so a "permanent" redirect can still
// be changed: browsers keep them as long as the answer says, with no way to recall them.
inline constexpr std::uint32_t k_default_permanent_max_age_s = 86400;

struct DomainRecord {            // one row of the domains table
    std::int64_t id = 0;
    std::string host;            // lowercase A-label; "*" is the default domain created by init
    bool is_default = false;
    std::uint16_t default_redirect = k_default_redirect;  // 301/302/307/308
    std::string root_url;        // empty: none
    bool case_insensitive = false;
    bool forward_query = true;
    std::uint32_t cache_max_age_s = k_default_cache_max_age_s;
    std::uint32_t negative_max_age_s = k_default_negative_max_age_s;
    bool https_redirect = false;         // plain HTTP answers 308 to https://HOST/same-target
    std::uint32_t hsts_max_age_s = 0;    // Strict-Transport-Security max-age over TLS; 0: none
    bool hsts_include_subdomains = false;
    std::string not_found_url;   // unknown codes redirect here; empty: 404
    std::string expired_url;     // ended links without their own go here; empty: 410
    std::string not_found_text;  // the 404 page's text; empty: "Not Found"
    std::string gone_text;       // the 410 page's text; empty: "Gone"
    std::uint32_t permanent_max_age_s = k_default_permanent_max_age_s;  // cap on 301/308 max-age
    std::uint32_t stale_while_revalidate_s = 0;  // RFC 5861; 0: not sent
    std::uint32_t stale_if_error_s = 0;          // RFC 5861; 0: not sent
    std::string cache_scope;     // "", "public" or "private"
    std::uint32_t miss_budget = 0;  // misses a client may cause per minute; 0: the server's default
    std::string country_header;  // the request header trusted for the country; empty: the server's
};

// The policy members of a domain's JSON image (the audit log's before and after), by key: the
// store writes them, `history` reads them back from images that have them.
inline constexpr std::pair<const char*, std::string DomainRecord::*> k_domain_policy_texts[] = {
    {"not_found_url", &DomainRecord::not_found_url}, {"expired_url", &DomainRecord::expired_url},
    {"not_found_text", &DomainRecord::not_found_text}, {"gone_text", &DomainRecord::gone_text},
    {"cache_scope", &DomainRecord::cache_scope},     {"country_header", &DomainRecord::country_header}};
inline constexpr std::pair<const char*, std::uint32_t DomainRecord::*> k_domain_policy_numbers[] = {
    {"permanent_max_age_s", &DomainRecord::permanent_max_age_s},
    {"stale_while_revalidate_s", &DomainRecord::stale_while_revalidate_s},
    {"stale_if_error_s", &DomainRecord::stale_if_error_s},
    {"miss_budget", &DomainRecord::miss_budget}};

// A link's state: the one enum of every library (formats/link_state.h), so the compiler copies
// a stored state into a snapshot without a mapping of its own.
using formats::LinkState;
using formats::link_state_name;   // "active", "disabled", "deleted"
using formats::parse_link_state;
using formats::EffectiveState;
using formats::effective_state;

struct CompileLinkRow {          // views valid only during the callback
    std::int64_t domain_id = 0;
    std::string_view code;
    std::string_view destination;
    LinkState status = LinkState::active;
    std::uint16_t redirect_type = 0;  // 0: domain default
    int forward_query = -1;      // -1: domain default, 0 or 1: link override
    std::int64_t not_before = 0; // Unix seconds, 0: none
    std::int64_t expires = 0;    // Unix seconds, 0: none
    std::string_view rules;      // encode_rules() JSON; empty: none (compile_rules() compiles it)
    std::string_view expired_url;  // where the link goes once it has ended; empty: the domain's
    bool reserved = false;       // no start time yet: answers 404 until it gets one
    std::string_view password_hash;  // formats::encode_password_text(); empty: none
};

struct SnapshotRecord {            // one published file (a snapshot, patch, overlay or rollback)
    std::uint64_t serial = 0;
    std::string kind = "snapshot";   // as reserve_serial() was given it
    std::int64_t audit_mark = -1;    // full snapshots: the highest audit id included; -1 unknown
    std::int64_t created_at = 0;
    std::string digest_hex;        // the signed file digest (SPEC.md "Signature"), not sha256sum's
    std::uint64_t link_count = 0;
    std::uint32_t domain_count = 0;
    std::uint64_t bytes = 0;
    std::string key_id;
    std::string path;
};

// A link as the commands see it (owned strings).
struct Link {
    std::int64_t id = 0;
    std::int64_t domain_id = 0;
    std::string host;            // the domain's host ("*" for the default domain)
    std::string code;
    std::string destination;
    LinkState status = LinkState::active;
    std::uint16_t redirect_type = 0;  // 0: domain default
    int forward_query = -1;      // -1: domain default
    std::int64_t not_before = 0;
    std::int64_t expires = 0;
    std::vector<std::string> tags;  // sorted, unique
    std::string title;           // "": none (validate::normalize_title())
    std::vector<Rule> rules;        // in order: the first whose conditions hold answers (store/rules.h)
    std::string expired_url;     // where the link goes once it has ended; "": the domain's
    bool reserved = false;       // no start time yet: answers 404 until `edit` gives it one
    std::string password_hash;   // formats::encode_password_text(); "": no password
    std::int64_t version = 1;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
};

// What a caller asks to create or overwrite; already validated and normalized.
struct LinkInput {
    std::string host;            // empty: the default domain
    std::string code;            // empty in add_link: generate one
    std::string destination;
    std::uint16_t redirect_type = 0;
    int forward_query = -1;
    std::int64_t not_before = 0;
    std::int64_t expires = 0;
    std::vector<std::string> tags;
    std::string title;           // "": none
    std::string expired_url;     // "": the domain's
    bool reserved = false;       // no start time yet (add --reserve)
    LinkState status = LinkState::active;
    // Normalized and checked (store/rules.h). Unset: none for a new link, and an overwritten
    // link (import --update) keeps its own.
    std::optional<std::vector<Rule>> rules;
    // formats::encode_password_text(), checked. Unset: none for a new link, and an overwritten
    // link keeps its own; "": none.
    std::optional<std::string> password_hash;
    // Unix seconds; 0: now. An import from another shortener keeps a link's original creation time.
    std::int64_t created_at = 0;
};

// A partial change of a link (edit); unset members are left alone.
struct LinkPatch {
    std::optional<std::string> destination;
    std::optional<std::uint16_t> redirect_type;
    std::optional<int> forward_query;
    std::optional<std::int64_t> not_before;  // 0 clears
    std::optional<std::int64_t> expires;     // 0 clears
    std::vector<std::string> add_tags;
    std::vector<std::string> remove_tags;
    std::optional<std::string> title;        // "" clears
    std::optional<std::string> expired_url;  // "" clears
    // true reserves the link; false gives it a start time (not_before, or none: from now on).
    std::optional<bool> reserved;
    std::optional<std::string> password_hash;  // formats::encode_password_text(); "" clears
};

// A partial change of a domain (domain set); unset members are left alone.
struct DomainPatch {
    std::optional<std::uint16_t> default_redirect;
    std::optional<std::string> root_url;
    std::optional<bool> case_insensitive;
    std::optional<bool> forward_query;
    std::optional<std::uint32_t> cache_max_age_s;
    std::optional<std::uint32_t> negative_max_age_s;
    std::optional<bool> https_redirect;
    std::optional<std::uint32_t> hsts_max_age_s;
    std::optional<bool> hsts_include_subdomains;
    std::optional<std::string> not_found_url;   // "" clears
    std::optional<std::string> expired_url;     // "" clears
    std::optional<std::string> not_found_text;  // "" clears
    std::optional<std::string> gone_text;       // "" clears
    std::optional<std::uint32_t> permanent_max_age_s;
    std::optional<std::uint32_t> stale_while_revalidate_s;
    std::optional<std::uint32_t> stale_if_error_s;
    std::optional<std::string> cache_scope;     // "", "public" or "private"
    std::optional<std::uint32_t> miss_budget;
    std::optional<std::string> country_header;  // "" clears
};

// disable / enable / delete / restore.
enum class StateAction { disable, enable, remove, restore };

struct LinkFilter {
    std::string host;            // empty: every domain
    std::optional<LinkState> status;
    // What the link does at `now` (formats::effective_state): an expired link is active by its
    // status and expired by its state.
    std::optional<formats::EffectiveState> state;
    std::int64_t now = 0;        // Unix seconds; what `state` is judged at
    std::string tag;             // empty: any
    std::string search;          // empty: any; else a substring of the code, URL or title, ASCII case ignored
    std::int64_t limit = 0;      // 0: no limit; counts the links that pass every filter
};

struct AuditRecord {
    std::int64_t id = 0;
    std::int64_t at = 0;         // Unix seconds
    std::string actor;
    std::string action;          // "add", "edit", "disable", ..., "domain-add", ...
    std::string host;
    std::string code;
    std::string before_json;     // "" when there was no before (creation)
    std::string after_json;
};

// The end of an audit log whose hash chain verified (Store::verify_audit_log).
struct AuditChainHead {
    std::int64_t rows = 0;       // rows in the log
    std::int64_t last_id = 0;    // the last row's id; 0: an empty log
    std::string hash_hex;        // the last row's chain hash, 64 hex digits; "" for an empty log
};

enum class OnConflict { fail, skip, update };

enum class PutOutcome { inserted, updated, skipped };

// What a block covers: one link (domain, code), a whole served domain, or every link whose
// destination host is the blocked host or a subdomain of it.
enum class BlockKind : std::uint8_t { link = 1, domain = 2, destination = 3 };

std::string_view block_kind_name(BlockKind kind);             // "link", "domain", "destination"
std::optional<BlockKind> parse_block_kind(std::string_view name);

struct BlockRecord {             // one row of the blocks table
    std::int64_t id = 0;
    BlockKind kind = BlockKind::link;
    std::string host;            // link, domain: the domain's host ("*": default); destination: its host
    std::string code;            // link blocks only: as the server looks it up (folded on a ci domain)
    std::string reason;
    std::string actor;
    std::int64_t created_at = 0; // Unix seconds
};

// Generates a candidate code for add_link when none is given (a CSPRNG in store/validate.h).
using CodeGenerator = std::function<std::string()>;

class Store {
public:
    // An existing shortlink database, migrated to this build's schema. A file that is not one
    // (empty, not SQLite, another program's SQLite database) or that a newer shortlink made is
    // invalid_argument ("not a shortlink database: PATH (...)"), left unmodified.
    static Result<Store> open(const std::string& path);
    // init; conflict if anything exists at `path`. `actor` is recorded on the init audit row.
    static Result<Store> create(const std::string& path, const std::string& actor);

    Store(Store&&) noexcept;
    Store& operator=(Store&&) noexcept;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;
    ~Store();

    // Sets who is recorded in the audit log for the changes that follow.
    void set_actor(std::string actor);

    // ---- the compiler's view -------------------------------------------------------------------
    // One read transaction: every domain (ordered by id), then every link in table order (no
    // particular key order: the compiler's output does not depend on it, and sorting 10M rows
    // was a third of a compile), streamed from SQLite (never all links in memory). Removed
    // domains and their links are left out.
    // `audit_mark`, when given, gets the highest audit_log id, read in the same transaction: every
    // change up to it is in what was read (what a later patch starts from).
    Status read_for_compile(const std::function<void(const DomainRecord&)>& on_domain,
                            const std::function<void(const CompileLinkRow&)>& on_link,
                            std::int64_t* audit_mark = nullptr);
    // What a patch holds, in one read transaction: every domain (ordered by id), for which
    // `on_domain` answers whether it is complete (every one of its links is read: a domain the
    // base does not have, or whose defaults changed); then the links of the complete domains,
    // then every other link an audit row after `since` names (once or more), with their current
    // state. Removed domains and their links are left out. `audit_mark` gets the new mark.
    Status read_changes(std::int64_t since, const std::function<bool(const DomainRecord&)>& on_domain,
                        const std::function<void(const CompileLinkRow&)>& on_link,
                        std::int64_t& audit_mark);
    // Reserves the serial of a file about to be published: max(at_least, highest serial + 1),
    // recorded as pending with `kind` ("snapshot", "overlay" or "rollback"; anything else is
    // invalid_argument). Every kind draws from one sequence, read and written in one IMMEDIATE
    // transaction, so two processes never get the same serial and serials never go back.
    Result<std::uint64_t> reserve_serial(std::string_view kind, std::uint64_t at_least);
    Result<std::uint64_t> highest_serial();  // of any kind and state; 0 when none
    Status complete_snapshot(const SnapshotRecord& record);
    // Forgets a reservation whose file was never written (a compile that failed cleanly), so a
    // failed run leaves the database as it was. Completed serials are never released.
    Status release_serial(std::uint64_t serial);
    Result<std::vector<SnapshotRecord>> list_snapshots();  // completed ones, by serial
    Result<SnapshotRecord> find_snapshot(std::uint64_t serial);  // a completed one; not_found
    // Appends the audit row of a rollback: the content of serial `content_of` published again
    // as `serial` at `path` (action "rollback", the three as the after-image).
    Status record_rollback(std::uint64_t content_of, std::uint64_t serial, std::string_view path);

    // ---- domains -------------------------------------------------------------------------------
    Result<DomainRecord> add_domain(const DomainRecord& record);  // conflict if it exists
    Result<DomainRecord> find_domain(std::string_view host);     // "" or "*": the default
    Result<std::vector<DomainRecord>> list_domains();
    Result<DomainRecord> set_domain(std::string_view host, const DomainPatch& patch);
    // Refused (conflict) while the domain has links that are not deleted, unless `force`, which
    // soft-deletes them first. The default domain cannot be removed.
    Status remove_domain(std::string_view host, bool force);

    // ---- links ---------------------------------------------------------------------------------
    // Creates a link; an empty code is generated with `generate` (retried on collision).
    Result<Link> add_link(const LinkInput& input, const CodeGenerator& generate);
    Result<Link> get_link(std::string_view host, std::string_view code);
    // Streams links ordered by (domain, code); the callback returns false to stop.
    Status list_links(const LinkFilter& filter, const std::function<bool(const Link&)>& on_link);
    Result<Link> edit_link(std::string_view host, std::string_view code, const LinkPatch& patch);
    Result<Link> change_state(std::string_view host, std::string_view code, StateAction action);
    // The link's rules (store/rules.h), each change one audited edit of the link ("rule-add",
    // "rule-remove", "rule-move") with the rules in its before and after images. `rule` is
    // normalized (normalize_rule) and the resulting list checked (check_rule_list): a refused
    // change writes nothing. Positions are 1-based; add_rule appends when `position` is 0.
    // A position past the list is not_found.
    Result<Link> add_rule(std::string_view host, std::string_view code, const Rule& rule, std::size_t position = 0);
    Result<Link> remove_rule(std::string_view host, std::string_view code, std::size_t position);
    Result<Link> move_rule(std::string_view host, std::string_view code, std::size_t from, std::size_t to);

    // Bulk writes (import): begin_bulk() opens one write transaction; put_link() inserts or,
    // depending on `on_conflict`, skips or overwrites; end_bulk(true) commits (then checkpoints
    // the WAL), end_bulk(false) rolls everything back. Every inserted link gets its own audit row
    // as it is inserted (action "import", its after-image exactly as `add` writes it); each
    // overwritten link gets its own row with before/after. With `create_missing_domains`, a
    // domain that does not exist is added with default settings (audited as domain-add);
    // otherwise a missing domain is not_found. resolve_bulk_domain() does that for one host
    // ahead of put_link() (an importer that orders its rows by domain id and code).
    Status begin_bulk(bool create_missing_domains = false);
    Result<DomainRecord> resolve_bulk_domain(std::string_view host);
    Result<PutOutcome> put_link(const LinkInput& input, OnConflict on_conflict);
    // put_link() for each input in order, with the same outcomes, audit rows and errors, but
    // faster: a full batch (k_link_batch links on one domain) is first tried as one multi-row
    // INSERT. `outcomes` gets one entry per input done; on error, the failing input is
    // inputs[outcomes.size()].
    static constexpr std::size_t k_link_batch = 16;
    Status put_links(const std::vector<LinkInput>& inputs, OnConflict on_conflict, std::vector<PutOutcome>& outcomes);
    std::uint64_t bulk_domains_created() const;  // by the open (or last) bulk transaction
    Status end_bulk(bool commit);

    // ---- blocks --------------------------------------------------------------------------------
    // The deny set. A link block needs an existing link (any state) on a domain that is not
    // removed; a domain block such a domain ("" or "*": the default); a destination block only a
    // valid host (normalized here: lowercase, A-labels), since it may precede any link to it.
    // `code` is ignored except for link blocks. Blocking what is blocked is a conflict naming when,
    // by whom and why; removing what is not blocked is not_found. Each change appends its audit
    // row ("block" / "unblock", the block as {"kind","host","code","reason"}) in the same
    // transaction; on any error nothing is written.
    Result<BlockRecord> add_block(BlockKind kind, std::string_view host, std::string_view code,
                                  std::string_view reason);
    // Returns the removed block. Works on blocks of removed domains too.
    Result<BlockRecord> remove_block(BlockKind kind, std::string_view host, std::string_view code);
    Result<std::vector<BlockRecord>> list_blocks();
    // The deny set alone, streamed in no particular order (what the compiler bakes in and an
    // overlay carries). Views are valid only during the callback.
    Status read_deny_set(
        const std::function<void(BlockKind, std::string_view host, std::string_view code)>& on_block);  // ordered by kind (link, domain, destination), host, code

    // ---- audit ---------------------------------------------------------------------------------
    // Newest first; `code` empty: every entry. The callback returns false to stop.
    Status history(std::string_view host, std::string_view code, std::int64_t limit,
                   const std::function<bool(const AuditRecord&)>& on_record);

    // Checks the whole audit log in one read transaction: ids run 1, 2, 3, ..., and each row's
    // hash is the SHA-256 of its columns chained to the previous row's hash (store/audit_chain.h
    // and man/shortlink-history.1 give the encoding); no published snapshot counts rows past the
    // last one. Corruption naming the first row that does not fit, and how, when it fails.
    Result<AuditChainHead> verify_audit_log();

    // ---- backups -------------------------------------------------------------------------------
    // Copies the database into a new SQLite file at `path` (which must not exist, or be empty)
    // with SQLite's online backup API, in one read transaction: the copy is the database as of one
    // commit, while other processes go on writing. The copy is left without a WAL.
    Status backup_to(const std::string& path);
    // PRAGMA integrity_check; corruption naming the first problem SQLite reports.
    Status check_integrity();
    // Appends the audit row of a restore (action "restore-backup", the backup's name, digest and
    // time as the after-image), in the database that was restored, so its history says so.
    Status record_restore(std::string_view backup_path, std::string_view sha256_hex, std::int64_t backup_created_at);
    // Replaces the whole content of the database at `target` with that of the database at `source`
    // (SQLite's backup API into the target, one write transaction): the target's own WAL and
    // -shm stay consistent and processes that have it open see the new content at their next
    // transaction; a process in a write transaction makes this wait (the busy timeout), then fail
    // with nothing changed. corruption when `target` is not a readable SQLite database.
    static Status replace_contents(const std::string& target, const std::string& source);

    // The schema version this build writes (PRAGMA user_version after migration).
    static int schema_version();

    struct Impl;

private:
    explicit Store(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace shortlink::store
