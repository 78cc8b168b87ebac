// The origin index: what the writer writes reads back, what the format forbids is refused by both
// the writer and the reader (even when a trusted key signed it), and every damaged byte is caught.
#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "compiler/publish.h"
#include "formats/bytes.h"
#include "formats/origin_index.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
using formats::IndexedFile;
using formats::OriginIndex;
namespace fmt = shortlink::formats::format;

namespace {

IndexedFile file_of(fmt::FileKind kind, std::uint64_t serial, std::uint64_t base = 0) {
    IndexedFile f;
    f.kind = kind;
    f.serial = serial;
    f.base = base;
    f.size = 4096 + serial;
    for (std::size_t i = 0; i < f.sha256.size(); ++i) {
        f.sha256[i] = static_cast<std::uint8_t>(serial + i);
    }
    return f;
}

OriginIndex::Contents sample() {
    OriginIndex::Contents c;
    c.channel = "stable";
    c.serial = 1000;
    c.created_at = 1'800'000'000;
    c.expires_at = 1'800'000'300;
    c.snapshot = file_of(fmt::FileKind::snapshot, 10);
    c.patch = file_of(fmt::FileKind::patch, 12, 10);
    c.overlay = file_of(fmt::FileKind::deny, 13);
    return c;
}

std::string index_bytes(const OriginIndex::Contents& c, const formats::SigningKey& key) {
    test::TempDir dir;
    const std::string path = dir.path + "/index";
    auto file = compiler::AtomicFile::create(path);
    REQUIRE(file);
    REQUIRE(formats::write_origin_index(file->fd(), c, key));
    REQUIRE(file->commit());
    return test::read_file(path);
}

std::string refusal(const std::string& bytes, const formats::SigningKey& key) {
    auto index = OriginIndex::open_buffer(bytes, {key.trusted()});
    REQUIRE_FALSE(index);
    return index.status().message();
}

std::uint64_t files_offset(const std::string& bytes) {
    // The files section is the first one; its offset is in the first table entry.
    return formats::bytes::load<std::uint64_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()) +
                                               fmt::k_header_size + 8);
}

}  // namespace

TEST_CASE("OriginIndexRoundTrips", "[index]") {
    auto key = test::test_key();
    for (int variant = 0; variant < 3; ++variant) {
        OriginIndex::Contents c = sample();
        if (variant >= 1) {
            c.overlay.reset();
        }
        if (variant == 2) {
            c.patch.reset();
            c.channel = std::string(32, 'c');
        }
        CAPTURE(variant);
        auto index = OriginIndex::open_buffer(index_bytes(c, key), {key.trusted()});
        REQUIRE(index);
        CHECK(index->contents().channel == c.channel);
        CHECK(index->contents().serial == c.serial);
        CHECK(index->contents().created_at == c.created_at);
        CHECK(index->contents().expires_at == c.expires_at);
        CHECK(index->contents().files() == c.files());
        CHECK(index->key_id() == key.key_id());
    }
    CHECK(sample().files()[1].name() == "patch-10-12.slpatch");
    CHECK(formats::index_file_name("canary") == "index-canary.slindex");
}

