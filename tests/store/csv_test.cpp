// RFC 4180 reading (with line numbers and hostile input) and writing.
#include <catch2/catch.hpp>

#include <sstream>

#include "store/csv.h"

using namespace shortlink;

namespace {

std::vector<std::vector<std::string>> read_all(const std::string& text) {
    std::istringstream in(text);
    csv::Reader reader(in);
    std::vector<std::vector<std::string>> out;
    std::vector<std::string> fields;
    while (true) {
        auto more = reader.next(fields);
        REQUIRE(more.is_ok());
        if (!*more) {
            break;
        }
        out.push_back(fields);
    }
    return out;
}

std::string first_error(const std::string& text) {
    std::istringstream in(text);
    csv::Reader reader(in);
    std::vector<std::string> fields;
    while (true) {
        auto more = reader.next(fields);
        if (!more) {
            return more.status().message();
        }
        if (!*more) {
            return "";
        }
    }
}

}  // namespace

TEST_CASE("ReadsQuotedFields", "[csv]") {
    auto rows = read_all("a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\n\"multi\nline\",\n");
    REQUIRE(rows.size() == 3);
    CHECK(rows[0] == std::vector<std::string>{"a", "b"});
    CHECK(rows[1] == std::vector<std::string>{"x,1", "say \"hi\""});
    CHECK(rows[2] == std::vector<std::string>{"multi\nline", ""});
}

TEST_CASE("ReportsRecordLines", "[csv]") {
    std::istringstream in("h\n\"a\nb\"\nc\n");
    csv::Reader reader(in);
    std::vector<std::string> f;
    REQUIRE(*reader.next(f));
    CHECK(reader.record_line() == 1);
    REQUIRE(*reader.next(f));
    CHECK(reader.record_line() == 2);
    REQUIRE(*reader.next(f));
    CHECK(reader.record_line() == 4);
    CHECK(f[0] == "c");
}

TEST_CASE("RejectsMalformedCsv", "[csv]") {
    CHECK_THAT(first_error("a\n\"unterminated\n"), Catch::Contains("unterminated"));
    CHECK_THAT(first_error("a\nb\"c\n"), Catch::Contains("line 2"));
    CHECK_THAT(first_error("\"a\"x\n"), Catch::Contains("after a closing quote"));
    CHECK_THAT(first_error("\"" + std::string(csv::k_max_record_bytes + 10, 'a')), Catch::Contains("longer than"));
}

TEST_CASE("NoTrailingNewline", "[csv]") {
    auto rows = read_all("a,b\nc,d");
    REQUIRE(rows.size() == 2);
    CHECK(rows[1] == std::vector<std::string>{"c", "d"});
}

TEST_CASE("WriterRoundTrips", "[csv]") {
    std::vector<std::string> fields = {"plain", "a,b", "q\"uote", "line\nbreak", " lead", ""};
    std::string text;
    csv::append_record(text, fields);
    CHECK(text == "plain,\"a,b\",\"q\"\"uote\",\"line\nbreak\",\" lead\",\r\n");
    auto rows = read_all(text);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0] == fields);
}
