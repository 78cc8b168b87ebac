// shortlink import FILE|-: links from CSV (RFC 4180, header row) or JSON Lines, or from another
// shortener's export (--from bitly|yourls|shlink|kutt|cloudflare), in one transaction. A bad row
// fails the whole import with its file, line and column unless --skip-invalid; --dry-run runs
// everything and rolls back. What a link has no place for is said once per column on stderr.
//
// Rows are read and validated by store/import_rows.h and their domains resolved in file order,
// then held in an ImportStage and inserted ordered by (domain id, code): SQLite's (domain_id,
// code) unique index then grows by appends on a fresh domain instead of 1M random B-tree
// inserts, which was 2 s of CPU of a 1M-link import (bench/store/README.md).
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "formats/clock.h"
#include "store/import_rows.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

struct ImportOptions {
    std::string file;
    std::string format;
    std::string from;
    std::vector<std::string> maps;  // COLUMN=FIELD
    bool ignore_unknown_columns = false;
    std::string domain;
    bool dry_run = false;
    bool skip_invalid = false;
    bool create_domains = false;
    std::string on_conflict = "fail";
    bool json = false;
};

struct ImportCounts {
    std::uint64_t inserted = 0;
    std::uint64_t updated = 0;
    std::uint64_t skipped = 0;
    std::uint64_t invalid = 0;
};

// What --json reports beside the counts: the notes said once per column, and the rows
// --skip-invalid skipped, each as stderr names it.
struct ImportReport {
    std::vector<store::ImportNotice> notes;
    struct Skipped {
        std::uint64_t line = 0;
        std::uint32_t item = 0;
        std::string message;
    };
    std::vector<Skipped> skipped_rows;
};

void print_json(const ImportOptions& o, const std::string& label, store::ImportFormat format,
                const ImportCounts& counts, std::uint64_t domains_created, const ImportReport& report) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto key_string = [&](const char* key, std::string_view text) {
        w.Key(key);
        w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    };
    w.StartObject();
    key_string("file", label);
    key_string("format", store::import_format_name(format));
    w.Key("dry_run");
    w.Bool(o.dry_run);
    w.Key("added");
    w.Uint64(counts.inserted);
    w.Key("updated");
    w.Uint64(counts.updated);
    w.Key("skipped");
    w.Uint64(counts.skipped);
    w.Key("invalid");
    w.Uint64(counts.invalid);
    w.Key("domains_created");
    if (o.create_domains) {
        w.Uint64(domains_created);
    } else {
        w.Null();
    }
    w.Key("notes");
    w.StartArray();
    for (const store::ImportNotice& n : report.notes) {
        w.StartObject();
        w.Key("line");
        w.Uint64(n.line);
        key_string("column", n.column);
        key_string("message", n.message);
        w.EndObject();
    }
    w.EndArray();
    w.Key("invalid_rows");
    w.StartArray();
    for (const ImportReport::Skipped& r : report.skipped_rows) {
        w.StartObject();
        w.Key("line");
        w.Uint64(r.line);
        w.Key("item");
        if (r.item != 0) {
            w.Uint(r.item);
        } else {
            w.Null();
        }
        key_string("message", r.message);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::printf("%s\n", buf.GetString());
}

// "FILE: line N: " (", item K" for an object of a JSON document) to begin a message about a row.
std::string where(const std::string& file, std::uint64_t line, std::uint32_t item) {
    return file + ": line " + std::to_string(line) + (item != 0 ? ", item " + std::to_string(item) : "") + ": ";
}

// The format --from, --format or the file name says; --from and --format must agree.
store::ImportFormat import_format(const ImportOptions& o) {
    std::string name = o.from;
    if (!o.format.empty()) {
        const std::string format = o.format == "json" ? "jsonl" : o.format;
        if (!name.empty() && name != format && !(name == "json" && format == "jsonl")) {
            throw Error(k_exit_usage,
                        "--format " + o.format + " and --from " + o.from + " disagree (--from is enough)");
        }
        name = format;
    }
    if (name.empty()) {
        name = (o.file.size() > 5 && (o.file.ends_with(".json") || o.file.ends_with(".jsonl"))) ? "jsonl" : "csv";
    }
    return unwrap(store::parse_import_format(name));
}