TEST_CASE("OriginIndexContentsTheFormatForbidsAreNotWritten", "[index]") {
    auto key = test::test_key();
    const auto problem = [](auto&& change) {
        OriginIndex::Contents c = sample();
        change(c);
        return formats::index_contents_problem(c);
    };
    CHECK(problem([](auto&) {}).empty());
    CHECK(problem([](auto& c) { c.channel = ""; }) == "a channel name cannot be empty");
    CHECK(problem([](auto& c) { c.channel = std::string(33, 'a'); }).find("at most 32") != std::string::npos);
    CHECK(problem([](auto& c) { c.channel = "Stable"; }).find("starts with") != std::string::npos);
    CHECK(problem([](auto& c) { c.channel = "-x"; }).find("starts with") != std::string::npos);
    CHECK(problem([](auto& c) { c.channel = "a/b"; }).find("only a-z") != std::string::npos);
    CHECK(problem([](auto& c) { c.serial = 0; }) == "the index serial is 0");
    CHECK(problem([](auto& c) { c.expires_at = c.created_at; }).find("expires before") != std::string::npos);
    CHECK(problem([](auto& c) { c.patch->base = 11; }).find("is not the snapshot 10") != std::string::npos);
    CHECK(problem([](auto& c) { c.patch->serial = 9; c.patch->base = 10; c.overlay->serial = 13; })
              .find("not above its base") != std::string::npos);
    CHECK(problem([](auto& c) { c.overlay->serial = 12; }).find("already retired") != std::string::npos);
    CHECK(problem([](auto& c) { c.overlay->base = 3; }).find("has a base serial") != std::string::npos);
    CHECK(problem([](auto& c) { c.snapshot.size = 100; }).find("too small") != std::string::npos);
    CHECK(problem([](auto& c) { c.snapshot.kind = fmt::FileKind::deny; }).find("holds a deny overlay") !=
          std::string::npos);
    test::TempDir dir;
    auto file = compiler::AtomicFile::create(dir.path + "/index");
    REQUIRE(file);
    OriginIndex::Contents bad = sample();
    bad.serial = 0;
    const auto written = formats::write_origin_index(file->fd(), bad, key);
    REQUIRE_FALSE(written);
    CHECK(written.status().code() == Status::Code::invalid_argument);
}

TEST_CASE("OriginIndexSignedButMalformedIsRefused", "[index]") {
    auto key = test::test_key();
    const std::string good = index_bytes(sample(), key);
    const std::uint64_t files = files_offset(good);
    const auto forged = [&](auto&& change) {
        std::string b = good;
        change(reinterpret_cast<std::uint8_t*>(b.data()));
        return refusal(test::reseal(b, key), key);
    };
    using formats::bytes::store;
    CHECK(forged([&](std::uint8_t* p) { store<std::uint32_t>(p + files, 4); }).find("file kind 4") !=
          std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { store<std::uint32_t>(p + files + 64, 1); }).find("a second snapshot") !=
          std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { store<std::uint32_t>(p + files + 4, 1); }).find("flags") != std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { store<std::uint32_t>(p + files, 3); store<std::uint32_t>(p + files + 64, 1); })
              .find("base") != std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { store<std::uint64_t>(p + fmt::k_off_not_after, 0); }).find("expiry") !=
          std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { p[fmt::k_off_payload_header + 10] = 'x'; }).find("follows the channel") !=
          std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { p[fmt::k_off_payload_header + 40] = 1; }).find("reserved") != std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { p[fmt::k_off_payload_header] = 'A'; }).find("starts with") != std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { store<std::uint64_t>(p + fmt::k_off_base_serial, 5); }).find("base serial") !=
          std::string::npos);
    // The section's length is not a whole number of records.
    CHECK(forged([&](std::uint8_t* p) { store<std::uint64_t>(p + fmt::k_header_size + 16, 100); })
              .find("records of 64 bytes") != std::string::npos);
}

TEST_CASE("OriginIndexEveryByteFlipAndTruncationIsRefused", "[index]") {
    auto key = test::test_key();
    const std::string good = index_bytes(sample(), key);
    for (std::size_t i = 0; i < good.size(); ++i) {
        std::string b = good;
        b[i] = static_cast<char>(b[i] ^ 0x40);
        CAPTURE(i);
        CHECK_FALSE(OriginIndex::open_buffer(b, {key.trusted()}));
    }
    for (std::size_t n = 0; n < good.size(); n += 7) {
        CAPTURE(n);
        CHECK_FALSE(OriginIndex::open_buffer(good.substr(0, n), {key.trusted()}));
    }
    auto other = test::test_key();
    CHECK(refusal(good, other).find("not among the 1 trusted key") != std::string::npos);
}

