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
        "domain,code,url,type,expires,not_before,tags,status,forward_query,title\r\n"
        "Go.Example,docs/a,HTTPS://Example.com/a,301,2030-01-01T00:00:00Z,1h,x;y z,disabled,false,"
        "\"  Docs, \xC3\xA0 la carte \"\r\n");
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
    CHECK(r.input.title == "Docs, \xC3\xA0 la carte");  // trimmed
}

TEST_CASE("TitleThatCannotBeOneLineRefusesItsRowOnly", "[import]") {
    const Outcome o = read_all("code,url,title\n"
                               "a,https://e.com/a,\"two\nlines\"\n"
                               "b,https://e.com/b," + std::string(513, 'x') + "\n"
                               "c,https://e.com/c,bad \xC3\n"
                               "d,https://e.com/d,\xE2\x80\xAE" "evil\n"
                               "e,https://e.com/e,\"   \"\n"
                               "f,https://e.com/f," + std::string(512, 'y') + "\n");
    REQUIRE(o.end.is_ok());
    REQUIRE(o.rows.size() == 6);
    CHECK(o.rows[0].error.message() == "title must be one line of UTF-8 text: control character at byte 3");
    CHECK(o.rows[0].column == "title");
    CHECK(o.rows[1].error.message() == "title is 513 bytes; the limit is 512");
    CHECK(o.rows[2].error.message() == "title must be one line of UTF-8 text: truncated UTF-8 sequence at byte 4");
    CHECK(o.rows[3].error.message() == "title contains a bidirectional or line-separator character");
    REQUIRE(o.rows[4].error.is_ok());
    CHECK(o.rows[4].input.title.empty());  // blank: no title
    REQUIRE(o.rows[5].error.is_ok());
    CHECK(o.rows[5].input.title.size() == 512);
}

TEST_CASE("JsonLinesTitleNullIsNone", "[import]") {
    const Outcome o = read_json("{\"code\":\"a\",\"url\":\"https://e.com/\",\"title\":\"Caf\\u00e9\"}\n"
                                "{\"code\":\"b\",\"url\":\"https://e.com/\",\"title\":null}\n"
                                "{\"code\":\"c\",\"url\":\"https://e.com/\",\"title\":[\"x\"]}\n");
    REQUIRE(o.end.message() == "line 3: key 'title' has the wrong type");
    REQUIRE(o.rows.size() == 2);
    CHECK(o.rows[0].input.title == "Caf\xC3\xA9");
    CHECK(o.rows[1].input.title.empty());
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
    const Outcome o = read_all("code,url\nok1,https://e.com/1\n.well-known/acme-challenge/t,https://e.com/2\n\nok3,ftp://x/\nok4,https://x.example/\n");
    REQUIRE(o.end.is_ok());
    REQUIRE(o.rows.size() == 4);
    CHECK(o.rows[0].error.is_ok());
    CHECK(o.rows[1].line == 3);
    CHECK(o.rows[1].error.code() == Status::Code::invalid_argument);
    CHECK(o.rows[1].error.message() ==
          "code '.well-known/acme-challenge/t' is reserved: serve answers /.well-known/acme-challenge/ itself");
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
          "forward_query, title); map it with --map COLUMN=FIELD or drop it with --ignore-unknown-columns");
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
    CHECK(end_of("{\"code\":\"a\",\"evil\\u001b\":1}") ==
          "line 2: unknown key 'evil\\x1b'; map it with --map COLUMN=FIELD or drop it with --ignore-unknown-columns");
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

namespace {

struct Foreign {
    std::vector<store::ImportRow> rows;
    std::vector<store::ImportNotice> notices;
    Status end;
};

Foreign read_from(ImportFormat format, const std::string& text,
                  std::vector<std::pair<std::string, store::ImportField>> map = {}, bool ignore_unknown = false) {
    std::istringstream in(text);
    store::ImportSettings settings;
    settings.format = format;
    settings.default_host = "go.example";
    settings.now = k_now;
    settings.column_map = std::move(map);
    settings.ignore_unknown_columns = ignore_unknown;
    Foreign out;
    settings.on_notice = [&](const store::ImportNotice& n) { out.notices.push_back(n); };
    out.end = store::read_import(in, settings, [&](const store::ImportRow& row) { out.rows.push_back(row); });
    return out;
}

std::string notice_of(const Foreign& f, const std::string& column) {
    for (const store::ImportNotice& n : f.notices) {
        if (n.column == column) {
            return "line " + std::to_string(n.line) + ": " + n.message;
        }
    }
    return "";
}

}  // namespace

