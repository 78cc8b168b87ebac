// Backup files: a database round-trips byte for byte, and every kind of damage or hostility is
// refused with a message that names the file: an empty file, wrong magic, a newer version, a
// flipped byte anywhere in the header or payload, truncation, extra bytes, a frame that declares
// another size than the header (a zstd bomb), a frame that needs a larger window than allowed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <zstd.h>

#include "formats/backup.h"
#include "formats/bytes.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using namespace shortlink::formats::backup;
using shortlink::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct Fd {
    int fd;
    explicit Fd(const fs::path& p, int flags) : fd(::open(p.c_str(), flags | O_CLOEXEC, 0644)) { REQUIRE(fd >= 0); }
    ~Fd() { ::close(fd); }
};

void put_file(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string get_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Stands in for a database: compressible text with random runs, from a printed seed.
std::string sample_database(std::size_t size, unsigned seed) {
    std::mt19937 rng(seed);
    std::string out;
    out.reserve(size);
    while (out.size() < size) {
        if (rng() % 4 == 0) {
            out.push_back(static_cast<char>(rng()));
        } else {
            out += "link-" + std::to_string(rng() % 1000) + " https://example.com/page;";
        }
    }
    out.resize(size);
    return out;
}

// Writes `database` as a backup in `dir`; returns the backup's path.
fs::path make_backup(const TempDir& dir, const std::string& database, Header* written = nullptr) {
    const fs::path db = fs::path(dir.path) / "db";
    const fs::path out = fs::path(dir.path) / "backup.slbak";
    put_file(db, database);
    Fd in(db, O_RDONLY);
    Fd o(out, O_RDWR | O_CREAT | O_TRUNC);
    auto h = formats::backup::write(in.fd, db.string(), o.fd, out.string(), 7, 1764000000);
    REQUIRE(h.is_ok());
    if (written != nullptr) {
        *written = *h;
    }
    return out;
}

// Reads `backup`, writing the database to dir/restored.
Result<Header> read_into(const TempDir& dir, const fs::path& backup) {
    Fd in(backup, O_RDONLY);
    Fd out(fs::path(dir.path) / "restored", O_RDWR | O_CREAT | O_TRUNC);
    return formats::backup::read(in.fd, backup.string(), out.fd, (fs::path(dir.path) / "restored").string());
}

std::string zstd_frame(const std::string& content, bool declare_size, int window_log = 0) {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, declare_size ? 1 : 0);
    if (window_log != 0) {
        ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
        ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1);
    }
    std::string out(ZSTD_compressBound(content.size()), '\0');
    const std::size_t n = ZSTD_compress2(c, out.data(), out.size(), content.data(), content.size());
    ZSTD_freeCCtx(c);
    REQUIRE(ZSTD_isError(n) == 0U);
    out.resize(n);
    return out;
}

// A backup made by hand: a valid header around any payload.
std::string forge(const std::string& payload, std::uint64_t database_bytes, const std::string& database) {
    Header h;
    h.database_bytes = database_bytes;
    h.payload_bytes = payload.size();
    h.database_sha256 = formats::sha256(database.data(), database.size());
    const auto head = encode_header(h);
    return std::string(reinterpret_cast<const char*>(head.data()), head.size()) + payload;
}

}  // namespace

TEST_CASE("RoundTrip: the database comes back byte for byte", "[backup]") {
    const auto seed = static_cast<unsigned>(shortlink::test::random_seed());
    INFO("seed " << seed);
    TempDir dir;
    const std::string database = sample_database(3 * 1024 * 1024 + 17, seed);
    Header written;
    const fs::path backup = make_backup(dir, database, &written);
    CHECK(written.database_bytes == database.size());
    CHECK(written.schema_version == 7);
    CHECK(written.created_at == 1764000000);
    CHECK(fs::file_size(backup) == k_header_size + written.payload_bytes);
    CHECK(fs::file_size(backup) < database.size() / 2);  // compressed
    auto h = read_into(dir, backup);
    REQUIRE(h.is_ok());
    CHECK(h->database_sha256 == formats::sha256(database.data(), database.size()));
    CHECK(get_file(fs::path(dir.path) / "restored") == database);

    Fd in(backup, O_RDONLY);
    CHECK(formats::backup::read(in.fd, backup.string(), -1, "").is_ok());  // verify only
}

TEST_CASE("EmptyFile and WrongMagic are not backups", "[backup]") {
    TempDir dir;
    const fs::path p = fs::path(dir.path) / "x.slbak";
    put_file(p, "");
    auto h = read_into(dir, p);
    REQUIRE(!h.is_ok());
    CHECK(h.status().code() == Status::Code::invalid_argument);
    CHECK(h.status().message() == "backup " + p.string() + " is empty, not a shortlink backup");

    put_file(p, "SQLite format 3" + std::string(200, '\0'));
    h = read_into(dir, p);
    REQUIRE(!h.is_ok());
    CHECK(h.status().code() == Status::Code::invalid_argument);
    CHECK(h.status().message() == "backup " + p.string() + " is not a shortlink backup (wrong magic)");
}

