// The import fuzz targets: CSV and JSON Lines through store::read_import(), CSV records
// through a write-and-read-back round trip, and other shorteners' exports (import --from).
#include <sstream>
#include <string>
#include <vector>

#include "store/csv.h"
#include "store/import_rows.h"
#include "store/validate.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

constexpr std::int64_t k_now = 1'800'000'000;

// What every row promises: lines in file order, and a valid row holds what validation accepts
// (a store write would take it as it is).
int read_rows(std::string_view text, store::ImportFormat format) {
    std::istringstream in{std::string(text)};
    store::ImportSettings settings;
    settings.format = format;
    settings.default_host = "go.example";
    settings.now = k_now;
    settings.parallel = false;  // one thread: reproducible, and the helper thread adds nothing to find
    std::pair<std::uint64_t, std::uint32_t> last{0, 0};
    std::size_t rows = 0;
    std::size_t valid = 0;
    const Status end = store::read_import(in, settings, [&](const store::ImportRow& row) {
        // Objects of a JSON document may share a line: their places in it break the tie.
        if (std::pair{row.line, row.item} <= last) {
            fail("rows out of line order", std::to_string(row.line) + "/" + std::to_string(row.item));
        }
        last = {row.line, row.item};
        ++rows;
        if (!row.error.is_ok()) {
            if (row.error.message().empty()) {
                fail("a row error without a message", "");
            }
            return;
        }
        ++valid;
        const store::LinkInput& link = row.input;
        if (!validate::check_code(link.code)) {
            fail("a row with an invalid code", link.code);
        }
        auto again = validate::normalize_destination(link.destination);
        if (!again || *again != link.destination) {
            fail("a row destination that is not normalized", link.destination);
        }
        if (!link.host.empty()) {
            auto host = validate::normalize_host(link.host);
            if (!host || *host != link.host) {
                fail("a row host that is not normalized", link.host);
            }
        }
        for (const std::string& tag : link.tags) {
            if (!validate::check_tag(tag)) {
                fail("a row with an invalid tag", tag);
            }
        }
        auto title = validate::normalize_title(link.title);
        if (!title || *title != link.title) {
            fail("a row title that is not normalized", link.title);
        }
    });
    if (!end.is_ok() && end.message().rfind("line ", 0) != 0 && end.message().rfind("empty input", 0) != 0) {
        fail("an input error that names no line", end.message());
    }
    return end.is_ok() && rows > 0 && valid == rows ? 1 : 0;
}

std::vector<std::vector<std::string>> read_records(std::string_view text, bool& ok) {
    std::istringstream in{std::string(text)};
    csv::Reader reader(in);
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> fields;
    while (true) {
        auto more = reader.next(fields);
        if (!more) {
            ok = false;
            return records;
        }
        if (!*more) {
            ok = true;
            return records;
        }
        records.push_back(fields);
    }
}

// Records the reader accepts, written by the writer, read back as the same records.
void round_trip(std::string_view text) {
    bool ok = false;
    const auto records = read_records(text, ok);
    std::string written;
    for (const auto& record : records) {
        csv::append_record(written, record);
    }
    bool again_ok = false;
    const auto again = read_records(written, again_ok);
    if (!again_ok || again != records) {
        fail("CSV records changed in a write and read back", written);
    }
}

}  // namespace

int fuzz_import_csv_one(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    round_trip(text);
    return read_rows(text, store::ImportFormat::csv);
}

int fuzz_import_json_one(const std::uint8_t* data, std::size_t size) {
    return read_rows(std::string_view(reinterpret_cast<const char*>(data), size), store::ImportFormat::json_lines);
}

int fuzz_import_foreign_one(const std::uint8_t* data, std::size_t size) {
    static constexpr store::ImportFormat k_sources[] = {store::ImportFormat::bitly, store::ImportFormat::yourls,
                                                        store::ImportFormat::shlink, store::ImportFormat::kutt,
                                                        store::ImportFormat::cloudflare};
    if (size == 0) {
        return 0;
    }
    return read_rows(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), k_sources[data[0] % 5]);
}

}  // namespace shortlink::fuzz