// --map COLUMN=FIELD, each.
std::vector<std::pair<std::string, store::ImportField>> column_map(const std::vector<std::string>& maps) {
    std::vector<std::pair<std::string, store::ImportField>> out;
    for (const std::string& m : maps) {
        const std::size_t eq = m.rfind('=');
        if (eq == std::string::npos || eq == 0) {
            throw Error(k_exit_usage, "--map '" + m + "': expected COLUMN=FIELD");
        }
        auto field = store::parse_import_field(m.substr(eq + 1));
        if (!field) {
            throw Error(k_exit_usage, "--map '" + m + "': " + field.status().message());
        }
        out.emplace_back(m.substr(0, eq), *field);
    }
    return out;
}

// Validated rows held back so that they reach SQLite ordered by (domain id, code), then by line.
// The order keeps every outcome of file order: duplicates of one code stay in file order (the
// first inserts, later ones conflict, skip or update as before), and on a case-insensitive
// domain codes are ordered by their folded form, so case twins also meet in file order. Only
// the row ids (and so the audit rows' order within the import) follow the code order.
// Memory is bounded: at k_max_stage_bytes the stage is flushed and filled again, each batch
// sorted on its own. Strings live in one arena, not one allocation per field.
// Not thread-safe; owns its rows.
class ImportStage {
public:
    // 256 MiB: a 1M-link import (about 170 MB staged) is sorted in one batch.
    static constexpr std::size_t k_max_stage_bytes = std::size_t{256} << 20;
    // Rows ahead whose text is prefetched during flush(): a few inserts' time covers a miss.
    static constexpr std::size_t k_prefetch_ahead = 4;

    void add(const store::LinkInput& in, const store::DomainRecord& domain, std::uint64_t line, std::uint32_t item) {
        Staged r;
        r.domain_id = domain.id;
        r.ci = domain.case_insensitive;
        r.line = line;
        r.item = item;
        r.text = m_text.size();
        r.code_len = static_cast<std::uint32_t>(in.code.size());
        r.url_len = static_cast<std::uint32_t>(in.destination.size());
        m_text += in.code;
        m_text += in.destination;
        for (const std::string& t : in.tags) {
            m_text += t;
            m_text += ',';
            r.tags_len += static_cast<std::uint32_t>(t.size() + 1);
        }
        r.title_len = static_cast<std::uint32_t>(in.title.size());
        m_text += in.title;
        r.expired_url_len = static_cast<std::uint32_t>(in.expired_url.size());
        m_text += in.expired_url;
        r.reserved = in.reserved;
        r.key = sort_prefix(in.code, r.ci);
        r.not_before = in.not_before;
        r.expires = in.expires;
        r.created_at = in.created_at;
        r.redirect_type = in.redirect_type;
        r.forward_query = static_cast<std::int8_t>(in.forward_query);
        r.status = in.status;
        if (in.rules) {
            // Rare: kept beside the rows rather than in every one.
            m_rules.push_back(*in.rules);
            r.rules = static_cast<std::uint32_t>(m_rules.size());
        }
        if (in.password_hash) {
            m_passwords.push_back(*in.password_hash);
            r.password = static_cast<std::uint32_t>(m_passwords.size());
        }
        if (m_hosts.find(domain.id) == m_hosts.end()) {
            m_hosts.emplace(domain.id, domain.host);
        }
        m_rows.push_back(r);
    }

    // Reserves room for an input of `input_bytes` (capped at the stage's bound): growing the
    // arena by doubling would copy it and fault in its pages twice. Pages never written are
    // never faulted in, so an overestimate costs only address space.
    void reserve(std::uint64_t input_bytes) {
        std::size_t bytes = static_cast<std::size_t>(std::min<std::uint64_t>(input_bytes, k_max_stage_bytes));
        m_text.reserve(bytes);
        m_rows.reserve(bytes / 32);  // a row is at least ~32 bytes of CSV or JSON
    }

    bool full() const { return m_text.size() + m_rows.size() * sizeof(Staged) >= k_max_stage_bytes; }

