// slhash128 is part of the file format: pinned values catch any accidental change.
#include "formats/hash.h"

#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "tests/formats/snapshot_fixture.h"

using shortlink::formats::hash128;
using shortlink::formats::Hash128;

TEST_CASE("HashIsSeededAndLengthSensitive", "[hash]") {
    CHECK_FALSE(hash128("abc", 1) == hash128("abc", 2));
    CHECK_FALSE(hash128("abc", 1) == hash128(std::string_view("abc\0", 4), 1));
    CHECK_FALSE(hash128("", 1) == hash128(std::string_view("\0", 1), 1));
    CHECK(hash128("abc", 7) == hash128("abc", 7));
}

TEST_CASE("HashPinnedValues", "[hash]") {
    // If these change, every snapshot ever written becomes unreadable: bump hash_function.
    const Hash128 a = hash128("abcdefg", 0);
    const Hash128 b = hash128("https://example.com/some/long/path?x=1", 42);
    INFO(std::hex << a.lo << " " << a.hi << " " << b.lo << " " << b.hi);
    CHECK(a.lo == 0xab09acb0756bed52ULL);
    CHECK(a.hi == 0x3b83af38484cee54ULL);
    CHECK(b.lo == 0x8bdc6001065b5bc6ULL);
    CHECK(b.hi == 0xeb864237ae8c8dbcULL);
}

TEST_CASE("NoCollisionsOnRandomShortKeys", "[hash]") {
    const std::uint64_t seed = shortlink::test::random_seed();
    std::mt19937_64 rng(seed);
    std::set<std::pair<std::uint64_t, std::uint64_t>> seen_lo;
    std::set<std::string> keys;
    for (int i = 0; i < 200000; ++i) {
        keys.insert(shortlink::test::random_code(rng, 1 + rng() % 20));
    }
    std::set<std::uint64_t> los;
    std::set<std::uint64_t> his;
    for (const auto& k : keys) {
        const Hash128 h = hash128(k, 12345);
        los.insert(h.lo);
        his.insert(h.hi);
    }
    CHECK(los.size() == keys.size());
    CHECK(his.size() == keys.size());
}

TEST_CASE("ChecksumStreamingEqualsOneShot", "[hash]") {
    std::string data(200000, 'x');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>(i * 31);
    }
    shortlink::formats::Checksum c;
    c.update(data.data(), 100);
    c.update(data.data() + 100, 70000);
    c.update(data.data() + 70100, data.size() - 70100);
    CHECK(c.digest() == shortlink::formats::checksum(data.data(), data.size()));
}
