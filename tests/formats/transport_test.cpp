// The zstd transport form: what the writer compresses decompresses to the same bytes; a bomb, a
// truncated frame, garbage, bytes after the frame and a window above the limit are each refused
// with their problem, never with more output than the plain size.
#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>

#include <catch2/catch.hpp>
#include <zstd.h>

#include "formats/transport.h"
#include "formats/unique_fd.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using formats::ZstdInflater;

namespace {

std::string sample_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        // Half text-like, half random: compressible, but not trivially.
        out += (rng() % 2 == 0) ? std::string("https://example.com/path/") : std::to_string(rng());
    }
    out.resize(n);
    return out;
}

std::string compress(const std::string& plain, int level = formats::k_transport_zstd_level, int threads = 1) {
    test::TempDir dir;
    test::write_file(dir.path + "/in", plain);
    formats::UniqueFd in(::open((dir.path + "/in").c_str(), O_RDONLY));
    formats::UniqueFd out(::open((dir.path + "/out").c_str(), O_RDWR | O_CREAT, 0644));
    auto written = formats::zstd_compress_fd(in.get(), plain.size(), out.get(), level, threads);
    REQUIRE(written);
    const std::string packed = test::read_file(dir.path + "/out");
    CHECK(*written == packed.size());
    return packed;
}

struct Inflated {
    bool fed = true;
    bool finished = false;
    ZstdInflater::Problem problem = ZstdInflater::Problem::none;
    std::string detail;
    std::string out;
};

// Feeds `packed` in pieces of `piece` bytes, as a body arrives.
Inflated inflate(const std::string& packed, std::uint64_t plain_size, std::size_t piece = 1000) {
    ZstdInflater inflater(plain_size);
    Inflated r;
    for (std::size_t at = 0; at < packed.size() && r.fed; at += piece) {
        const std::string_view chunk = std::string_view(packed).substr(at, piece);
        r.fed = inflater.feed(chunk.data(), chunk.size(), [&](const char* p, std::size_t n) { r.out.append(p, n); });
        CHECK(r.out.size() <= plain_size);
    }
    r.finished = r.fed && inflater.finish();
    r.problem = inflater.problem();
    r.detail = inflater.detail();
    return r;
}

}  // namespace

TEST_CASE("ZstdTransportRoundTrips", "[transport]") {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{200'000}, std::size_t{3'000'000}}) {
        CAPTURE(size);
        const std::string plain = sample_bytes(size, size);
        const std::string packed = compress(plain, formats::k_transport_zstd_level, 2);
        for (std::size_t piece : {std::size_t{1}, std::size_t{4096}, std::size_t{1} << 20}) {
            if (piece == 1 && size > 200'000) {
                continue;
            }
            const Inflated r = inflate(packed, plain.size(), piece);
            CHECK(r.finished);
            CHECK(r.out == plain);
        }
        CHECK(ZSTD_getFrameContentSize(packed.data(), packed.size()) == size);
    }
}

TEST_CASE("ZstdTransportBombIsStoppedAtThePlainSize", "[transport]") {
    // 64 MiB of zeros compresses to a few KiB; the index says the file is 1 MiB.
    const std::string zeros(64 << 20, '\0');
    const std::string bomb = compress(zeros, 1);
    CHECK(bomb.size() < 64 * 1024);
    const Inflated r = inflate(bomb, 1 << 20, 4096);
    CHECK_FALSE(r.fed);
    CHECK(r.problem == ZstdInflater::Problem::too_large);
    CHECK(r.detail.find("decompresses past the 1048576 bytes") != std::string::npos);
    CHECK(r.out.size() <= (1u << 20));
}

TEST_CASE("ZstdTransportTruncatedFrameIsRefused", "[transport]") {
    const std::string plain = sample_bytes(500'000, 7);
    const std::string packed = compress(plain);
    for (std::size_t cut : {std::size_t{3}, packed.size() / 2, packed.size() - 1}) {
        CAPTURE(cut);
        const Inflated r = inflate(packed.substr(0, cut), plain.size());
        CHECK_FALSE(r.finished);
        CHECK(r.problem == ZstdInflater::Problem::bad_frame);
        CHECK(r.detail.find("truncated") != std::string::npos);
    }
}

TEST_CASE("ZstdTransportGarbageAndTrailingBytesAreRefused", "[transport]") {
    const std::string plain = sample_bytes(100'000, 9);
    const std::string packed = compress(plain);
    Inflated r = inflate(sample_bytes(5000, 1), plain.size());
    CHECK_FALSE(r.fed);
    CHECK(r.problem == ZstdInflater::Problem::bad_frame);
    CHECK(r.detail.find("not a usable zstd frame: Unknown frame descriptor") != std::string::npos);
    // A sound frame with anything after it: a second frame, or junk.
    r = inflate(packed + packed, plain.size() * 2);
    CHECK(r.problem == ZstdInflater::Problem::bad_frame);
    CHECK(r.detail.find("follow the end") != std::string::npos);
    // A byte flipped inside: the frame's own checksum or structure catches it.
    std::string flipped = packed;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x55);
    r = inflate(flipped, plain.size());
    CHECK_FALSE(r.finished);
    CHECK(r.problem == ZstdInflater::Problem::bad_frame);
    // A sound frame of fewer bytes than the index says.
    r = inflate(packed, plain.size() + 1);
    CHECK_FALSE(r.finished);
    CHECK(r.detail.find("decompresses to 100000 bytes where the index says 100001") != std::string::npos);
}

TEST_CASE("ZstdTransportWindowAboveTheLimitIsRefused", "[transport]") {
    // A frame that asks for a 128 MiB window (content size unknown, so the window stays as set).
    const std::string plain = sample_bytes(100'000, 3);
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, 27);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 0);
    std::string packed(ZSTD_compressBound(plain.size()) + 1024, '\0');
    ZSTD_inBuffer in{plain.data(), plain.size(), 0};
    ZSTD_outBuffer out{packed.data(), packed.size(), 0};
    // Input given without the end directive: zstd cannot know the size and keeps the window.
    REQUIRE_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx.get(), &out, &in, ZSTD_e_continue)));
    std::size_t left = 0;
    do {
        left = ZSTD_compressStream2(cctx.get(), &out, &in, ZSTD_e_end);
        REQUIRE_FALSE(ZSTD_isError(left));
    } while (left != 0);
    packed.resize(out.pos);
    // Decompressed without a limit, it is a sound frame.
    std::string plain_again(plain.size(), '\0');
    CHECK(ZSTD_decompress(plain_again.data(), plain_again.size(), packed.data(), packed.size()) == plain.size());
    const Inflated r = inflate(packed, plain.size());
    CHECK_FALSE(r.fed);
    CHECK(r.problem == ZstdInflater::Problem::bad_frame);
    CHECK(r.detail.find("too much memory") != std::string::npos);
}
