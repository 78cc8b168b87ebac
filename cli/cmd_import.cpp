// shortlink import FILE|-: links from CSV (RFC 4180, header row) or JSON Lines, in one
// transaction. A bad row fails the whole import with its line number unless --skip-invalid;
// --dry-run runs everything and rolls back.
#include <malloc.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/csv.h"
#include "cli/errors.h"
#include "cli/timefmt.h"
#include "cli/validate.h"

namespace shortlink::cli {
namespace {

// A JSON Lines line longer than this is refused (see csv::k_max_record_bytes).
constexpr std::size_t k_max_line_bytes = 1 << 20;

struct ImportOptions {
    std::string file;
    std::string format;
    std::string domain;
    bool dry_run = false;
    bool skip_invalid = false;
    bool create_domains = false;
    std::string on_conflict = "fail";
};

enum Column { c_domain, c_code, c_url, c_type, c_expires, c_not_before, c_tags, c_status, c_forward, c_count };

const std::map<std::string, Column, std::less<>>& column_names() {
    static const std::map<std::string, Column, std::less<>> k_names = {
        {"domain", c_domain},         {"code", c_code}, {"url", c_url},       {"type", c_type},
        {"expires", c_expires},       {"not_before", c_not_before},           {"tags", c_tags},
        {"status", c_status},         {"forward_query", c_forward}};
    return k_names;
}

// Read-only keys of `export --format json` that import ignores.
bool is_output_only_key(std::string_view key) {
    return key == "version" || key == "created_at" || key == "updated_at" || key == "short_url";
}

using Row = std::array<std::string, c_count>;

template <class T>
T row_unwrap(Result<T> r) {
    if (!r) {
        throw Error(k_exit_usage, r.status().message());
    }
    return std::move(r).value();
}

std::vector<std::string> split_tags(std::string_view s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ';' || c == ',' || c == ' ') {
            if (!cur.empty()) {
                out.push_back(std::move(cur));
                cur.clear();
            }
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) {
        out.push_back(std::move(cur));
    }
    return out;
}

// Validates one row into a LinkInput; throws Error(k_exit_usage) with the reason.
store::LinkInput row_to_input(const Row& row, const std::string& default_host, std::int64_t now) {
    store::LinkInput in;
    in.host = (row[c_domain].empty() || row[c_domain] == store::k_default_host)
                  ? (row[c_domain].empty() ? default_host : std::string())
                  : row_unwrap(validate::normalize_host(row[c_domain]));
    if (row[c_code].empty()) {
        throw Error(k_exit_usage, "code is empty");
    }
    Status st = validate::check_code(row[c_code]);
    if (!st) {
        throw Error(k_exit_usage, st.message());
    }
    in.code = row[c_code];
    in.destination = row_unwrap(validate::normalize_destination(row[c_url]));
    if (!row[c_type].empty()) {
        in.redirect_type = row_unwrap(validate::parse_redirect_type(row[c_type]));
    }
    if (!row[c_expires].empty()) {
        in.expires = row_unwrap(timefmt::parse_time(row[c_expires], now));
    }
    if (!row[c_not_before].empty()) {
        in.not_before = row_unwrap(timefmt::parse_time(row[c_not_before], now));
    }
    in.tags = split_tags(row[c_tags]);
    for (const std::string& t : in.tags) {
        st = validate::check_tag(t);
        if (!st) {
            throw Error(k_exit_usage, st.message());
        }
    }
    if (!row[c_status].empty()) {
        auto state = store::parse_link_state(row[c_status]);
        if (!state) {
            throw Error(k_exit_usage, "status '" + row[c_status] + "' is not active, disabled or deleted");
        }
        in.status = *state;
    }
    const std::string& fq = row[c_forward];
    if (fq == "true" || fq == "1") {
        in.forward_query = 1;
    } else if (fq == "false" || fq == "0") {
        in.forward_query = 0;
    } else if (!fq.empty()) {
        throw Error(k_exit_usage, "forward_query '" + fq + "' is not true, false or empty");
    }
    return in;
}

// Produces rows one at a time from CSV or JSON Lines; throws Error with the line number.
class RowSource {
public:
    RowSource(std::istream& in, bool json) : m_in(in), m_json(json), m_csv(in) {}

