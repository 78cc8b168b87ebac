// shortlink import FILE|-: links from CSV (RFC 4180, header row) or JSON Lines, in one
// transaction. A bad row fails the whole import with its line number unless --skip-invalid;
// --dry-run runs everything and rolls back.
//
// Rows are validated and their domains resolved in file order, then held in an ImportStage and
// inserted ordered by (domain id, code): SQLite's (domain_id, code) unique index then grows by
// appends on a fresh domain instead of 1M random B-tree inserts, which was 2 s of CPU of a
// 1M-link import (bench/store/README.md).
#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <future>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "formats/clock.h"
#include "store/csv.h"
#include "cli/errors.h"
#include "store/timefmt.h"
#include "store/validate.h"

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

struct ImportCounts {
    std::uint64_t inserted = 0;
    std::uint64_t updated = 0;
    std::uint64_t skipped = 0;
    std::uint64_t invalid = 0;
};

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

    void add(const store::LinkInput& in, const store::DomainRecord& domain, std::uint64_t line) {
        Staged r;
        r.domain_id = domain.id;
        r.ci = domain.case_insensitive;
        r.line = line;
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
        r.key = sort_prefix(in.code, r.ci);
        r.not_before = in.not_before;
        r.expires = in.expires;
        r.redirect_type = in.redirect_type;
        r.forward_query = static_cast<std::int8_t>(in.forward_query);
        r.status = in.status;
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
    void flush(store::Store& s, store::OnConflict on_conflict, ImportCounts& counts) {
        std::sort(m_rows.begin(), m_rows.end(), [this](const Staged& a, const Staged& b) { return before(a, b); });
        // Rows go to the store k_link_batch at a time (one multi-row INSERT when none conflicts).
        std::vector<store::LinkInput> batch(store::Store::k_link_batch);
        std::vector<std::uint64_t> lines(store::Store::k_link_batch);
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
                std::uint64_t line = lines[std::min(outcomes.size(), n - 1)];
                throw Error(exit_code_for(st), "line " + std::to_string(line) + ": " + st.message() +
                                                   " (nothing was imported)");
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
            lines[n] = r.line;
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
            in.not_before = r.not_before;
            in.expires = r.expires;
            in.redirect_type = r.redirect_type;
            in.forward_query = r.forward_query;
            in.status = r.status;
            if (++n == batch.size()) {
                put_batch();
            }
        }
        if (n > 0) {
            put_batch();
        }
        m_rows.clear();
        m_text.clear();
    }

private:
    struct Staged {
        std::int64_t domain_id = 0;
        std::uint64_t key = 0;   // the code's first 8 bytes (folded if ci), big-endian
        std::uint64_t line = 0;
        std::uint64_t text = 0;  // offset in m_text of the code, then the URL, then "tag,tag,"
        std::uint32_t code_len = 0;
        std::uint32_t url_len = 0;
        std::uint32_t tags_len = 0;
        std::int64_t not_before = 0;
        std::int64_t expires = 0;
        std::uint16_t redirect_type = 0;
        std::int8_t forward_query = -1;
        store::LinkState status = store::LinkState::active;
        bool ci = false;
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
    // case-insensitive domain; the line breaks ties so equal codes keep file order.
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
        return a.line < b.line;
    }

    std::vector<Staged> m_rows;
    std::string m_text;
    std::map<std::int64_t, std::string> m_hosts;  // domain id -> host, for put_link()
};

// One row after validation: the input, or why it is invalid (exit_code != 0).
struct Checked {
    store::LinkInput input;
    std::uint64_t line = 0;
    int exit_code = 0;
    std::string error;
};

// Rows validated per batch. Small enough to keep the batch in cache, large enough that starting
// the helper thread (about 20 us) is lost in the work (about 5 ms).
constexpr std::size_t k_batch_rows = 4096;

void check_rows(const std::vector<Row>& rows, std::vector<Checked>& out, std::size_t begin, std::size_t end,
                const std::string& default_host, std::int64_t now) {
    for (std::size_t i = begin; i < end; ++i) {
        Checked& c = out[i];
        c.exit_code = 0;
        try {
            c.input = row_to_input(rows[i], default_host, now);
        } catch (const Error& e) {
            c.exit_code = e.exit_code();
            c.error = e.what();
        }
    }
}