TEST_CASE("BitlyCsvLinkGivesDomainAndCode", "[import]") {
    const Foreign f = read_from(ImportFormat::bitly,
                                "\xEF\xBB\xBFID,Link,Long_URL,Title,Created_At,Archived,Tags,Custom_Bitlinks\r\n"
                                "bit.ly/3xK,https://bit.ly/3xK,https://e.com/a,Spring,2024-03-01T09:15:00+0000,false,"
                                "\"Spring Sale,social\",https://bit.ly/spring\r\n"
                                "bit.ly/4aB,https://bit.ly/4aB,https://e.com/b,New year,2024-01-02T08:00:00+0000,true,,\r\n");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 2);
    const store::ImportRow& r = f.rows[0];
    REQUIRE(r.error.is_ok());
    CHECK(r.line == 2);
    CHECK(r.input.host == "bit.ly");
    CHECK(r.input.code == "3xK");
    CHECK(r.input.destination == "https://e.com/a");
    CHECK(r.input.created_at == 1'709'284'500);
    CHECK(r.input.tags == std::vector<std::string>{"Spring-Sale", "social"});
    CHECK(r.input.title == "Spring");
    CHECK(f.rows[1].input.title == "New year");
    CHECK(f.rows[1].input.status == store::LinkState::active);  // archived still redirects at Bitly
    // Each dropped column once, at its first value; "archived" first holds one on line 3.
    CHECK(notice_of(f, "Title").empty());  // kept
    CHECK(notice_of(f, "Custom_Bitlinks").rfind("line 2: dropped: each custom back-half", 0) == 0);
    CHECK(notice_of(f, "Archived").rfind("line 3: dropped: an archived Bitlink still redirects", 0) == 0);
    CHECK(notice_of(f, "Tags").rfind("line 2: tag 'Spring Sale' became 'Spring-Sale'", 0) == 0);
    CHECK(notice_of(f, "ID").empty());  // silent: a copy of link
    CHECK(f.notices.size() == 3);
}

TEST_CASE("BitlyJsonDocumentNamesEachItemsLine", "[import]") {
    const Foreign f = read_from(ImportFormat::bitly,
                                "{\"links\": [\n"
                                "  {\"link\": \"https://bit.ly/a1\", \"long_url\": \"https://e.com/1\", \"tags\": [\"x\"], \"title\": \"First\"},\n"
                                "  {\"link\": \"https://bit.ly/a2\", \"long_url\": \"javascript:alert(1)\"},\n"
                                "  {\"link\": \"https://bit.ly/a3\",\n   \"long_url\": \"https://e.com/3\"}\n"
                                "], \"pagination\": {\"total\": 3}}\n");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 3);
    CHECK(f.rows[0].line == 2);
    CHECK(f.rows[0].item == 1);
    CHECK(f.rows[0].input.tags == std::vector<std::string>{"x"});
    CHECK(f.rows[0].input.title == "First");
    CHECK(f.rows[1].line == 3);
    CHECK(f.rows[1].item == 2);
    CHECK(!f.rows[1].error.is_ok());
    CHECK(f.rows[1].column == "long_url");
    CHECK(f.rows[2].line == 4);
    CHECK(f.rows[2].item == 3);
}

