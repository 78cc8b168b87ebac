// Replays the checked-in fuzz corpus through the reader on every test run, so a crash the fuzzer
// once found stays fixed without clang or libFuzzer.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "tests/fuzz/fuzz_reader.h"

TEST_CASE("FuzzCorpusReplaysWithoutCrash", "[fuzz]") {
    const std::filesystem::path dir = SHORTLINK_FUZZ_CORPUS;
    int files = 0;
    int opened = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string data = ss.str();
        INFO(entry.path().string());
        const int r = shortlink::fuzz::fuzz_reader_one(
            reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
        ++files;
        opened += r == 1 ? 1 : 0;
        // Seeds named valid-* are real snapshots and must open; the others must be rejected.
        const bool valid = entry.path().filename().string().rfind("valid-", 0) == 0;
        CHECK((r == 1) == valid);
    }
    CHECK(files >= 5);
    CHECK(opened >= 3);
}
