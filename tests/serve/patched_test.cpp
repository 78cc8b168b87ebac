// A snapshot with a patch on top answers as the patched database: the patch's links and domains
// first, the base for the rest, never the base for a domain the patch holds complete.
#include <catch2/catch.hpp>

#include <string>

#include "compiler/snapshot_builder.h"
#include "formats/bytes.h"
#include "formats/deny.h"
#include "formats/records.h"
#include "formats/snapshot.h"
#include "serve/answer.h"
#include "serve/patched.h"
#include "serve/snapshot_manager.h"
#include "tests/formats/snapshot_fixture.h"

using namespace shortlink;
namespace fmt = shortlink::formats::format;

namespace {

constexpr std::int64_t k_now = 1'800'000'000;

std::shared_ptr<const formats::Snapshot> write(compiler::SnapshotBuilder builder,
                                               const compiler::SnapshotMeta& meta,
                                               const formats::SigningKey& key) {
    test::TempDir dir;
    auto compiled = std::move(builder).build();
    REQUIRE(compiled);
    const std::string path = dir.path + "/f";
    REQUIRE(compiled->write_file(path, meta, key));
    const std::string bytes = test::read_file(path);
    auto opened = meta.base_serial != 0 ? formats::Snapshot::open_patch_buffer(bytes, {key.trusted()})
                                        : formats::Snapshot::open_buffer(bytes, {key.trusted()});
    REQUIRE(opened);
    return *opened;
}

struct Fixture {
    formats::SigningKey key = test::test_key();
    std::shared_ptr<const formats::Snapshot> base;
    std::shared_ptr<const formats::Snapshot> patch;

    Fixture() {
        compiler::SnapshotBuilder b;
        auto star = b.add_domain({.host = "*", .is_default = true});
        auto go = b.add_domain({.host = "go.example", .default_redirect = 301});
        auto old = b.add_domain({.host = "old.example"});
        REQUIRE(b.add_link({.domain = *star, .code = "keep", .destination = "https://a.example/keep"}));
        REQUIRE(b.add_link({.domain = *star, .code = "edit", .destination = "https://a.example/v1"}));
        REQUIRE(b.add_link({.domain = *go, .code = "g", .destination = "https://g.example/"}));
        REQUIRE(b.add_link({.domain = *old, .code = "o", .destination = "https://o.example/"}));
        base = write(std::move(b), {.serial = 10, .created_at = 1}, key);

        // Since then: "edit" changed, "new" added, go.example's default changed (complete), and
        // old.example removed (absent from the patch's domain table).
        compiler::SnapshotBuilder p;
        auto pstar = p.add_domain({.host = "*", .is_default = true});
        auto pgo = p.add_domain({.host = "go.example", .default_redirect = 308, .complete = true});
        REQUIRE(p.add_link({.domain = *pstar, .code = "edit", .destination = "https://a.example/v2"}));
        REQUIRE(p.add_link({.domain = *pstar, .code = "new", .destination = "https://a.example/new"}));
        REQUIRE(p.add_link({.domain = *pgo, .code = "g", .destination = "https://g.example/"}));
        REQUIRE(p.set_deny({{formats::DenyKind::link, "*", "keep"}}));
        patch = write(std::move(p), {.serial = 12, .created_at = 2, .base_serial = 10}, key);
    }

    serve::Response get(const serve::PatchedSnapshot& view, const formats::DenySet* deny,
                        std::string_view target, std::string_view host = "x") const {
        return serve::answer(&view, deny, serve::Request{serve::Method::get, target, host}, k_now);
    }
};

}  // namespace

