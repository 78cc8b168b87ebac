// The rows of an import file, read and validated, turned into the LinkInputs the store's bulk
// writes take (`shortlink import`, man/shortlink-import.1). Besides shortlink's own CSV (RFC 4180
// with a header row naming the columns) and JSON Lines (one object per line, the keys
// `export --format json` writes), it reads the exports of other shorteners (`--from`): each
// source's own column or key names, time forms and short URLs (import_sources.h has the tables).
// A column can also be mapped to a link field by name (ImportSettings::column_map).
//
// Two kinds of failure, as the command reports them. A row whose values are invalid (a bad URL,
// code, host, time, tag, status, type, or something a link cannot express) gets its own Status
// and the rows after it are still read, so an importer may skip it. A record that cannot be read
// as a row at all (malformed CSV, the wrong number of fields, invalid JSON, an unknown column or
// key, a line over the limit) ends the input: every row before it is delivered first, then
// read_import() returns the error. Both name the line: the row's error through ImportRow::line,
// the input's in its message.
//
// Thread-safety: read_import() validates each batch of rows on the calling thread and one
// helper thread, and calls `on_row` and `on_notice` on the calling thread only. Never throws;
// an exception thrown by a callback propagates to the caller with no thread left running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/status.h"
#include "store/store.h"

namespace shortlink::store {

// Where the file comes from: shortlink's own CSV or JSON Lines, or another shortener's export
// (CSV or JSON, told apart by the first byte: `{` or `[` is JSON).
enum class ImportFormat : std::uint8_t { csv, json_lines, bitly, yourls, shlink, kutt, cloudflare };

// "csv", "jsonl" (or "json"), "bitly", "yourls", "shlink", "kutt", "cloudflare".
Result<ImportFormat> parse_import_format(std::string_view name);
std::string_view import_format_name(ImportFormat format);

// What a column can feed. The first nine and title are the columns of shortlink's own CSV;
// short_url is a whole short URL ("https://go.example/abc", or without the scheme) giving the
// domain and the code of a row that has no domain or code column; created_at keeps the link's
// creation time. ignore drops a column without a word. The rest are other shorteners' settings a link either
// follows or cannot express (their rows are refused, see import_sources.cpp).
enum class ImportField : std::uint8_t {
    domain,
    code,
    url,
    type,
    expires,
    not_before,
    tags,
    status,
    forward_query,
    short_url,
    created_at,
    title,
    ignore,
    include_subdomains,
    subpath_matching,
    preserve_path_suffix,
    password,
    banned,
    rules,  // a link's rules as JSON (store/rules.h): JSON Lines only
    expired_url,    // where the link goes once it has ended: JSON Lines only
    reserved,       // true: no start time yet: JSON Lines only
    password_hash,  // a link's password hash as export writes it (formats/password.h): JSON Lines only
};
inline constexpr std::size_t k_import_field_count = static_cast<std::size_t>(ImportField::password_hash) + 1;

// The fields `--map COLUMN=FIELD` may name: domain ... title, and "-" for ignore.
Result<ImportField> parse_import_field(std::string_view name);
std::string_view import_field_name(ImportField field);

// A JSON Lines line longer than this is refused, as a CSV record is (csv::k_max_record_bytes).
inline constexpr std::size_t k_max_import_line_bytes = 1 << 20;

// Another shortener's export is read whole before its rows (a JSON document is parsed at once):
// larger than this, it is refused. 256 MiB holds well over a million links in any of them.
inline constexpr std::size_t k_max_source_file_bytes = std::size_t{256} << 20;

// Rows validated per batch. Small enough to keep the batch in cache, large enough that starting
// the helper thread (about 20 us) is lost in the work (about 5 ms).
inline constexpr std::size_t k_import_batch_rows = 4096;

// Something the import leaves out, said once per column: a column with no place in a link (a
// visit count, a description) the first time it holds a value, an unknown column under
// ignore_unknown_columns, a tag rewritten to the characters tags allow.
struct ImportNotice {
    std::uint64_t line = 0;  // the first line it concerns (1-based)
    std::string column;      // as the file names it
    std::string message;     // what was left out, and why
};

struct ImportSettings {
    ImportFormat format = ImportFormat::csv;
    // The domain of rows that name none (normalized: validate::normalize_host()); empty: the
    // default domain. A row's domain "*" is the default domain whatever this is.
    std::string default_host;
    // Relative times ("7d") count from this Unix time.
    std::int64_t now = 0;
    // Batches of at least 64 rows are validated half on a helper thread: URL normalization is
    // most of an import's CPU that is not SQLite's, and it only reads its row.
    bool parallel = true;
    // Column (or JSON key) names, matched regardless of case, to the field they feed; they take
    // precedence over the format's own names.
    std::vector<std::pair<std::string, ImportField>> column_map;
    // An unknown column or key is dropped (one notice each) instead of ending the input.
    bool ignore_unknown_columns = false;
    // Told of what is left out; may be empty.
    std::function<void(const ImportNotice&)> on_notice;
};

// One row of the input, in file order.
struct ImportRow {
    std::uint64_t line = 0;  // where the row starts, 1-based
    std::uint32_t item = 0;  // in a JSON document (an array of objects): the object's 1-based place; else 0
    LinkInput input;         // the validated link when `error` is ok
    Status error;            // invalid_argument saying what is wrong (without the line number)
    std::string column;      // the column `error` is about, as the file names it; empty if none
};

// Reads `in` to its end or to its first unreadable record and calls `on_row` for every row in
// file order. Returns ok at the end of the input, or invalid_argument "line N: why" for what
// ended it early (an input with no CSV header row at all is refused the same way). A UTF-8 byte
// order mark at the start is skipped.
Status read_import(std::istream& in, const ImportSettings& settings,
                   const std::function<void(const ImportRow&)>& on_row);

}  // namespace shortlink::store
