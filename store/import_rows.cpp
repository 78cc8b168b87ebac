// Reading and validating the rows of an import file. See import_rows.h.
#include "store/import_rows.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <future>
#include <map>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>

#include "store/csv.h"
#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::store {
namespace {

enum Column { c_domain, c_code, c_url, c_type, c_expires, c_not_before, c_tags, c_status, c_forward, c_count };

using Row = std::array<std::string, c_count>;

const std::map<std::string, Column, std::less<>>& column_names() {
    static const std::map<std::string, Column, std::less<>> k_names = {
        {"domain", c_domain},   {"code", c_code},         {"url", c_url},   {"type", c_type},
        {"expires", c_expires}, {"not_before", c_not_before}, {"tags", c_tags}, {"status", c_status},
        {"forward_query", c_forward}};
    return k_names;
}

// Read-only keys of `export --format json` that import ignores.
bool is_output_only_key(std::string_view key) {
    return key == "version" || key == "created_at" || key == "updated_at" || key == "short_url";
}

Status line_error(std::uint64_t line, const std::string& why) {
    return Status::invalid_argument("line " + std::to_string(line) + ": " + why);
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

// Validates one row into `in`; the failure says what is wrong, without the line.
Status validate_row(const Row& row, const ImportSettings& settings, LinkInput& in) {
    in = LinkInput{};
    const std::string& domain = row[c_domain];
    if (domain.empty()) {
        in.host = settings.default_host;
    } else if (domain != k_default_host) {
        auto host = validate::normalize_host(domain);
        if (!host) {
            return host.status();
        }
        in.host = std::move(host).value();
    }
    if (row[c_code].empty()) {
        return Status::invalid_argument("code is empty");
    }
    if (Status st = validate::check_code(row[c_code]); !st) {
        return st;
    }
    in.code = row[c_code];
    auto destination = validate::normalize_destination(row[c_url]);
    if (!destination) {
        return destination.status();
    }
    in.destination = std::move(destination).value();
    if (!row[c_type].empty()) {
        auto type = validate::parse_redirect_type(row[c_type]);
        if (!type) {
            return type.status();
        }
        in.redirect_type = *type;
    }
    for (auto [column, field] : {std::pair{c_expires, &in.expires}, std::pair{c_not_before, &in.not_before}}) {
        if (!row[column].empty()) {
            auto when = timefmt::parse_time(row[column], settings.now);
            if (!when) {
                return when.status();
            }
            *field = *when;
        }
    }
    in.tags = split_tags(row[c_tags]);
    for (const std::string& t : in.tags) {
        if (Status st = validate::check_tag(t); !st) {
            return st;
        }
    }
    if (!row[c_status].empty()) {
        auto state = parse_link_state(row[c_status]);
        if (!state) {
            return Status::invalid_argument("status '" + validate::printable(row[c_status]) +
                                            "' is not active, disabled or deleted");
        }
        in.status = *state;
    }
    const std::string& fq = row[c_forward];
    if (fq == "true" || fq == "1") {
        in.forward_query = 1;
    } else if (fq == "false" || fq == "0") {
        in.forward_query = 0;
    } else if (!fq.empty()) {
        return Status::invalid_argument("forward_query '" + validate::printable(fq) +
                                        "' is not true, false or empty");
    }
    return Status::ok();
}

// The lines of a stream, each at most k_max_import_line_bytes long (a longer one is refused
// before it is buffered whole). Reads in chunks; a line view is valid until the next call.
class LineReader {
public:
    explicit LineReader(std::istream& in) : m_in(*in.rdbuf()) {}

    enum class Next { line, end, too_long };

    Next next(std::string_view& line) {
        std::size_t scanned = 0;  // bytes after m_pos known to hold no '\n'
        while (true) {
            const char* start = m_buf.data() + m_pos;
            const std::size_t available = m_buf.size() - m_pos;
            if (const void* nl = std::memchr(start + scanned, '\n', available - scanned)) {
                const auto length = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
                if (length > k_max_import_line_bytes) {
                    return Next::too_long;
                }
                line = std::string_view(start, length);
                m_pos += length + 1;
                return Next::line;
            }
            if (available > k_max_import_line_bytes) {
                return Next::too_long;
            }
            scanned = available;
            if (!fill()) {
                if (available == 0) {
                    return Next::end;
                }
                line = std::string_view(m_buf.data() + m_pos, available);  // the last line, without '\n'
                m_pos += available;
                return Next::line;
            }
        }
    }

private:
    static constexpr std::size_t k_chunk = 64 * 1024;

    // Drops the lines already returned and appends the next chunk; false at the end of input.
    bool fill() {
        m_buf.erase(0, m_pos);
        m_pos = 0;
        const std::size_t old = m_buf.size();
        m_buf.resize(old + k_chunk);
        const std::streamsize n = m_in.sgetn(m_buf.data() + old, static_cast<std::streamsize>(k_chunk));
        m_buf.resize(old + static_cast<std::size_t>(std::max<std::streamsize>(n, 0)));
        return n > 0;
    }

    std::streambuf& m_in;
    std::string m_buf;
    std::size_t m_pos = 0;
};

// Produces raw rows one at a time from CSV or JSON Lines.
class RowReader {
public:
    RowReader(std::istream& in, ImportFormat format) : m_json(format == ImportFormat::json_lines), m_csv(in), m_lines(in) {}

    // True with a row, false at the end of the input, or the error ("line N: ...") that ends it.
    Result<bool> next(Row& row) { return m_json ? next_json(row) : next_csv(row); }
    std::uint64_t line() const { return m_json ? m_line : m_csv.record_line(); }

private:
    Result<bool> next_csv(Row& row) {
        std::vector<std::string>& fields = m_fields;
        while (true) {
            auto more = m_csv.next(fields);
            if (!more) {
                return more.status();
            }
            if (!*more) {
                if (m_columns.empty()) {
                    return Status::invalid_argument("empty input: a CSV header row with code,url is required");
                }
                return false;
            }
            if (fields.size() == 1 && fields[0].empty()) {
                continue;  // blank line
            }
            if (m_columns.empty()) {
                if (Status st = read_header(fields); !st) {
                    return st;
                }
                continue;
            }
            if (fields.size() != m_columns.size()) {
                return line_error(m_csv.record_line(), std::to_string(fields.size()) + " fields, the header has " +
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

    Status read_header(const std::vector<std::string>& fields) {
        bool seen[c_count] = {};
        for (const std::string& name : fields) {
            auto it = column_names().find(name);
            if (it == column_names().end()) {
                return line_error(m_csv.record_line(),
                                  "unknown column '" + validate::printable(name) +
                                      "' (known: domain, code, url, type, expires, not_before, tags, status, "
                                      "forward_query)");
            }
            if (seen[it->second]) {
                return line_error(m_csv.record_line(), "column '" + name + "' appears twice");
            }
            seen[it->second] = true;
            m_columns.push_back(it->second);
        }
        if (!seen[c_code] || !seen[c_url]) {
            return line_error(m_csv.record_line(), "the header must name the columns code and url");
        }
        return Status::ok();
    }

    Result<bool> next_json(Row& row) {
        std::string_view text;
        while (true) {
            const LineReader::Next got = m_lines.next(text);
            if (got == LineReader::Next::end) {
                return false;
            }
            ++m_line;
            if (got == LineReader::Next::too_long) {
                return line_error(m_line, "longer than " + std::to_string(k_max_import_line_bytes) + " bytes");
            }
            if (!text.empty() && text.back() == '\r') {
                text.remove_suffix(1);
            }
            if (text.find_first_not_of(" \t") != std::string_view::npos) {
                break;
            }
        }
        for (std::string& f : row) {
            f.clear();
        }
        if (Status st = parse_json(text, row); !st) {
            return st;
        }
        return true;
    }

    Status parse_json(std::string_view text, Row& row) const {
        // Iterative: a line of a million '[' must not recurse a million frames deep.
        constexpr unsigned k_flags = rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseIterativeFlag;
        rapidjson::Document doc;
        rapidjson::MemoryStream stream(text.data(), text.size());
        doc.ParseStream<k_flags, rapidjson::UTF8<>>(stream);
        if (doc.HasParseError()) {
            return line_error(m_line, std::string("invalid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()));
        }
        if (text.find_first_not_of(" \t", stream.Tell()) != std::string_view::npos) {
            return line_error(m_line, std::string("invalid JSON: ") +
                                          rapidjson::GetParseError_En(rapidjson::kParseErrorDocumentRootNotSingular));
        }
        if (!doc.IsObject()) {
            return line_error(m_line, "expected a JSON object");
        }
        bool seen[c_count] = {};
        for (const auto& member : doc.GetObject()) {
            std::string_view key(member.name.GetString(), member.name.GetStringLength());
            if (is_output_only_key(key)) {
                continue;
            }
            auto it = column_names().find(key);
            if (it == column_names().end()) {
                return line_error(m_line, "unknown key '" + validate::printable(key) + "'");
            }
            if (seen[it->second]) {
                return line_error(m_line, "key '" + std::string(key) + "' appears twice");
            }
            seen[it->second] = true;
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
                out.clear();
                for (const auto& t : v.GetArray()) {
                    if (!t.IsString()) {
                        return line_error(m_line, "tags must be strings");
                    }
                    out.append(t.GetString(), t.GetStringLength());
                    out += ';';
                }
            } else {
                return line_error(m_line, "key '" + std::string(key) + "' has the wrong type");
            }
        }
        return Status::ok();
    }

    bool m_json;
    csv::Reader m_csv;
    LineReader m_lines;
    std::vector<std::string> m_fields;  // the CSV reader's record, reused
    std::vector<Column> m_columns;
    std::uint64_t m_line = 0;
};

void validate_rows(const std::vector<Row>& rows, std::vector<ImportRow>& out, std::size_t begin, std::size_t end,
                   const ImportSettings& settings) {
    for (std::size_t i = begin; i < end; ++i) {
        out[i].error = validate_row(rows[i], settings, out[i].input);
    }
}

// Validates rows [0, n) into `out`, the second half on a helper thread when `settings` allow.
void validate_batch(const std::vector<Row>& rows, std::vector<ImportRow>& out, std::size_t n,
                    const ImportSettings& settings) {
    if (!settings.parallel || n < 64) {
        validate_rows(rows, out, 0, n, settings);
        return;
    }
    const std::size_t half = n / 2;
    auto helper = std::async(std::launch::async, [&] { validate_rows(rows, out, half, n, settings); });
    validate_rows(rows, out, 0, half, settings);
    helper.get();
}

}  // namespace

Status read_import(std::istream& in, const ImportSettings& settings,
                   const std::function<void(const ImportRow&)>& on_row) {
    RowReader reader(in, settings.format);
    // Grown as rows arrive (a small import allocates for its rows only), then reused by every
    // batch: a row's strings keep their buffers from one batch to the next.
    std::vector<Row> raw;
    std::vector<ImportRow> rows;
    while (true) {
        // A record that cannot be read ends the input here, but the rows before it are still
        // delivered first, so the first error in the file is the first one a caller sees.
        std::size_t n = 0;
        Status read_error;
        bool at_end = false;
        while (n < k_import_batch_rows) {
            if (n == raw.size()) {
                raw.emplace_back();
                rows.emplace_back();
            }
            auto more = reader.next(raw[n]);
            if (!more || !*more) {
                read_error = more.status();
                at_end = true;
                break;
            }
            rows[n].line = reader.line();
            ++n;
        }
        validate_batch(raw, rows, n, settings);
        for (std::size_t i = 0; i < n; ++i) {
            on_row(rows[i]);
        }
        if (at_end) {
            return read_error;
        }
    }
}

}  // namespace shortlink::store