TEST_CASE("PatchAnswersFirstBaseForTheRest", "[patched]") {
    Fixture f;
    REQUIRE(f.patch->is_patch());
    CHECK(f.patch->base_serial() == 10);
    auto view = serve::PatchedSnapshot::make(f.base, f.patch);
    REQUIRE(view);
    const auto location = [&](std::string_view target, std::string_view host = "x") {
        return serve::location_string(f.get(*view, nullptr, target, host));
    };
    CHECK(location("/edit") == "https://a.example/v2");
    CHECK(location("/new") == "https://a.example/new");
    CHECK(location("/keep") == "https://a.example/keep");  // from the base
    CHECK(f.get(*view, nullptr, "/g", "go.example").status == 308);  // the domain's new default
    CHECK(f.get(*view, nullptr, "/missing").status == 404);
    // A removed domain's host falls to the default domain, which has no "o".
    CHECK(f.get(*view, nullptr, "/o", "old.example").status == 404);
}

TEST_CASE("CompleteDomainNeverFallsThroughToTheBase", "[patched]") {
    Fixture f;
    auto view = serve::PatchedSnapshot::make(f.base, f.patch);
    REQUIRE(view);
    const std::uint32_t go = *view->find_domain("go.example");
    CHECK(view->domain(go).complete);
    CHECK_FALSE(view->lookup(go, "nothere"));
}

TEST_CASE("PatchForAnotherBaseIsNotApplied", "[patched]") {
    Fixture f;
    CHECK_FALSE(serve::PatchedSnapshot::make(f.patch, f.patch));
    CHECK_FALSE(serve::PatchedSnapshot::make(f.patch, f.base));
    compiler::SnapshotBuilder b;
    (void)b.add_domain({.host = "*", .is_default = true});
    auto other = write(std::move(b), {.serial = 11, .created_at = 1}, f.key);
    CHECK_FALSE(serve::PatchedSnapshot::make(other, f.patch));
}

TEST_CASE("NewestOfSnapshotPatchAndOverlayHoldsTheDenySet", "[patched]") {
    Fixture f;
    serve::Serving serving;
    serving.snapshot = f.base;
    CHECK(serving.deny() == &f.base->deny());
    serving.patched = serve::PatchedSnapshot::make(f.base, f.patch);
    CHECK(serving.deny() == &f.patch->deny());
    CHECK(f.get(*serving.patched, serving.deny(), "/keep").status == 410);
}

TEST_CASE("PatchHeaderAndFlagsAreChecked", "[patched]") {
    Fixture f;
    test::TempDir dir;
    // A patch whose base serial is 0, resealed so only the payload check can refuse it.
    compiler::SnapshotBuilder p;
    auto star = p.add_domain({.host = "*", .is_default = true, .complete = true});
    REQUIRE(p.add_link({.domain = *star, .code = "a", .destination = "https://a.example/"}));
    auto compiled = std::move(p).build();
    REQUIRE(compiled);
    REQUIRE(compiled->write_file(dir.path + "/p", {.serial = 12, .created_at = 1, .base_serial = 10}, f.key));
    std::string bytes = test::read_file(dir.path + "/p");
    REQUIRE(formats::Snapshot::open_patch_buffer(bytes, {f.key.trusted()}));
    CHECK(formats::Snapshot::open_buffer(bytes, {f.key.trusted()}).status().message() ==
          "<buffer>: is a patch (file kind 3), not a snapshot");
    std::string zero_base = bytes;
    formats::bytes::store<std::uint64_t>(reinterpret_cast<std::uint8_t*>(zero_base.data()) + fmt::k_off_base_serial, 0);
    auto st = formats::Snapshot::open_patch_buffer(test::reseal(zero_base, f.key), {f.key.trusted()}).status();
    CHECK(st.message().find("base serial") != std::string::npos);
    // The complete flag is a patch's: a snapshot carrying it is refused.
    std::string as_snapshot = zero_base;
    formats::bytes::store<std::uint32_t>(reinterpret_cast<std::uint8_t*>(as_snapshot.data()) + fmt::k_off_file_kind, 1);
    st = formats::Snapshot::open_buffer(test::reseal(as_snapshot, f.key), {f.key.trusted()}).status();
    CHECK(st.message().find("invalid redirect type, flags or reserved bytes") != std::string::npos);
}
