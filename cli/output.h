// How commands print links, domains, blocks and audit entries: a human table, JSON (one object
// per line, i.e. JSON Lines, for lists) and CSV. Shared by show, list, export, history, inspect,
// diff, blocks and domain list so every command prints the same fields the same way: one link
// object and one domain object, documented in man/shortlink.1 (JSON OUTPUT).
//
// JSON is written with RapidJSON, the JSON library cereal's JSON archive is built on (Debian's
// libcereal-dev depends on rapidjson-dev). cereal's archive itself wraps every value in an outer
// object and is built for whole documents, which fits neither JSON Lines nor a stable field
// order a script can rely on; RapidJSON's Writer/Reader gives both with correct escaping.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "formats/snapshot.h"
#include "store/store.h"

namespace shortlink::cli {

// "https://go.example.com/docs" for a named domain; "/docs" for the default domain "*".
std::string short_url(std::string_view host, std::string_view code);
std::string short_url(const store::Link& link);

// One link in the terms of the JSON schema (man/shortlink.1, JSON OUTPUT). Where it comes from
// decides which fields it has: a stored link has them all; a compiled link (inspect, diff) has
// its type and query forwarding only as resolved against its domain, and no tags, version or
// times of change; an audit image (history) has the link's own settings but no effective ones.
// Views into the link it was made from.
struct LinkFields {
    enum class Source { stored, compiled, audit };
    Source source = Source::stored;
    std::string_view domain;
    std::string_view code;
    std::string_view url;
    store::LinkState status = store::LinkState::active;
    std::int64_t not_before = 0;  // Unix seconds, 0: none
    std::int64_t expires = 0;
    std::uint16_t type = 0;       // stored, audit: the link's own; 0 for the domain default
    int forward_query = -1;       // stored, audit: the link's own; -1 for the domain default
    std::uint16_t effective_type = 0;      // stored, compiled
    bool effective_forward_query = true;   // stored, compiled
    std::int64_t now = 0;         // stored, compiled: the moment "state" describes
    const std::vector<std::string>* tags = nullptr;  // stored, audit
    std::string_view title;       // stored, audit; "" for none
    const std::vector<store::Rule>* rules = nullptr;  // stored, audit
    std::string_view expired_url;  // where the link goes once it has ended; "": the domain's
    bool reserved = false;        // no start time yet: answers 404 until it gets one
    formats::RuleListView compiled_rules;              // compiled
    bool has_password = false;
    std::string_view password_hash;  // stored: formats::encode_password_text(); audit: the
                                     // image's fingerprint of it; "" for none
    std::int64_t version = 0;     // stored, audit
    std::int64_t created_at = 0;  // stored
    std::int64_t updated_at = 0;  // stored
};

// A stored link of `domain` (its own domain record), judged at `now`.
LinkFields link_fields(const store::Link& link, const store::DomainRecord& domain, std::int64_t now);
// A link of a snapshot or patch, judged at `now`.
LinkFields link_fields(const formats::Snapshot& snapshot, const formats::LinkView& link, std::int64_t now);

// The one writer of a link object and of a domain object (no newline). Times are RFC 3339 UTC
// strings ("2026-12-03T06:33:43Z"), absent times null. `complete` is a patch's domain flag,
// written only for a patch's domains.
std::string link_json(const LinkFields& link);
std::string domain_json(const store::DomainRecord& domain, std::optional<bool> complete = std::nullopt);

// A snapshot's domain as the store's record (the id left 0), for domain_json and comparisons.
store::DomainRecord domain_record(const formats::DomainView& domain);

// Every domain of the store by id: what list, export and show resolve a link's effective type
// and query forwarding against.
std::map<std::int64_t, store::DomainRecord> domains_by_id(store::Store& store);

// One JSON value as a person reads it: a string without quotes, null and "" (no root URL) as
// "-", an array's elements joined by ','. What `diff` prints on either side of "->".
std::string json_value_text(std::string_view json);

// id, at, actor, action, domain, code, before, after: a link's or domain's before and after
// images (as the store keeps them) in the link and domain schema, other images as stored.
std::string audit_json(const store::AuditRecord& record);
// kind, host, code, reason, actor, created_at (RFC 3339).
std::string block_json(const store::BlockRecord& block);

// What a block covers, as tables and messages name it: "go.example.com/spring" (a link; "*/spring"
// on the default domain), "go.example.com" (a domain), "evil.example" (a destination host).
std::string block_target(const store::BlockRecord& block);

// CSV columns of export and `list --format csv`; import reads the same header.
const std::vector<std::string>& link_csv_header();
std::vector<std::string> link_csv_fields(const store::Link& link);

// Streams every link `filter` selects to `out` as "table" (with a TITLE column when `titles`),
// "json" (JSON Lines) or "csv" (with the header row). Used by list and export; states are judged
// at filter.now. Throws cli::Error on a store or write failure. Returns how many of the links
// written have a password.
std::uint64_t write_links(store::Store& store, const store::LinkFilter& filter, std::string_view format,
                          std::FILE* out, bool titles = false);

// Human output.
void print_link_details(std::ostream& out, const LinkFields& link);
// DOMAIN CODE STATE TYPE [TITLE] URL: the TITLE column when `titles`, cut to fit its width.
void print_link_table_header(std::ostream& out, bool titles = false);
void print_link_table_row(std::ostream& out, const LinkFields& link, bool titles = false);
void print_domain_table(std::ostream& out, const std::vector<store::DomainRecord>& domains);
// Every setting of one domain, one per line (domain show).
void print_domain_settings(std::ostream& out, const store::DomainRecord& d);
void print_audit_row(std::ostream& out, const store::AuditRecord& record);
void print_block_table(std::ostream& out, const std::vector<store::BlockRecord>& blocks);

}  // namespace shortlink::cli
