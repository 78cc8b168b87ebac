// Reading and validating import rows: every column, both formats, row errors that let the rest
// through, input errors that end it with their line, and hostile input.
#include <catch2/catch.hpp>

#include <sstream>
#include <stdexcept>

#include "store/import_rows.h"

using namespace shortlink;
using store::ImportFormat;

namespace {

constexpr std::int64_t k_now = 1'700'000'000;

struct Outcome {
    std::vector<store::ImportRow> rows;
    Status end;
};

Outcome read_all(const std::string& text, ImportFormat format = ImportFormat::csv,
                 const std::string& default_host = "", bool parallel = true) {
    std::istringstream in(text);
    store::ImportSettings settings;
    settings.format = format;
    settings.default_host = default_host;
    settings.now = k_now;
    settings.parallel = parallel;
    Outcome out;
    out.end = store::read_import(in, settings, [&](const store::ImportRow& row) { out.rows.push_back(row); });
    return out;
}

Outcome read_json(const std::string& text) { return read_all(text, ImportFormat::json_lines); }

}  // namespace

TEST_CASE("CsvRowWithEveryColumn", "[import]") {
    const Outcome o = read_all(
        "domain,code,url,type,expires,not_before,tags,status,forward_query\r\n"
        "Go.Example,docs/a,HTTPS://Example.com/a,301,2030-01-01T00:00:00Z,1h,x;y z,disabled,false\r\n");
    REQUIRE(o.end.is_ok());
    REQUIRE(o.rows.size() == 1);
    const store::ImportRow& r = o.rows[0];
    CHECK(r.line == 2);
    REQUIRE(r.error.is_ok());
    CHECK(r.input.host == "go.example");
    CHECK(r.input.code == "docs/a");
    CHECK(r.input.destination == "https://example.com/a");
    CHECK(r.input.redirect_type == 301);
    CHECK(r.input.expires == 1'893'456'000);
    CHECK(r.input.not_before == k_now + 3600);
    CHECK(r.input.tags == std::vector<std::string>{"x", "y", "z"});
    CHECK(r.input.status == store::LinkState::disabled);
    CHECK(r.input.forward_query == 0);
}

TEST_CASE("CsvDomainDefaults", "[import]") {
    const Outcome o = read_all("code,url,domain\na,https://e.com/,\nb,https://e.com/,*\nc,https://e.com/,b.example\n",
                               ImportFormat::csv, "go.example");
    REQUIRE(o.end.is_ok());
    REQUIRE(o.rows.size() == 3);
    CHECK(o.rows[0].input.host == "go.example");  // no domain: the --domain option's
    CHECK(o.rows[1].input.host.empty());          // "*": the default domain
    CHECK(o.rows[2].input.host == "b.example");
    CHECK(o.rows[0].input.forward_query == -1);
    CHECK(o.rows[0].input.redirect_type == 0);
    CHECK(o.rows[0].input.status == store::LinkState::active);
}

TEST_CASE("CsvInvalidRowDoesNotEndTheInput", "[import]") {
    const Outcome o = read_all("code,url\nok1,https://e.com/1\nhealthz,https://e.com/2\n\nok3,ftp://x/\nok4,https://x.example/\n");
    REQUIRE(o.end.is_ok());
    REQUIRE(o.rows.size() == 4);
    CHECK(o.rows[0].error.is_ok());
    CHECK(o.rows[1].line == 3);
    CHECK(o.rows[1].error.code() == Status::Code::invalid_argument);
    CHECK(o.rows[1].error.message() == "code 'healthz' is reserved");
    CHECK(o.rows[2].line == 5);  // the blank line 4 is skipped, not renumbered
    CHECK(o.rows[2].error.message() == "scheme 'ftp' is not allowed; only http and https");
    CHECK(o.rows[3].line == 6);
    CHECK(o.rows[3].error.is_ok());
}

TEST_CASE("CsvRowErrorsNameTheirValue", "[import]") {
    const auto error_of = [](const std::string& row) {
        const Outcome o = read_all("code,url,type,expires,tags,status,forward_query\n" + row + "\n");
        REQUIRE(o.end.is_ok());
        REQUIRE(o.rows.size() == 1);
        CHECK(o.rows[0].error.code() == Status::Code::invalid_argument);
        return o.rows[0].error.message();
    };
    CHECK(error_of(",https://e.com/,,,,,") == "code is empty");
    CHECK(error_of("a,https://e.com/,303,,,,") == "redirect type '303' is not one of 301, 302, 307, 308");
    CHECK(error_of("a,https://e.com/,,yesterday,,,") ==
          "time 'yesterday' is not a valid time (expected RFC 3339 like 2026-12-31T23:59:59Z, or 30m, 12h, 7d)");
    CHECK(error_of("a,https://e.com/,,,bad!tag,,") ==
          "tag 'bad!tag' may only contain A-Z a-z 0-9 - _ . :");
    CHECK(error_of("a,https://e.com/,,,,gone\x1b,") == "status 'gone\\x1b' is not active, disabled or deleted");
    CHECK(error_of("a,https://e.com/,,,,,maybe") == "forward_query 'maybe' is not true, false or empty");
}

TEST_CASE("CsvUnreadableRecordEndsTheInputAfterTheRowsBeforeIt", "[import]") {
    const Outcome o = read_all("code,url\na,https://e.com/\nb,https://e.com/,extra\nc,https://e.com/\n");
    REQUIRE(o.rows.size() == 1);
    CHECK(o.rows[0].input.code == "a");
    CHECK(o.end.code() == Status::Code::invalid_argument);
    CHECK(o.end.message() == "line 3: 3 fields, the header has 2");
}

TEST_CASE("CsvHeaderErrors", "[import]") {
    CHECK(read_all("").end.message() == "empty input: a CSV header row with code,url is required");
    CHECK(read_all("\n\n").end.message() == "empty input: a CSV header row with code,url is required");
    CHECK(read_all("code,url,code\n").end.message() == "line 1: column 'code' appears twice");
    CHECK(read_all("\ncode,domain\n").end.message() == "line 2: the header must name the columns code and url");
    CHECK(read_all("\x1b[2J,url\n").end.message() ==
          "line 1: unknown column '\\x1b[2J' (known: domain, code, url, type, expires, not_before, tags, status, "
          "forward_query)");
    CHECK(read_all("code,url\n\"a,https://e.com/\n").end.message() == "line 2: unterminated quoted field");
    const Outcome header_only = read_all("code,url\r\n");
    CHECK(header_only.end.is_ok());
    CHECK(header_only.rows.empty());
}

TEST_CASE("JsonRows", "[import]") {
    const Outcome o = read_json(
        "{\"code\":\"j1\",\"url\":\"https://e.com/1\",\"tags\":[\"a\",\"b\"],\"forward_query\":true}\r\n"
        "\n"
        "  \t\n"
        "{\"code\":\"j2\",\"url\":\"https://e.com/2\",\"type\":308,\"domain\":null,\"version\":3,"
        "\"short_url\":\"x\",\"created_at\":\"y\",\"updated_at\":\"z\"}\n"
        "{\"code\":\"j3\",\"url\":\"https://e.com/3\",\"type\":\"301\"}");  // no final newline
    REQUIRE(o.end.is_ok());
    REQUIRE(o.rows.size() == 3);
    CHECK(o.rows[0].line == 1);
    CHECK(o.rows[0].input.tags == std::vector<std::string>{"a", "b"});
    CHECK(o.rows[0].input.forward_query == 1);
    CHECK(o.rows[1].line == 4);
    CHECK(o.rows[1].error.is_ok());
    CHECK(o.rows[1].input.redirect_type == 308);
    CHECK(o.rows[2].line == 5);
    CHECK(o.rows[2].input.redirect_type == 301);
}

TEST_CASE("JsonRecordErrorsEndTheInputWithTheirLine", "[import]") {
    const auto end_of = [](const std::string& text) {
        const Outcome o = read_json("{\"code\":\"ok\",\"url\":\"https://e.com/\"}\n" + text + "\n{\"code\":\"after\"}\n");
        REQUIRE(o.rows.size() == 1);  // the row before is delivered, nothing after
        CHECK(o.end.code() == Status::Code::invalid_argument);
        return o.end.message();
    };
    CHECK(end_of("{\"code\": \"a\"") == "line 2: invalid JSON: Missing a comma or '}' after an object member.");
    CHECK(end_of("[1,2]") == "line 2: expected a JSON object");
    CHECK(end_of("{\"code\":\"a\",\"evil\\u001b\":1}") == "line 2: unknown key 'evil\\x1b'");
    CHECK(end_of("{\"code\":1.5}") == "line 2: key 'code' has the wrong type");
    CHECK(end_of("{\"tags\":[\"a\",2]}") == "line 2: tags must be strings");
    CHECK(end_of("{\"code\":\"a\",\"code\":\"b\"}") == "line 2: key 'code' appears twice");
    // One object per line: a second value after it is not silently dropped.
    CHECK(end_of("{\"code\":\"a\"} {\"code\":\"b\"}") ==
          "line 2: invalid JSON: The document root must not be followed by other values.");
    CHECK(end_of(std::string("{\"code\":\"a\"}\0x", 14)) ==
          "line 2: invalid JSON: The document root must not be followed by other values.");
}

TEST_CASE("JsonDeepNestingIsRefusedWithoutRecursion", "[import]") {
    // Recursive descent would need a million stack frames for this line.
    const Outcome o = read_json(std::string(1'000'000, '['));
    CHECK(o.rows.empty());
    CHECK(o.end.message().rfind("line 1: invalid JSON: ", 0) == 0);
}

TEST_CASE("JsonLineOverTheLimit", "[import]") {
    const std::string row = "{\"code\":\"a\",\"url\":\"https://e.com/\"}\n";
    const std::string longest = "{\"code\":\"b\",\"url\":\"https://e.com/\"}" +
                                std::string(store::k_max_import_line_bytes - row.size() + 1, ' ');
    REQUIRE(longest.size() == store::k_max_import_line_bytes);
    const Outcome fits = read_json(row + longest + "\n" + row);
    CHECK(fits.end.is_ok());
    CHECK(fits.rows.size() == 3);
    const Outcome over = read_json(row + row + longest + " \n" + row);
    CHECK(over.rows.size() == 2);
    CHECK(over.end.message() == "line 3: longer than 1048576 bytes");
    // Without a newline at all the reader stops at the limit rather than reading on.
    const Outcome unterminated = read_json(std::string(3 * store::k_max_import_line_bytes, 'x'));
    CHECK(unterminated.rows.empty());
    CHECK(unterminated.end.message() == "line 1: longer than 1048576 bytes");
}

TEST_CASE("LargeInputKeepsFileOrderAcrossBatchesAndThreads", "[import]") {
    std::string text = "code,url\n";
    const std::size_t n = 2 * store::k_import_batch_rows + 100;
    for (std::size_t i = 0; i < n; ++i) {
        text += (i == 5000 ? "bad code" : "c" + std::to_string(i)) + ",https://e.com/" + std::to_string(i) + "\n";
    }
    for (bool parallel : {true, false}) {
        const Outcome o = read_all(text, ImportFormat::csv, "", parallel);
        REQUIRE(o.end.is_ok());
        REQUIRE(o.rows.size() == n);
        for (std::size_t i = 0; i < n; ++i) {
            REQUIRE(o.rows[i].line == i + 2);
            if (i == 5000) {
                REQUIRE(!o.rows[i].error.is_ok());
                REQUIRE(o.rows[i].error.message() == "code contains 0x20 at byte 3; allowed: A-Z a-z 0-9 - _ . ~ and / between segments");
            } else {
                REQUIRE(o.rows[i].error.is_ok());
                REQUIRE(o.rows[i].input.destination == "https://e.com/" + std::to_string(i));
            }
        }
    }
}

TEST_CASE("CallbackExceptionPropagates", "[import]") {
    std::string text = "code,url\n";
    for (int i = 0; i < 200; ++i) {
        text += "c" + std::to_string(i) + ",https://e.com/\n";
    }
    std::istringstream in(text);
    store::ImportSettings settings;
    int seen = 0;
    CHECK_THROWS_WITH(store::read_import(in, settings,
                                         [&](const store::ImportRow&) {
                                             if (++seen == 3) {
                                                 throw std::runtime_error("stop");
                                             }
                                         }),
                      "stop");
    CHECK(seen == 3);
}