    // False at end of input.
    bool next(Row& row) {
        return m_json ? next_json(row) : next_csv(row);
    }
    std::uint64_t line() const { return m_json ? m_line : m_csv.record_line(); }

private:
    bool next_csv(Row& row) {
        std::vector<std::string> fields;
        while (true) {
            auto more = m_csv.next(fields);
            if (!more) {
                throw Error(k_exit_usage, more.status().message());
            }
            if (!*more) {
                if (m_columns.empty()) {
                    throw Error(k_exit_usage, "empty input: a CSV header row with code,url is required");
                }
                return false;
            }
            if (fields.size() == 1 && fields[0].empty()) {
                continue;  // blank line
            }
            if (m_columns.empty()) {
                read_header(fields);
                continue;
            }
            if (fields.size() != m_columns.size()) {
                throw Error(k_exit_usage, "line " + std::to_string(m_csv.record_line()) + ": " +
                                              std::to_string(fields.size()) + " fields, the header has " +
                                              std::to_string(m_columns.size()));
            }
            row = Row{};
            for (std::size_t i = 0; i < fields.size(); ++i) {
                row[m_columns[i]] = std::move(fields[i]);
            }
            return true;
        }
    }

    void read_header(const std::vector<std::string>& fields) {
        bool seen[c_count] = {};
        for (const std::string& name : fields) {
            auto it = column_names().find(name);
            if (it == column_names().end()) {
                throw Error(k_exit_usage, "line " + std::to_string(m_csv.record_line()) + ": unknown column '" +
                                              validate::printable(name) + "' (known: domain, code, url, type, expires, not_before, "
                                              "tags, status, forward_query)");
            }
            if (seen[it->second]) {
                throw Error(k_exit_usage, "line " + std::to_string(m_csv.record_line()) + ": column '" + name +
                                              "' appears twice");
            }
            seen[it->second] = true;
            m_columns.push_back(it->second);
        }
        if (!seen[c_code] || !seen[c_url]) {
            throw Error(k_exit_usage, "line " + std::to_string(m_csv.record_line()) +
                                          ": the header must name the columns code and url");
        }
    }

    bool next_json(Row& row) {
        std::string text;
        while (std::getline(m_in, text)) {
            ++m_line;
            if (text.size() > k_max_line_bytes) {
                throw Error(k_exit_usage, "line " + std::to_string(m_line) + ": longer than " +
                                              std::to_string(k_max_line_bytes) + " bytes");
            }
            if (!text.empty() && text.back() == '\r') {
                text.pop_back();
            }
            if (text.find_first_not_of(" \t") == std::string::npos) {
                continue;
            }
            row = Row{};
            parse_json(text, row);
            return true;
        }
        return false;
    }