TEST_CASE("FutureVersion is refused before its header is trusted", "[backup]") {
    TempDir dir;
    const fs::path backup = make_backup(dir, sample_database(10000, 1));
    std::string bytes = get_file(backup);
    formats::bytes::store<std::uint32_t>(reinterpret_cast<std::uint8_t*>(bytes.data()) + k_off_version, 2);
    put_file(backup, bytes);
    auto h = read_into(dir, backup);
    REQUIRE(!h.is_ok());
    CHECK(h.status().code() == Status::Code::unsupported);
    CHECK(h.status().message() ==
          "backup " + backup.string() + " is format version 2; this shortlink reads version 1");
}

TEST_CASE("HeaderByteFlip anywhere is refused", "[backup]") {
    TempDir dir;
    const fs::path backup = make_backup(dir, sample_database(10000, 2));
    const std::string good = get_file(backup);
    for (std::size_t i = 0; i < k_header_size; ++i) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        put_file(backup, bad);
        auto h = read_into(dir, backup);
        INFO("byte " << i);
        REQUIRE(!h.is_ok());
        if (i >= k_off_schema_version) {
            CHECK(h.status().message() == "backup " + backup.string() + ": header checksum mismatch (bytes 0..103)");
        }
    }
}

TEST_CASE("PayloadByteFlip is refused and writes no more than the header's size", "[backup]") {
    TempDir dir;
    const std::string database = sample_database(200000, 3);
    const fs::path backup = make_backup(dir, database);
    const std::string good = get_file(backup);
    for (std::size_t i = k_header_size; i < good.size(); i += 97) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ 0x01);
        put_file(backup, bad);
        auto h = read_into(dir, backup);
        INFO("byte " << i);
        REQUIRE(!h.is_ok());
        CHECK(h.status().code() == Status::Code::corruption);
        CHECK(h.status().message().rfind("backup " + backup.string() + ": ", 0) == 0);
        CHECK(fs::file_size(fs::path(dir.path) / "restored") <= database.size());
    }
}

TEST_CASE("Truncated and TrailingBytes are refused", "[backup]") {
    TempDir dir;
    const fs::path backup = make_backup(dir, sample_database(50000, 4));
    const std::string good = get_file(backup);
    for (std::size_t cut : {std::size_t{3}, std::size_t{8}, std::size_t{50}, k_header_size, k_header_size + 5,
                            good.size() - 1}) {
        put_file(backup, good.substr(0, cut));
        auto h = read_into(dir, backup);
        INFO("cut at " << cut);
        REQUIRE(!h.is_ok());
        if (cut >= k_header_size) {
            CHECK(h.status().message() == "backup " + backup.string() + ": truncated: " + std::to_string(cut) +
                                              " of " + std::to_string(good.size()) + " bytes");
        }
    }
    put_file(backup, good + "x");
    auto h = read_into(dir, backup);
    REQUIRE(!h.is_ok());
    CHECK(h.status().message() == "backup " + backup.string() + ": 1 bytes after the end of the payload (byte " +
                                      std::to_string(good.size()) + ")");
}

TEST_CASE("ZstdBomb: a frame declaring more than the header is refused before it is decompressed", "[backup]") {
    TempDir dir;
    const std::string small = "tiny database";
    const std::string huge(64 * 1024 * 1024, '\0');  // 64 MiB of zeros: a frame of a few KiB
    const fs::path p = fs::path(dir.path) / "bomb.slbak";
    put_file(p, forge(zstd_frame(huge, true), small.size(), small));
    auto h = read_into(dir, p);
    REQUIRE(!h.is_ok());
    CHECK(h.status().message() == "backup " + p.string() + ": the zstd frame declares 67108864 bytes; the header says " +
                                      std::to_string(small.size()));
    CHECK(fs::file_size(fs::path(dir.path) / "restored") == 0);

    // A frame that does not declare its size is refused too, rather than decompressed to find out.
    put_file(p, forge(zstd_frame(huge, false), small.size(), small));
    h = read_into(dir, p);
    REQUIRE(!h.is_ok());
    CHECK(h.status().message() == "backup " + p.string() + ": the payload at byte 104 is not a zstd frame that declares its size");
    CHECK(fs::file_size(fs::path(dir.path) / "restored") == 0);
}

TEST_CASE("WindowTooLarge: a frame needing more than 8 MiB of window is refused", "[backup]") {
    TempDir dir;
    const std::string database = sample_database(32 * 1024 * 1024, 5);
    const fs::path p = fs::path(dir.path) / "wide.slbak";
    put_file(p, forge(zstd_frame(database, true, 27), database.size(), database));
    auto h = read_into(dir, p);
    REQUIRE(!h.is_ok());
    CHECK(h.status().code() == Status::Code::corruption);
    CHECK(h.status().message() == "backup " + p.string() + ": the zstd frame needs a window over 8 MiB, more than a reader allows");
}

TEST_CASE("WrongDigest: a sound frame whose content is not what the header hashed", "[backup]") {
    TempDir dir;
    const std::string database = sample_database(5000, 6);
    const fs::path p = fs::path(dir.path) / "other.slbak";
    put_file(p, forge(zstd_frame(database, true), database.size(), database + "!"));
    auto h = read_into(dir, p);
    REQUIRE(!h.is_ok());
    CHECK(h.status().message() == "backup " + p.string() + ": SHA-256 of the decompressed database does not match the header");
}