TEST_CASE("Sha256OfAFile", "[index]") {
    test::TempDir dir;
    const std::string path = dir.path + "/f";
    test::write_file(path, std::string(3 * 1024 * 1024 + 5, 'a'));
    auto got = formats::sha256_file(path);
    REQUIRE(got);
    CHECK(got->second == 3 * 1024 * 1024 + 5);
    CHECK(got->first == formats::sha256(reinterpret_cast<const std::uint8_t*>(test::read_file(path).data()),
                                        3 * 1024 * 1024 + 5));
    CHECK(formats::sha256_file(dir.path + "/none").status().code() == Status::Code::not_found);
}

namespace {

OriginIndex::Contents with_transport() {
    OriginIndex::Contents c = sample();
    c.snapshot.zstd_size = 2000;
    c.snapshot.zstd_sha256.fill(0xab);
    c.overlay->zstd_size = 300;
    c.overlay->zstd_sha256.fill(0xcd);
    return c;
}

}  // namespace

TEST_CASE("OriginIndexTransportFormsRoundTrip", "[index]") {
    auto key = test::test_key();
    const OriginIndex::Contents c = with_transport();
    auto index = OriginIndex::open_buffer(index_bytes(c, key), {key.trusted()});
    REQUIRE(index);
    CHECK(index->contents().files() == c.files());
    CHECK(index->contents().patch->zstd_size == 0);
    CHECK(c.files()[0].zstd_name() == "links-10.slsnap.zst");
    // Without a compressed form no zstd form record is written: the index is what hosts that
    // predate them read (one record per file).
    const std::string plain = index_bytes(sample(), key);
    const std::string packed = index_bytes(c, key);
    const auto files_length = [](const std::string& b) {
        return formats::bytes::load<std::uint64_t>(reinterpret_cast<const std::uint8_t*>(b.data()) +
                                                   fmt::k_header_size + 16);
    };
    CHECK(files_length(plain) == 3 * 64);
    CHECK(files_length(packed) == 5 * 64);
}

TEST_CASE("OriginIndexTransportSignedButMalformedIsRefused", "[index]") {
    auto key = test::test_key();
    const std::string good = index_bytes(with_transport(), key);
    // Records: snapshot, its zstd form, patch, overlay, its zstd form.
    const std::uint64_t form = files_offset(good) + 64;
    const auto forged = [&](auto&& change) {
        std::string b = good;
        change(reinterpret_cast<std::uint8_t*>(b.data()));
        return refusal(test::reseal(b, key), key);
    };
    using formats::bytes::store;
    CHECK(forged([&](std::uint8_t* p) { store<std::uint32_t>(p + form + 4, 1); }).find("flags") != std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { store<std::uint64_t>(p + form + 8, 0); }).find("zstd form of 0 bytes") !=
          std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { p[form + 20] = 1; }).find("reserved") != std::string::npos);
    // A form that follows no file record: first, or after another form.
    CHECK(forged([&](std::uint8_t* p) {
              std::uint8_t first[64];
              std::memcpy(first, p + form - 64, 64);
              std::memcpy(p + form - 64, p + form, 64);
              std::memcpy(p + form, first, 64);
          }).find("follows no file record") != std::string::npos);
    CHECK(forged([&](std::uint8_t* p) { std::memcpy(p + form + 64, p + form, 64); })
              .find("follows no file record") != std::string::npos);
    // A kind that is neither a file nor a form.
    CHECK(forged([&](std::uint8_t* p) { store<std::uint32_t>(p + form, 17); }).find("file kind 17") !=
          std::string::npos);
    // A compressed form's digest without its size is not written.
    OriginIndex::Contents c = sample();
    c.patch->zstd_sha256.fill(1);
    CHECK(formats::index_contents_problem(c).find("without its size") != std::string::npos);
}