    // Inserts the staged rows in order and empties the stage; throws Error naming the line.
    void flush(store::Store& s, store::OnConflict on_conflict, ImportCounts& counts, const std::string& file) {
        std::sort(m_rows.begin(), m_rows.end(), [this](const Staged& a, const Staged& b) { return before(a, b); });
        // Rows go to the store k_link_batch at a time (one multi-row INSERT when none conflicts).
        std::vector<store::LinkInput> batch(store::Store::k_link_batch);
        std::vector<std::pair<std::uint64_t, std::uint32_t>> lines(store::Store::k_link_batch);
        std::vector<store::PutOutcome> outcomes;
        std::size_t n = 0;
        auto put_batch = [&] {
            if (n < batch.size()) {
                batch.resize(n);
            }
            Status st = s.put_links(batch, on_conflict, outcomes);
            for (store::PutOutcome outcome : outcomes) {
                counts.inserted += outcome == store::PutOutcome::inserted ? 1 : 0;
                counts.updated += outcome == store::PutOutcome::updated ? 1 : 0;
                counts.skipped += outcome == store::PutOutcome::skipped ? 1 : 0;
            }
            if (!st) {
                // Every row was validated and its domain resolved before: what fails here (a
                // conflict under --on-conflict fail, a database error) fails the import.
                auto [line, item] = lines[std::min(outcomes.size(), n - 1)];
                throw Error(exit_code_for(st), where(file, line, item) + st.message() + " (nothing was imported)");
            }
            n = 0;
        };
        for (std::size_t i = 0; i < m_rows.size(); ++i) {
            const Staged& r = m_rows[i];
            if (i + k_prefetch_ahead < m_rows.size()) {
                // Sorted rows read the arena in random order: ask for a later row's text now so
                // its cache misses overlap with this row's insert.
                const Staged& later = m_rows[i + k_prefetch_ahead];
                const char* p = m_text.data() + later.text;
                for (std::size_t off = 0; off < later.code_len + later.url_len; off += 64) {
                    __builtin_prefetch(p + off);
                }
            }
            store::LinkInput& in = batch[n];
            lines[n] = {r.line, r.item};
            in.host = m_hosts.at(r.domain_id);
            const char* text = m_text.data() + r.text;
            in.code.assign(text, r.code_len);
            in.destination.assign(text + r.code_len, r.url_len);
            in.tags.clear();
            std::string_view tags(text + r.code_len + r.url_len, r.tags_len);
            for (std::size_t pos = 0; pos < tags.size();) {
                std::size_t comma = tags.find(',', pos);
                in.tags.emplace_back(tags.substr(pos, comma - pos));
                pos = comma + 1;
            }
            in.title.assign(text + r.code_len + r.url_len + r.tags_len, r.title_len);
            in.expired_url.assign(text + r.code_len + r.url_len + r.tags_len + r.title_len, r.expired_url_len);
            in.reserved = r.reserved;
            in.not_before = r.not_before;
            in.expires = r.expires;
            in.created_at = r.created_at;
            in.redirect_type = r.redirect_type;
            in.forward_query = r.forward_query;
            in.status = r.status;
            if (r.rules != 0) {
                in.rules = m_rules[r.rules - 1];
            } else {
                in.rules.reset();
            }
            if (r.password != 0) {
                in.password_hash = m_passwords[r.password - 1];
            } else {
                in.password_hash.reset();
            }
            if (++n == batch.size()) {
                put_batch();
            }
        }
        if (n > 0) {
            put_batch();
        }
        m_rows.clear();
        m_text.clear();
        m_rules.clear();
        m_passwords.clear();
    }

private:
    struct Staged {
        std::int64_t domain_id = 0;
        std::uint64_t key = 0;   // the code's first 8 bytes (folded if ci), big-endian
        std::uint64_t line = 0;
        std::uint64_t text = 0;  // offset in m_text of the code, the URL, "tag,tag,", the title, the expired URL
        std::uint32_t code_len = 0;
        std::uint32_t url_len = 0;
        std::uint32_t tags_len = 0;
        std::uint32_t title_len = 0;
        std::uint32_t expired_url_len = 0;
        std::uint32_t item = 0;  // in a JSON document: the object's place in its array
        std::uint32_t rules = 0; // 0: the row gave no rules; else 1 + its index in m_rules
        std::uint32_t password = 0;  // 0: no password hash; else 1 + its index in m_passwords
        std::int64_t not_before = 0;
        std::int64_t expires = 0;
        std::int64_t created_at = 0;
        std::uint16_t redirect_type = 0;
        std::int8_t forward_query = -1;
        store::LinkState status = store::LinkState::active;
        bool ci = false;
        bool reserved = false;
    };

