// Replays the checked-in corpus of every fuzz target through its harness on every test run, so
// an input the fuzzer once found stays fixed without clang or libFuzzer, and the seeds keep
// meaning what their names say: valid-* is accepted, bad-* refused (tests/fuzz/README.md).
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "tests/formats/snapshot_fixture.h"
#include "tests/fuzz/fuzz_targets.h"

namespace {

using Harness = int (*)(const std::uint8_t*, std::size_t);

void replay(const std::string& target, Harness harness) {
    const std::filesystem::path dir = std::filesystem::path(SHORTLINK_FUZZ_CORPUS) / target;
    REQUIRE(std::filesystem::is_directory(dir));
    int accepted = 0;
    int refused = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        INFO(target << "/" << name);
        const bool valid = name.starts_with("valid-");
        REQUIRE((valid || name.starts_with("bad-")));  // every seed says what it must do
        const std::string data = shortlink::test::read_file(entry.path().string());
        const int r = harness(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
        CHECK(r == (valid ? 1 : 0));
        ++(valid ? accepted : refused);
    }
    // Both kinds of seed, so neither expectation can pass vacuously.
    CHECK(accepted > 0);
    CHECK(refused > 0);
}

}  // namespace

TEST_CASE("ReaderCorpus", "[fuzz]") { replay("reader", shortlink::fuzz::fuzz_reader_one); }
TEST_CASE("HttpCorpus", "[fuzz]") { replay("http", shortlink::fuzz::fuzz_http_one); }
TEST_CASE("ImportCsvCorpus", "[fuzz]") { replay("import_csv", shortlink::fuzz::fuzz_import_csv_one); }
TEST_CASE("ImportJsonCorpus", "[fuzz]") { replay("import_json", shortlink::fuzz::fuzz_import_json_one); }
TEST_CASE("ImportForeignCorpus", "[fuzz]") { replay("import_foreign", shortlink::fuzz::fuzz_import_foreign_one); }
TEST_CASE("LinksFileCorpus", "[fuzz]") { replay("links_file", shortlink::fuzz::fuzz_links_file_one); }
TEST_CASE("ValidateCorpus", "[fuzz]") { replay("validate", shortlink::fuzz::fuzz_validate_one); }
TEST_CASE("KeysCorpus", "[fuzz]") { replay("keys", shortlink::fuzz::fuzz_keys_one); }
TEST_CASE("SniCorpus", "[fuzz]") { replay("sni", shortlink::fuzz::fuzz_sni_one); }
TEST_CASE("AcmeCorpus", "[fuzz]") { replay("acme", shortlink::fuzz::fuzz_acme_one); }
TEST_CASE("ClicksCorpus", "[fuzz]") { replay("clicks", shortlink::fuzz::fuzz_clicks_one); }
