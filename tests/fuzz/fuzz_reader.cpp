// The signed file fuzz target: snapshots, deny overlays, patches and origin indexes (formats/), and the redirect
// answer for every link of a file that opens (serve/answer.h, serve/response_writer.h).
#include <string>

#include "formats/bytes.h"
#include "formats/deny.h"
#include "formats/hash.h"
#include "formats/origin_index.h"
#include "formats/snapshot.h"
#include "formats/snapshot_format.h"
#include "serve/answer.h"
#include "serve/response_writer.h"
#include "tests/formats/snapshot_fixture.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

// Every entry of a deny set finds itself; foreign keys and hostile URLs are answered.
std::size_t exercise_deny(const formats::DenySet& deny) {
    std::size_t sink = 0;
    deny.for_each([&](formats::DenyKind kind, std::string_view host, std::string_view code) {
        switch (kind) {
        case formats::DenyKind::link: sink += deny.blocks_link(host, code) ? 1 : 0; break;
        case formats::DenyKind::domain: sink += deny.blocks_domain(host) ? 1 : 0; break;
        case formats::DenyKind::destination:
            sink += deny.blocks_destination("https://" + std::string(host) + "/") ? 1 : 0;
            break;
        }
    });
    for (const char* url : {"https://a.b.example/x", "http://[::1]:80/", "https://u@h:1", "x", "",
                            "https://", "https://.../", "mailto:x"}) {
        sink += deny.blocks_destination(url) ? 1 : 0;
    }
    sink += deny.blocks_link("*", "abc") ? 1 : 0;
    sink += deny.blocks_domain("go.example") ? 1 : 0;
    return sink;
}

// What a server answers for a link: whatever the signed bytes say, the response it writes is
// well framed, and a Location it would not send (CR, LF, NUL) is refused, never written.
std::size_t answer_for(const formats::Snapshot& s, const formats::LinkView& l) {
    const formats::DomainView domain = s.domain(l.domain_index);
    const std::string target = "/" + std::string(l.code) + "?q=1";
    serve::Request request;
    request.target = target;
    request.host = domain.is_default ? std::string_view("any.example") : domain.host;
    const serve::Response response = serve::answer(&s, &s.deny(), request, 1'800'000'000);
    std::string out;
    const bool written = serve::write_response(out, response, {}, "Fri, 15 Jan 2027 08:00:00 GMT");
    const std::string location = serve::location_string(response);
    if (written != serve::is_safe_header_value(location)) {
        fail("write_response and is_safe_header_value disagree on a Location", location);
    }
    return check_response(out, false);
}

// Lookups of every link the walk finds, of a foreign code in every domain, and of absurd keys.
std::size_t exercise(const formats::Snapshot& s) {
    std::size_t sink = 0;
    const Status walked = s.for_each_link([&](const formats::LinkView& l) {
        sink += l.destination.size();
        // Every rule list a link names was proven at open: it walks to its end.
        l.rules.for_each([&](std::size_t, const formats::RuleView& r) {
            sink += r.destination.size();
            r.all_conditions([&](const formats::RuleConditionView& c) {
                sink += formats::condition_text(c).size();
                return true;
            });
            return true;
        });
        auto again = s.lookup(l.domain_index, l.code);
        sink += again ? again->code.size() : 0;
        sink += s.deny().blocks(s.domain(l.domain_index).host, l.code, l.destination) ? 1 : 0;
        sink += answer_for(s, l);
    });
    sink += walked.is_ok() ? 1 : 0;
    sink += exercise_deny(s.deny());
    for (std::uint32_t d = 0; d < s.domain_count(); ++d) {
        sink += s.domain(d).host.size();
        sink += s.lookup(d, "abc").has_value() ? 1 : 0;
        sink += s.find_domain(s.domain(d).host).value_or(0);
    }
    sink += s.find_domain("no.such.host").value_or(0);
    sink += s.lookup(0x7fffffff, "x").has_value() ? 1 : 0;
    return sink;
}

// Lookups before the deferred checks ran: they must prove what they read, whatever the bytes.
std::size_t exercise_lazy(const formats::Snapshot& s) {
    std::size_t sink = 0;
    for (std::uint32_t d = 0; d < s.domain_count() && d < 8; ++d) {
        for (const char* code : {"abc", "k0", "k1", "a/b", "x"}) {
            sink += s.lookup(d, code).has_value() ? 1 : 0;
        }
    }
    sink += s.finish_verification().is_ok() ? 1 : 0;
    return sink + exercise(s);
}

}  // namespace

int fuzz_reader_one(const std::uint8_t* data, std::size_t size) {
    // Two passes over the input: as it is but without the signature (inspect's path, the
    // checksums recomputed so the fuzzer gets past them), and re-signed by a trusted key and
    // opened lazily (a server's cold start over authentic but arbitrary content). The two must
    // agree: a file a full open refuses must fail the lazy open or its deferred checks.
    static const formats::SigningKey key = test::test_key();
    const std::string bytes = test::reseal(std::string(reinterpret_cast<const char*>(data), size), key);
    std::size_t sink = 0;
    formats::OpenOptions options;
    options.verify_signature = false;
    bool snapshot = false;
    bool patch = false;
    bool overlay = false;
    if (auto opened = formats::Snapshot::open_buffer(bytes, {}, options, "fuzz")) {
        sink += exercise(**opened);
        snapshot = true;
    }
    if (auto opened = formats::DenyOverlay::open_buffer(bytes, {}, options, "fuzz")) {
        sink += exercise_deny((*opened)->deny());
        overlay = true;
    }
    if (auto opened = formats::Snapshot::open_patch_buffer(bytes, {}, options, "fuzz")) {
        sink += exercise(**opened);
        patch = true;
    }
    options.verify_signature = true;
    options.lazy_content = true;
    const auto lazily = [&](const Result<std::shared_ptr<const formats::Snapshot>>& opened, bool full, const char* kind) {
        bool verified = false;
        if (opened) {
            sink += exercise_lazy(**opened);
            verified = (*opened)->intact() && (*opened)->fully_verified();
        }
        if (verified != full) {
            fail(full ? "a lazy open refuses what a full open accepts" : "a lazy open accepts what a full open refuses",
                 kind);
        }
    };
    lazily(formats::Snapshot::open_buffer(bytes, {key.trusted()}, options, "fuzz"), snapshot, "snapshot");
    lazily(formats::Snapshot::open_patch_buffer(bytes, {key.trusted()}, options, "fuzz"), patch, "patch");
    if (auto opened = formats::DenyOverlay::open_buffer(bytes, {key.trusted()}, {}, "fuzz")) {
        sink += exercise_deny((*opened)->deny());
    }
    bool index = false;
    if (auto opened = formats::OriginIndex::open_buffer(bytes, {key.trusted()}, "fuzz")) {
        // What the reader accepts, the writer's own rules accept too.
        if (!formats::index_contents_problem(opened->contents()).empty()) {
            fail("an origin index opens with contents the writer refuses", "index");
        }
        for (const formats::IndexedFile& f : opened->contents().files()) {
            sink += f.name().size();
        }
        index = true;
    }
    return sink == static_cast<std::size_t>(-1) ? 2 : (snapshot || patch || overlay || index ? 1 : 0);
}

}  // namespace shortlink::fuzz