    static unsigned char fold(unsigned char c, bool ci) {
        return (ci && c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
    }

    // Most comparisons of random codes end on this prefix, without touching the arena.
    static std::uint64_t sort_prefix(std::string_view code, bool ci) {
        std::uint64_t key = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            key = (key << 8) | (i < code.size() ? fold(static_cast<unsigned char>(code[i]), ci) : 0u);
        }
        return key;
    }

    // The order SQLite's index has for codes (BINARY: bytes, then length), on folded bytes for a
    // case-insensitive domain; the line (and item) breaks ties so equal codes keep file order.
    bool before(const Staged& a, const Staged& b) const {
        if (a.domain_id != b.domain_id) {
            return a.domain_id < b.domain_id;
        }
        if (a.key != b.key) {
            return a.key < b.key;
        }
        const auto* x = reinterpret_cast<const unsigned char*>(m_text.data() + a.text);
        const auto* y = reinterpret_cast<const unsigned char*>(m_text.data() + b.text);
        std::size_t n = std::min(a.code_len, b.code_len);
        for (std::size_t i = 8; i < n; ++i) {
            unsigned char cx = fold(x[i], a.ci);
            unsigned char cy = fold(y[i], a.ci);
            if (cx != cy) {
                return cx < cy;
            }
        }
        if (a.code_len != b.code_len) {
            return a.code_len < b.code_len;
        }
        return a.line != b.line ? a.line < b.line : a.item < b.item;
    }

    std::vector<Staged> m_rows;
    std::string m_text;
    std::vector<std::vector<store::Rule>> m_rules;  // the rules rows gave (JSON Lines)
    std::vector<std::string> m_passwords;           // the password hashes rows gave (JSON Lines)
    std::map<std::int64_t, std::string> m_hosts;  // domain id -> host, for put_link()
};