TEST_CASE("YourlsRowsGoToTheDefaultDomainWithTheirTimes", "[import]") {
    const Foreign f = read_from(ImportFormat::yourls,
                                "keyword,url,title,timestamp,ip,clicks\n"
                                "docs,https://docs.example.org/,Docs,2024-01-02 03:04:05,203.0.113.7,0\n"
                                "1a,https://e.com/,Hi,2020-02-01 18:00:00,198.51.100.23,42\n"
                                "bad,https://e.com/,Hi,2020-02-31 25:00:00,198.51.100.23,1\n");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 3);
    CHECK(f.rows[0].input.host == "go.example");
    CHECK(f.rows[0].input.code == "docs");
    CHECK(f.rows[0].input.created_at == 1'704'164'645);
    CHECK(f.rows[0].input.title == "Docs");
    CHECK(f.rows[1].input.created_at == 1'580'580'000);
    CHECK(f.rows[1].input.title == "Hi");
    CHECK(notice_of(f, "title").empty());
    CHECK(f.rows[2].column == "timestamp");
    CHECK(f.rows[2].error.message().find("'2020-02-31 25:00:00' is not a time") != std::string::npos);
    CHECK(notice_of(f, "clicks") == "line 3: dropped: visit counts stay with the old shortener (shortlink counts its own)");
    CHECK(notice_of(f, "ip").rfind("line 2: dropped:", 0) == 0);
}

TEST_CASE("ShlinkJsonKeepsMetaAndForwarding", "[import]") {
    const Foreign f = read_from(
        ImportFormat::shlink,
        "{\"shortUrls\":{\"data\":[{\"shortCode\":\"launch\",\"shortUrl\":\"https://s.example.com/launch\","
        "\"longUrl\":\"https://e.com/l\",\"deviceLongUrls\":{\"android\":null,\"ios\":null},"
        "\"dateCreated\":\"2024-02-10T12:30:00+01:00\",\"tags\":[\"product\",\"launch\"],"
        "\"meta\":{\"validSince\":\"2024-02-10T00:00:00+01:00\",\"validUntil\":\"2025-02-10T00:00:00+01:00\","
        "\"maxVisits\":1000},\"domain\":null,\"title\":\"Launch\",\"crawlable\":false,\"forwardQuery\":true,"
        "\"visitsSummary\":{\"total\":3}},"
        "{\"shortCode\":\"jobs\",\"longUrl\":\"https://e.com/j\",\"domain\":\"go.example.net\",\"meta\":{},"
        "\"forwardQuery\":false,\"crawlable\":true}]}}");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 2);
    const store::ImportRow& r = f.rows[0];
    REQUIRE(r.error.is_ok());
    CHECK(r.input.host == "s.example.com");  // domain null: the short URL's host
    CHECK(r.input.code == "launch");
    CHECK(r.input.tags == std::vector<std::string>{"product", "launch"});
    CHECK(r.input.created_at == 1'707'564'600);
    CHECK(r.input.not_before == 1'707'519'600);
    CHECK(r.input.expires == 1'739'142'000);
    CHECK(r.input.forward_query == 1);
    CHECK(r.input.title == "Launch");
    CHECK(f.rows[1].input.title.empty());  // no title key
    CHECK(f.rows[1].input.host == "go.example.net");
    CHECK(f.rows[1].input.forward_query == 0);
    CHECK(notice_of(f, "meta.maxVisits") == "line 1: dropped: a link has no visit limit");
    CHECK(notice_of(f, "title").empty());
    CHECK(notice_of(f, "crawlable") == "line 1: dropped: crawling is not set per link");  // set on item 2
    CHECK(notice_of(f, "deviceLongUrls").empty());  // every device null: nothing lost
}

TEST_CASE("ShlinkCsvSplitsTagsOnPipes", "[import]") {
    const Foreign f = read_from(ImportFormat::shlink,
                                "createdAt,domain,shortCode,shortUrl,longUrl,title,tags,visits\n"
                                "2024-02-10T12:30:00+01:00,https://s.example.com,launch,https://s.example.com/launch,"
                                "https://e.com/l,Launch,product|launch,310\n");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 1);
    REQUIRE(f.rows[0].error.is_ok());
    CHECK(f.rows[0].input.host == "s.example.com");  // a domain written as a URL
    CHECK(f.rows[0].input.tags == std::vector<std::string>{"product", "launch"});
    CHECK(f.rows[0].input.title == "Launch");
}

TEST_CASE("MapColumnToTitle", "[import]") {
    const Foreign f = read_from(ImportFormat::csv, "code,url,Name\na,https://e.com/,Spring sale\n",
                                {{"name", store::ImportField::title}});
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 1);
    REQUIRE(f.rows[0].error.is_ok());
    CHECK(f.rows[0].input.title == "Spring sale");
    // Kutt's description is not a title unless the user says so.
    const Foreign kutt = read_from(ImportFormat::kutt,
                                   "{\"data\":[{\"address\":\"k\",\"target\":\"https://e.com/k\",\"description\":\"Promo\"}]}",
                                   {{"description", store::ImportField::title}});
    REQUIRE(kutt.end.is_ok());
    REQUIRE(kutt.rows.size() == 1);
    CHECK(kutt.rows[0].input.title == "Promo");
    CHECK(kutt.notices.empty());
}

TEST_CASE("KuttBannedIsDisabledAndPasswordIsRefused", "[import]") {
    const Foreign f = read_from(
        ImportFormat::kutt,
        "{\"data\":[{\"address\":\"promo\",\"target\":\"https://e.com/p\",\"domain\":null,"
        "\"link\":\"https://kutt.example.com/promo\",\"expire_in\":\"2025-04-05T10:11:12.000Z\","
        "\"created_at\":\"2024-04-05T10:11:12.000Z\",\"banned\":false,\"password\":false,\"visit_count\":3},"
        "{\"address\":\"old\",\"target\":\"https://e.com/o\",\"domain\":\"kutt.example.com\",\"banned\":true},"
        "{\"address\":\"secret\",\"target\":\"https://e.com/s\",\"password\":true}]}");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 3);
    CHECK(f.rows[0].input.host == "kutt.example.com");
    CHECK(f.rows[0].input.expires == 1'743'847'872);
    CHECK(f.rows[0].input.status == store::LinkState::active);
    CHECK(f.rows[1].input.status == store::LinkState::disabled);
    CHECK(f.rows[2].column == "password");
    CHECK(f.rows[2].error.message().rfind("password is set: the link is password-protected", 0) == 0);
}

TEST_CASE("CloudflareCsvWithoutAHeader", "[import]") {
    const Foreign f = read_from(ImportFormat::cloudflare,
                                "www.example.com/contact,https://e.net/contact-us,301,,,,\n"
                                "https://www.example.com/pricing,https://e.net/plans,308,TRUE\n"
                                "www.example.com/old,https://e.net/,,false,false,false,false\n"
                                "www.example.com/sub,https://e.net/,,,TRUE\n"
                                "www.example.com/tree,https://e.net/,,,,true\n");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 5);
    CHECK(f.rows[0].input.host == "www.example.com");
    CHECK(f.rows[0].input.code == "contact");
    CHECK(f.rows[0].input.redirect_type == 301);
    CHECK(f.rows[0].input.forward_query == 0);  // Cloudflare's default drops the query string
    CHECK(f.rows[1].input.redirect_type == 308);
    CHECK(f.rows[1].input.forward_query == 1);
    CHECK(f.rows[2].input.redirect_type == 301);  // empty: Cloudflare's default
    CHECK(f.rows[3].column == "include_subdomains");
    CHECK(f.rows[3].error.message().rfind("include_subdomains is true", 0) == 0);
    CHECK(f.rows[4].column == "subpath_matching");
}

