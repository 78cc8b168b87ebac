// How commands print links, domains, blocks and audit entries: a human table, JSON (one object
// per line, i.e. JSON Lines, for lists) and CSV. Shared by show, list, export, history, blocks and
// domain list so every command prints the same fields the same way.
//
// JSON is written with RapidJSON, the JSON library cereal's JSON archive is built on (Debian's
// libcereal-dev depends on rapidjson-dev). cereal's archive itself wraps every value in an outer
// object and is built for whole documents, which fits neither JSON Lines nor a stable field
// order a script can rely on; RapidJSON's Writer/Reader gives both with correct escaping.
#pragma once

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "store/store.h"

namespace shortlink::cli {

// "https://go.example.com/docs" for a named domain; "/docs" for the default domain "*".
std::string short_url(const store::Link& link);

// One JSON object (no newline); times in RFC 3339, absent times as null.
std::string link_json(const store::Link& link);
std::string domain_json(const store::DomainRecord& domain);
std::string audit_json(const store::AuditRecord& record);
// kind, host, code, reason, actor, created_at (RFC 3339).
std::string block_json(const store::BlockRecord& block);

// What a block covers, as tables and messages name it: "go.example.com/spring" (a link; "*/spring"
// on the default domain), "go.example.com" (a domain), "evil.example" (a destination host).
std::string block_target(const store::BlockRecord& block);

// CSV columns of export and `list --format csv`; import reads the same header.
const std::vector<std::string>& link_csv_header();
std::vector<std::string> link_csv_fields(const store::Link& link);

// Streams every link `filter` selects to `out` as "table", "json" (JSON Lines) or "csv" (with
// the header row). Used by list and export. Throws cli::Error on a store or write failure.
void write_links(store::Store& store, const store::LinkFilter& filter, std::string_view format, std::FILE* out);

// Human output.
void print_link_details(std::ostream& out, const store::Link& link);
void print_link_table_header(std::ostream& out);
void print_link_table_row(std::ostream& out, const store::Link& link);
void print_domain_table(std::ostream& out, const std::vector<store::DomainRecord>& domains);
// Every setting of one domain, one per line (domain show).
void print_domain_settings(std::ostream& out, const store::DomainRecord& d);
void print_audit_row(std::ostream& out, const store::AuditRecord& record);
void print_block_table(std::ostream& out, const std::vector<store::BlockRecord>& blocks);

}  // namespace shortlink::cli