void run_import(const ImportOptions& o, const GlobalOptions& globals) {
    const store::ImportFormat format = import_format(o);
    const std::string label = o.file == "-" ? "stdin" : o.file;
    store::ImportSettings settings;
    settings.format = format;
    settings.column_map = column_map(o.maps);
    settings.ignore_unknown_columns = o.ignore_unknown_columns;
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
    std::string default_host = domain_or_default(o.domain, globals);
    store::Store s = open_store(globals);
    // Validate the default domain before any row, so the error is about the option.
    if (!default_host.empty() && !o.create_domains) {
        const Status found = s.find_domain(default_host).status();
        if (found.code() == Status::Code::not_found) {
            throw Error(k_exit_not_found, "domain '" + default_host + "' does not exist (add it with `shortlink domain add " +
                                              default_host + "`, or import with --create-domains)");
        }
        check(found);
    }
    // SQLite's page cache grows page by page while glibc trims the heap top after frees: without
    // this, a 1M-row import spends most of its system time in brk(2) growing and shrinking it.
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
    mallopt(M_TOP_PAD, 64 * 1024 * 1024);
    check(s.begin_bulk(o.create_domains));
    ImportCounts counts;
    ImportStage stage;
    if (o.file != "-") {
        std::error_code ec;
        auto size = std::filesystem::file_size(o.file, ec);
        if (!ec) {
            stage.reserve(size);
        }
    }
    settings.default_host = default_host;
    settings.now = clock::unix_seconds();
    ImportReport report;
    settings.on_notice = [&label, &report, &o](const store::ImportNotice& n) {
        if (o.json) {
            report.notes.push_back(n);
        }
        std::fprintf(stderr, "shortlink: note: %s: line %llu: column '%s': %s\n", label.c_str(),
                     static_cast<unsigned long long>(n.line), validate::printable(n.column).c_str(), n.message.c_str());
    };
    // The domain of each host seen, resolved (or created) once, in file order.
    std::map<std::string, store::DomainRecord, std::less<>> domains;
    auto on_row = [&](const store::ImportRow& row) {
        try {
            if (!row.error) {
                const std::string column =
                    row.column.empty() ? "" : "column '" + validate::printable(row.column) + "': ";
                throw Error(k_exit_usage, column + row.error.message());
            }
            auto domain = domains.find(row.input.host);
            if (domain == domains.end()) {
                auto resolved = s.resolve_bulk_domain(row.input.host);
                if (!resolved) {
                    throw Error(exit_code_for(resolved.status()), resolved.status().message());
                }
                domain = domains.emplace(row.input.host, std::move(resolved).value()).first;
            }
            stage.add(row.input, domain->second, row.line, row.item);
        } catch (const Error& e) {
            std::string at = where(label, row.line, row.item) + e.what();
            // --skip-invalid skips rows that are invalid (bad values, unknown domain); a
            // conflict under --on-conflict fail or a database error still fails the import.
            bool row_invalid = e.exit_code() == k_exit_usage || e.exit_code() == k_exit_not_found;
            if (!o.skip_invalid || !row_invalid) {
                throw Error(e.exit_code(), at + " (nothing was imported)");
            }
            ++counts.invalid;
            if (o.json) {
                report.skipped_rows.push_back({row.line, row.item, e.what()});
            }
            std::fprintf(stderr, "shortlink: warning: skipped %s\n", at.c_str());
        }
        if (stage.full()) {
            stage.flush(s, on_conflict, counts, label);  // its errors already name their line
        }
    };
    try {
        // A malformed record ends the input: its error (which names its line) fails the import
        // even with --skip-invalid, after the rows before it, so the earliest error is reported.
        Status read = store::read_import(*in, settings, on_row);
        if (!read) {
            throw Error(exit_code_for(read), label + ": " + read.message() + " (nothing was imported)");
        }
        stage.flush(s, on_conflict, counts, label);
    } catch (...) {
        (void)s.end_bulk(false);  // rolls back; the error being thrown is the one to report
        throw;
    }
    std::uint64_t domains_created = s.bulk_domains_created();
    check(s.end_bulk(!o.dry_run));
    if (o.json) {
        print_json(o, label, format, counts, domains_created, report);
        return;
    }
    std::printf("%s %llu link(s), updated %llu, skipped %llu existing, %llu invalid",
                o.dry_run ? "dry run: would import" : "imported", static_cast<unsigned long long>(counts.inserted),
                static_cast<unsigned long long>(counts.updated), static_cast<unsigned long long>(counts.skipped),
                static_cast<unsigned long long>(counts.invalid));
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
    sub->add_option("FILE", o->file, "CSV or JSON Lines file, another shortener's export, or - for stdin")->required();
    sub->add_option("--from", o->from, "What FILE is: csv, jsonl, bitly, yourls, shlink, kutt or cloudflare")
        ->check(CLI::IsMember({"csv", "jsonl", "json", "bitly", "yourls", "shlink", "kutt", "cloudflare"}));
    sub->add_option("--format", o->format, "csv or json (default: from the file name, else csv)")
        ->check(CLI::IsMember({"csv", "json"}));
    sub->add_option("--map", o->maps,
                    "COLUMN=FIELD: read a column (any case) as a link field, or - to drop it (repeatable)")
        ->allow_extra_args(false);
    sub->add_flag("--ignore-unknown-columns", o->ignore_unknown_columns,
                  "Drop unknown columns or keys (one note each) instead of failing");
    sub->add_option("--domain", o->domain, "Domain of rows without a domain column");
    sub->add_flag("--dry-run", o->dry_run, "Validate and report, change nothing");
    sub->add_flag("--skip-invalid", o->skip_invalid, "Skip invalid rows (reported on stderr) instead of failing");
    sub->add_flag("--create-domains", o->create_domains,
                  "Create domains that do not exist, with default settings (audited as domain-add)");
    sub->add_option("--on-conflict", o->on_conflict, "When a code exists: fail (default), skip or update")
        ->check(CLI::IsMember({"fail", "skip", "update"}));
    sub->add_flag("--json", o->json, "Print the result as one JSON object: counts, notes and skipped rows");
    sub->callback([o, &globals] { run_import(*o, globals); });
}

}  // namespace shortlink::cli