TEST_CASE("CloudflareCsvWithTheApiNamesAsHeader", "[import]") {
    const Foreign f = read_from(ImportFormat::cloudflare,
                                "Source_URL,Target_URL,Status_Code\nwww.example.com/a,https://e.net/a,302\n");
    REQUIRE(f.end.is_ok());
    REQUIRE(f.rows.size() == 1);
    CHECK(f.rows[0].input.redirect_type == 302);
    CHECK(f.rows[0].input.forward_query == 0);
}

TEST_CASE("CloudflareRowWithTooManyFields", "[import]") {
    const Foreign f = read_from(ImportFormat::cloudflare, "a.example/x,https://e.net/,301,,,,,extra\n");
    CHECK(f.end.message() ==
          "line 1: 8 fields, at most 7 (source_url, target_url, status_code, preserve_query_string, "
          "include_subdomains, subpath_matching, preserve_path_suffix)");
    CHECK(read_from(ImportFormat::cloudflare, "a.example/x\n").end.message() ==
          "line 1: 1 field: a row needs at least source_url and target_url");
}

TEST_CASE("MapAndIgnoreUnknownColumns", "[import]") {
    const std::string text = "Short Code,Destination,Owner\nabc,https://e.com/,alice\n";
    const Foreign refused = read_from(ImportFormat::csv, text);
    CHECK(refused.end.message().rfind("line 1: unknown columns 'Short Code', 'Destination', 'Owner' (known: ", 0) == 0);
    CHECK(refused.end.message().find("--map COLUMN=FIELD") != std::string::npos);
    const Foreign mapped = read_from(ImportFormat::csv, text,
                                     {{"short code", store::ImportField::code}, {"DESTINATION", store::ImportField::url}},
                                     true);
    REQUIRE(mapped.end.is_ok());
    REQUIRE(mapped.rows.size() == 1);
    CHECK(mapped.rows[0].input.code == "abc");
    CHECK(mapped.rows[0].input.destination == "https://e.com/");
    CHECK(notice_of(mapped, "Owner") == "line 1: ignored: not a column of --from csv");
    const Foreign dropped = read_from(ImportFormat::csv, text,
                                      {{"Short Code", store::ImportField::code},
                                       {"Destination", store::ImportField::url},
                                       {"Owner", store::ImportField::ignore}});
    REQUIRE(dropped.end.is_ok());
    CHECK(dropped.notices.empty());
    const Foreign twice = read_from(ImportFormat::csv, "code,Link,url\n",
                                    {{"link", store::ImportField::code}});
    CHECK(twice.end.message() == "line 1: columns 'code' and 'Link' both give the field code");
}

