// The rows of an import file, read and validated: CSV (RFC 4180 with a header row naming the
// columns) or JSON Lines (one object per line, the keys `export --format json` writes), turned
// into the LinkInputs the store's bulk writes take (`shortlink import`, man/shortlink-import.1).
//
// Two kinds of failure, as the command reports them. A row whose values are invalid (a bad URL,
// code, host, time, tag, status, type) gets its own Status and the rows after it are still read,
// so an importer may skip it. A record that cannot be read as a row at all (malformed CSV, the
// wrong number of fields, invalid JSON, an unknown column or key, a line over the limit) ends
// the input: every row before it is delivered first, then read_import() returns the error.
// Both name the line: the row's error through ImportRow::line, the input's in its message.
//
// Thread-safety: read_import() validates each batch of rows on the calling thread and one
// helper thread, and calls `on_row` on the calling thread only. Never throws; an exception
// thrown by `on_row` propagates to the caller with no thread left running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>

#include "formats/status.h"
#include "store/store.h"

namespace shortlink::store {

enum class ImportFormat : std::uint8_t { csv, json_lines };

// A JSON Lines line longer than this is refused, as a CSV record is (csv::k_max_record_bytes).
inline constexpr std::size_t k_max_import_line_bytes = 1 << 20;

// Rows validated per batch. Small enough to keep the batch in cache, large enough that starting
// the helper thread (about 20 us) is lost in the work (about 5 ms).
inline constexpr std::size_t k_import_batch_rows = 4096;

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
};

// One row of the input, in file order.
struct ImportRow {
    std::uint64_t line = 0;  // where the row starts, 1-based
    LinkInput input;         // the validated link when `error` is ok
    Status error;            // invalid_argument saying what is wrong (without the line number)
};

// Reads `in` to its end or to its first unreadable record and calls `on_row` for every row in
// file order. Returns ok at the end of the input, or invalid_argument "line N: why" for what
// ended it early (an input with no CSV header row at all is refused the same way).
Status read_import(std::istream& in, const ImportSettings& settings,
                   const std::function<void(const ImportRow&)>& on_row);

}  // namespace shortlink::store