// Validates rows [0, n) into `out`, half of them on a helper thread: validation (URL parsing and
// normalization with Boost.URL) is the largest share of an import that is not SQLite's, it only
// reads its row, and the machine has a second core. Results keep the row order.
void check_batch(const std::vector<Row>& rows, std::vector<Checked>& out, std::size_t n,
                 const std::string& default_host, std::int64_t now) {
    if (n < 64) {
        check_rows(rows, out, 0, n, default_host, now);
        return;
    }
    std::size_t half = n / 2;
    auto helper = std::async(std::launch::async, [&] { check_rows(rows, out, half, n, default_host, now); });
    try {
        check_rows(rows, out, 0, half, default_host, now);
    } catch (...) {
        helper.wait();  // it reads `rows` and writes `out`: never let it outlive them
        throw;
    }
    helper.get();  // rethrows what the helper threw that was not an Error (bad_alloc)
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
        std::vector<std::string>& fields = m_fields;
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
            // Swapped, not moved: the row's old buffers go back to the reader for the next record.
            for (std::string& f : row) {
                f.clear();
            }
            for (std::size_t i = 0; i < fields.size(); ++i) {
                row[m_columns[i]].swap(fields[i]);
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
    std::vector<std::string> m_fields;  // the reader's record, reused
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
    ImportCounts counts;
    ImportStage stage;
    if (o.file != "-") {
        std::error_code ec;
        auto size = std::filesystem::file_size(o.file, ec);
        if (!ec) {
            stage.reserve(size);
        }
    }
    std::int64_t now = clock::unix_seconds();
    // The domain of each host seen, resolved (or created) once, in file order.
    std::map<std::string, store::DomainRecord, std::less<>> domains;
    std::vector<Row> batch(k_batch_rows);
    std::vector<Checked> checked(k_batch_rows);
    try {
        bool at_end = false;
        while (!at_end) {
            // Read a batch. A malformed record ends the input here, but the rows before it are
            // still checked first, so the error reported is the earliest one in the file.
            std::size_t n = 0;
            std::exception_ptr read_error;
            try {
                while (n < k_batch_rows && rows.next(batch[n])) {
                    checked[n].line = rows.line();
                    ++n;
                }
            } catch (const Error&) {
                read_error = std::current_exception();
            }
            at_end = n < k_batch_rows;
            check_batch(batch, checked, n, default_host, now);
            for (std::size_t i = 0; i < n; ++i) {
                Checked& c = checked[i];
                try {
                    if (c.exit_code != 0) {
                        throw Error(c.exit_code, c.error);
                    }
                    auto domain = domains.find(c.input.host);
                    if (domain == domains.end()) {
                        auto resolved = s.resolve_bulk_domain(c.input.host);
                        if (!resolved) {
                            throw Error(exit_code_for(resolved.status()), resolved.status().message());
                        }
                        domain = domains.emplace(c.input.host, std::move(resolved).value()).first;
                    }
                    stage.add(c.input, domain->second, c.line);
                } catch (const Error& e) {
                    std::string where = "line " + std::to_string(c.line) + ": " + e.what();
                    // --skip-invalid skips rows that are invalid (bad values, unknown domain); a
                    // conflict under --on-conflict fail or a database error still fails the import.
                    bool row_invalid = e.exit_code() == k_exit_usage || e.exit_code() == k_exit_not_found;
                    if (!o.skip_invalid || !row_invalid) {
                        throw Error(e.exit_code(), where + " (nothing was imported)");
                    }
                    ++counts.invalid;
                    std::fprintf(stderr, "shortlink: warning: skipped %s\n", where.c_str());
                }
                if (stage.full()) {
                    stage.flush(s, on_conflict, counts);  // its errors already name their line
                }
            }
            if (read_error) {
                std::rethrow_exception(read_error);
            }
        }
        stage.flush(s, on_conflict, counts);
    } catch (...) {
        (void)s.end_bulk(false);  // rolls back; the error being thrown is the one to report
        throw;
    }
    std::uint64_t domains_created = s.bulk_domains_created();
    check(s.end_bulk(!o.dry_run));
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