TEST_CASE("HeaderNamesMatchRegardlessOfCaseAndBomIsSkipped", "[import]") {
    const Outcome csv = read_all("\xEF\xBB\xBF" "CODE,Url\r\na,https://e.com/\r\n");
    REQUIRE(csv.end.is_ok());
    REQUIRE(csv.rows.size() == 1);
    CHECK(csv.rows[0].input.code == "a");
    const Outcome json = read_json("\xEF\xBB\xBF{\"Code\":\"j\",\"URL\":\"https://e.com/\"}\n");
    REQUIRE(json.end.is_ok());
    REQUIRE(json.rows.size() == 1);
    CHECK(json.rows[0].input.code == "j");
    CHECK(read_all("\xEF\xBB" "code,url\n").end.message() ==
          "line 1: starts with bytes that are not UTF-8 (a broken byte order mark?)");
}

TEST_CASE("ForeignHostileInput", "[import]") {
    for (ImportFormat format : {ImportFormat::bitly, ImportFormat::yourls, ImportFormat::shlink, ImportFormat::kutt,
                                ImportFormat::cloudflare}) {
        INFO(std::string(store::import_format_name(format)));
        CHECK(read_from(format, "").end.message().rfind("empty input: no links", 0) == 0);
        CHECK(read_from(format, "\n \r\n").end.message().rfind("empty input: no links", 0) == 0);
        CHECK(read_from(format, std::string("ab\ncd\0ef", 8)).end.message() ==
              "line 2: a NUL byte: this is not a text export");
        // Truncated JSON: the line where it stops.
        const Foreign truncated = read_from(format, "[{\"a\": 1},\n{\"b\":");
        CHECK(truncated.end.message().rfind("line 2: invalid JSON: ", 0) == 0);
        CHECK(truncated.rows.empty());
        // An unterminated quote, a record over the limit.
        CHECK(read_from(format, "x,y\n\"abc,def\n", {{"x", store::ImportField::code}, {"y", store::ImportField::url}})
                  .end.message() == "line 2: unterminated quoted field");
        CHECK(read_from(format, "x,\"" + std::string(2 << 20, 'a') + "\"\n").end.message().find("longer than") !=
              std::string::npos);
    }
    CHECK(read_from(ImportFormat::yourls, "keyword,title\n").end.message() ==
          "line 1: the header names no column for the destination URL (yourls: url; or --map COLUMN=url)");
    CHECK(read_from(ImportFormat::bitly, "long_url,title\n").end.message() ==
          "line 1: the header names no column for the code (bitly: link; or --map COLUMN=code)");
    CHECK(read_from(ImportFormat::kutt, "[1, 2]").end.message() == "line 1: item 1: expected a JSON object");
    CHECK(read_from(ImportFormat::shlink, "{\"shortUrls\": {\"pagination\": {}}}").end.message() ==
          "line 1: expected the list of links at shortUrls.data");
    CHECK(read_from(ImportFormat::kutt, "{\"data\": [{\"address\": \"a\", \"target\": \"https://e.com/\", "
                                        "\"owner\": \"x\"}]}")
              .end.message() ==
          "line 1: item 1: unknown key 'owner'; map it with --map COLUMN=FIELD or drop it with "
          "--ignore-unknown-columns");
}

TEST_CASE("ForeignJsonLines", "[import]") {
    const Foreign f = read_from(ImportFormat::kutt,
                                "{\"address\":\"a\",\"target\":\"https://e.com/a\"}\r\n\r\n"
                                "{\"address\":\"b\",\"target\":\"https://e.com/b\"}\r\n"
                                "{\"address\":\"c\",\"target\":\n");
    REQUIRE(f.rows.size() == 2);
    CHECK(f.rows[1].line == 3);
    CHECK(f.rows[1].item == 0);
    CHECK(f.end.message().rfind("line 4: invalid JSON: ", 0) == 0);
}