    void parse_json(const std::string& text, Row& row) const {
        auto fail = [&](const std::string& why) {
            throw Error(k_exit_usage, "line " + std::to_string(m_line) + ": " + why);
        };
        rapidjson::Document doc;
        doc.Parse<rapidjson::kParseStopWhenDoneFlag>(text.c_str(), text.size());
        if (doc.HasParseError()) {
            fail(std::string("invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()));
        }
        if (!doc.IsObject()) {
            fail("expected a JSON object");
        }
        for (const auto& member : doc.GetObject()) {
            std::string_view key(member.name.GetString(), member.name.GetStringLength());
            if (is_output_only_key(key)) {
                continue;
            }
            auto it = column_names().find(key);
            if (it == column_names().end()) {
                fail("unknown key '" + validate::printable(key) + "'");
            }
            const rapidjson::Value& v = member.value;
            std::string& out = row[it->second];
            if (v.IsNull()) {
                out.clear();
            } else if (v.IsString()) {
                out.assign(v.GetString(), v.GetStringLength());
            } else if (v.IsBool()) {
                out = v.GetBool() ? "true" : "false";
            } else if (v.IsInt64()) {
                out = std::to_string(v.GetInt64());
            } else if (v.IsArray() && it->second == c_tags) {
                for (const auto& t : v.GetArray()) {
                    if (!t.IsString()) {
                        fail("tags must be strings");
                    }
                    out += std::string(t.GetString(), t.GetStringLength()) + ";";
                }
            } else {
                fail("key '" + std::string(key) + "' has the wrong type");
            }
        }
    }

    std::istream& m_in;
    bool m_json;
    csv::Reader m_csv;
    std::vector<Column> m_columns;
    std::uint64_t m_line = 0;
};

void run_import(const ImportOptions& o, const GlobalOptions& globals) {
    std::string format = o.format;
    if (format.empty()) {
        format = (o.file.size() > 5 && (o.file.ends_with(".json") || o.file.ends_with(".jsonl"))) ? "json" : "csv";
    }
    std::ifstream file;
    std::istream* in = &std::cin;
    if (o.file != "-") {
        file.open(o.file, std::ios::binary);
        if (!file) {
            throw Error(k_exit_not_found, "cannot open " + o.file);
        }
        in = &file;
    }
    store::OnConflict on_conflict = o.on_conflict == "skip"     ? store::OnConflict::skip
                                    : o.on_conflict == "update" ? store::OnConflict::update
                                                                : store::OnConflict::fail;
    std::string default_host = host_arg(o.domain);
    store::Store s = open_store(globals);
    // Validate the default domain before any row, so the error is about the option.
    if (!default_host.empty() && !o.create_domains) {
        auto domain = s.find_domain(default_host);
        if (!domain && domain.status().code() == Status::Code::not_found) {
            throw Error(k_exit_not_found, "domain '" + default_host + "' does not exist (add it with `shortlink domain add " +
                                              default_host + "`, or import with --create-domains)");
        }
        unwrap(std::move(domain));
    }
    // SQLite's page cache grows page by page while glibc trims the heap top after frees: without
    // this, a 1M-row import spends most of its system time in brk(2) growing and shrinking it.
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
    mallopt(M_TOP_PAD, 64 * 1024 * 1024);
    check(s.begin_bulk(o.create_domains));
    RowSource rows(*in, format == "json");
    std::uint64_t inserted = 0, updated = 0, skipped = 0, invalid = 0;
    std::int64_t now = now_seconds();
    Row row;
    try {
        while (true) {
            if (!rows.next(row)) {
                break;
            }
            try {
                store::LinkInput input = row_to_input(row, default_host, now);
                auto outcome = s.put_link(input, on_conflict);
                if (!outcome) {
                    throw Error(exit_code_for(outcome.status()), outcome.status().message());
                }
                inserted += *outcome == store::PutOutcome::inserted ? 1 : 0;
                updated += *outcome == store::PutOutcome::updated ? 1 : 0;
                skipped += *outcome == store::PutOutcome::skipped ? 1 : 0;
            } catch (const Error& e) {
                std::string where = "line " + std::to_string(rows.line()) + ": " + e.what();
                // --skip-invalid skips rows that are invalid (bad values, unknown domain); a
                // conflict under --on-conflict fail or a database error still fails the import.
                bool row_invalid = e.exit_code() == k_exit_usage || e.exit_code() == k_exit_not_found;
                if (!o.skip_invalid || !row_invalid) {
                    throw Error(e.exit_code(), where + " (nothing was imported)");
                }
                ++invalid;
                std::fprintf(stderr, "shortlink: warning: skipped %s\n", where.c_str());
            }
        }
    } catch (...) {
        s.end_bulk(false);
        throw;
    }
    std::uint64_t domains_created = s.bulk_domains_created();
    check(s.end_bulk(!o.dry_run));
    std::printf("%s %llu link(s), updated %llu, skipped %llu existing, %llu invalid",
                o.dry_run ? "dry run: would import" : "imported", static_cast<unsigned long long>(inserted),
                static_cast<unsigned long long>(updated), static_cast<unsigned long long>(skipped),
                static_cast<unsigned long long>(invalid));
    if (o.create_domains) {
        std::printf(", %s %llu domain(s)", o.dry_run ? "would create" : "created",
                    static_cast<unsigned long long>(domains_created));
    }
    std::printf("\n");
}

}  // namespace

void setup_import(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<ImportOptions>();
    CLI::App* sub = add_command(app, "import");
    sub->add_option("FILE", o->file, "CSV or JSON Lines file, or - for stdin")->required();
    sub->add_option("--format", o->format, "csv or json (default: from the file name, else csv)")
        ->check(CLI::IsMember({"csv", "json"}));
    sub->add_option("--domain", o->domain, "Domain of rows without a domain column");
    sub->add_flag("--dry-run", o->dry_run, "Validate and report, change nothing");
    sub->add_flag("--skip-invalid", o->skip_invalid, "Skip invalid rows (reported on stderr) instead of failing");
    sub->add_flag("--create-domains", o->create_domains,
                  "Create domains that do not exist, with default settings (audited as domain-add)");
    sub->add_option("--on-conflict", o->on_conflict, "When a code exists: fail (default), skip or update")
        ->check(CLI::IsMember({"fail", "skip", "update"}));
    sub->callback([o, &globals] { run_import(*o, globals); });
}

}  // namespace shortlink::cli
