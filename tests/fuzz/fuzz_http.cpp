// The HTTP fuzz target: a connection's bytes through the request parser, the request target and
// Host parsing and the redirect answer, as serve/connection.cpp drives them, minus the socket.

// GCC 12 at -O1 with -fsanitize=address reports a false "may be used uninitialized" on a
// temporary of the fixture's constructor (as it does in serve/connection.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/error.hpp>

#include "compiler/deny_publish.h"
#include "compiler/snapshot_builder.h"
#include "formats/deny.h"
#include "formats/rules.h"
#include "formats/snapshot.h"
#include "serve/answer.h"
#include "serve/patched.h"
#include "serve/request_parser.h"
#include "serve/response_writer.h"
#include "tests/formats/snapshot_fixture.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

namespace http = boost::beast::http;
using namespace shortlink::serve;

// The server's defaults (serve/config.h).
constexpr std::uint32_t k_max_header_bytes = 8192;
constexpr std::uint32_t k_max_header_count = 100;
constexpr std::uint64_t k_max_body_bytes = 1 << 20;
constexpr std::int64_t k_now = 1'800'000'000;
constexpr std::string_view k_date = "Fri, 15 Jan 2027 08:00:00 GMT";
constexpr std::string_view k_country_header = "CF-IPCountry";

// Writes `builder` as a signed file and opens it (a patch when `base_serial` is set).
std::shared_ptr<const formats::Snapshot> compile(compiler::SnapshotBuilder builder, std::uint64_t serial,
                                                 std::uint64_t base_serial, const formats::SigningKey& key) {
    auto compiled = std::move(builder).build();
    test::TempDir dir;
    const std::string path = dir.path + "/f";
    if (!compiled || !compiled->write_file(path, {.serial = serial, .created_at = 1, .base_serial = base_serial}, key)) {
        fail("cannot build the served snapshot", path);
    }
    const std::string bytes = test::read_file(path);
    auto opened = base_serial != 0 ? formats::Snapshot::open_patch_buffer(bytes, {key.trusted()})
                                   : formats::Snapshot::open_buffer(bytes, {key.trusted()});
    if (!opened) {
        fail("cannot open the served snapshot", opened.status().message());
    }
    return *opened;
}

// Rules of every condition kind, some on blocked destinations, for the link "ruled".
std::string rule_list() {
    using formats::RuleKind;
    const auto condition = [](RuleKind kind) {
        formats::RuleConditionInput c;
        c.kind = kind;
        return c;
    };
    std::vector<formats::RuleInput> rules;
    formats::RuleConditionInput device = condition(RuleKind::device);
    device.device_mask = 0x0b;  // ios, android, mobile
    formats::RuleConditionInput lang = condition(RuleKind::lang);
    lang.values = {"fr", "en-US", "es-419"};
    rules.push_back({308, "https://dest.example/device-lang", {device, lang}});
    formats::RuleConditionInput country = condition(RuleKind::country);
    country.values = {"BE", "FR"};
    rules.push_back({0, "https://sub.evil.example/country", {country}});
    formats::RuleConditionInput ip = condition(RuleKind::ip);
    ip.networks.push_back({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0, 124});  // 192.0.2.0/28: not the client
    rules.push_back({0, "https://dest.example/ip", {ip}});
    formats::RuleConditionInput query = condition(RuleKind::query);
    query.query_name = "src";
    query.query_value = "qr";
    query.has_query_value = true;
    formats::RuleConditionInput after = condition(RuleKind::after);
    after.time = k_now - 10;
    formats::RuleConditionInput before = condition(RuleKind::before);
    before.time = k_now + 10;
    rules.push_back({307, "https://dest.example/query-time?z=1#f", {query, after, before}});
    formats::RuleConditionInput split = condition(RuleKind::split);
    split.split_from = 0;
    split.split_to = 40;
    rules.push_back({0, "https://dest.example/split", {split}});
    auto encoded = formats::encode_rule_list(rules);
    if (!encoded) {
        fail("cannot encode the rules", encoded.status().message());
    }
    return *encoded;
}

// What answers: a snapshot with links of every kind (one with rules of every kind) on a default
// and a case-insensitive domain, a deny set baked in, a patch on top of it, and a newer deny set as an overlay would carry it.
struct Served {
    std::shared_ptr<const formats::Snapshot> base;
    std::shared_ptr<const PatchedSnapshot> patched;
    std::shared_ptr<const formats::DenyOverlay> overlay;

    Served() {
        const formats::SigningKey key = test::test_key();
        using formats::LinkState;
        compiler::SnapshotBuilder b;
        const std::uint32_t star = *b.add_domain({.host = "*", .is_default = true, .cache_max_age_s = 300});
        const std::uint32_t go = *b.add_domain({.host = "go.example.com", .root_url = "https://www.example.com/",
                                                .default_redirect = 301, .case_insensitive = true,
                                                .forward_query = false, .cache_max_age_s = 3600,
                                                .negative_max_age_s = 10});
        const compiler::LinkInput links[] = {
            {.domain = star, .code = "abc", .destination = "https://dest.example/a"},
            {.domain = star, .code = "q", .destination = "https://dest.example/q?x=1", .redirect_type = 307},
            {.domain = star, .code = "frag", .destination = "https://dest.example/f?a=<b>&c=\"d\"#top"},
            {.domain = star, .code = "nofwd", .destination = "https://dest.example/n", .forward_query = 0},
            {.domain = star, .code = "off", .destination = "https://dest.example/off", .status = LinkState::disabled},
            {.domain = star, .code = "gone", .destination = "https://dest.example/g", .status = LinkState::deleted},
            {.domain = star, .code = "old", .destination = "https://dest.example/old", .expires = k_now - 1},
            {.domain = star, .code = "soon", .destination = "https://dest.example/soon", .not_before = k_now + 1},
            {.domain = star, .code = "a/b~c.d", .destination = "https://dest.example/%C3%BC"},
            {.domain = star, .code = "blocked", .destination = "https://dest.example/b"},
            {.domain = star, .code = "evil", .destination = "https://sub.evil.example/x"},
            {.domain = go, .code = "Docs", .destination = "https://docs.example.com/"},
            {.domain = go, .code = "edit", .destination = "https://docs.example.com/v1"},
        };
        for (const compiler::LinkInput& link : links) {
            if (!b.add_link(link)) {
                fail("cannot add a link", link.code);
            }
        }
        const std::string rules = rule_list();
        if (!b.add_link({.domain = star, .code = "ruled", .destination = "https://dest.example/ruled", .rules = rules})) {
            fail("cannot add the link with rules", "ruled");
        }
        const std::vector<formats::DenyEntry> deny = {{formats::DenyKind::link, "*", "blocked"},
                                                      {formats::DenyKind::destination, "evil.example", ""}};
        if (!b.set_deny(deny)) {
            fail("cannot set the deny set", "");
        }
        base = compile(std::move(b), 10, 0, key);

        compiler::SnapshotBuilder p;
        const std::uint32_t pstar = *p.add_domain({.host = "*", .is_default = true});
        const std::uint32_t pgo = *p.add_domain({.host = "go.example.com", .default_redirect = 308,
                                                 .case_insensitive = true, .complete = true});
        if (!p.add_link({.domain = pstar, .code = "abc", .destination = "https://dest.example/a2"}) ||
            !p.add_link({.domain = pstar, .code = "new", .destination = "https://dest.example/new?z=1"}) ||
            !p.add_link({.domain = pgo, .code = "edit", .destination = "https://docs.example.com/v2"}) ||
            !p.set_deny({{formats::DenyKind::domain, "go.example.com", ""}})) {
            fail("cannot build the patch", "");
        }
        patched = PatchedSnapshot::make(base, compile(std::move(p), 11, 10, key));

        if (!patched) {
            fail("the patch does not apply to its base", "");
        }
        // A newer deny set, as `shortlink overlay` publishes it.
        test::TempDir dir;
        const std::string path = dir.path + "/deny-12.sldeny";
        if (!compiler::write_deny_overlay(path,
                                          {{formats::DenyKind::link, "*", "abc"},
                                           {formats::DenyKind::destination, "dest.example", ""}},
                                          {.serial = 12, .created_at = 1}, key)) {
            fail("cannot write the deny overlay", path);
        }
        auto opened = formats::DenyOverlay::open_buffer(test::read_file(path), {key.trusted()});
        if (!opened) {
            fail("cannot open the deny overlay", opened.status().message());
        }
        overlay = *opened;
    }
};

// One connection: the stream arrives `chunk` bytes per read into one buffer (the connection's
// is reused and compacted; here it simply holds everything), each request is parsed by a fresh
// parser and answered once its header is complete, its body read and discarded.
class Connection {
public:
    Connection(std::string_view stream, std::size_t chunk, const Served& served, bool use_patch,
               bool use_overlay)
        : m_stream(stream), m_chunk(chunk), m_served(served), m_use_patch(use_patch), m_use_overlay(use_overlay) {}

    // Every request answered and the stream ended on a request boundary without an error.
    bool run() {
        std::size_t parse = 0;
        std::size_t begin = 0;
        std::size_t available = std::min(m_chunk, m_stream.size());
        bool answered = false;
        std::optional<RequestParser> parser;
        while (true) {
            if (!parser) {
                parser.emplace(m_stream.data(), m_stream.size(), k_max_header_count, false, k_country_header);
                parser->header_limit(k_max_header_bytes);
                parser->body_limit(k_max_body_bytes);
                begin = parse;
                answered = false;
            }
            if (parse == available) {
                if (available == m_stream.size()) {
                    return m_answered > 0 && parse == begin;  // the peer closed between requests
                }
                available = std::min(m_stream.size(), available + m_chunk);
                continue;
            }
            boost::system::error_code ec;
            const std::size_t used =
                parser->put(boost::asio::const_buffer(m_stream.data() + parse, available - parse), ec);
            parse += used;
            if (ec == http::error::need_more) {
                if (!parser->is_header_done() && available - begin > k_max_header_bytes) {
                    return refuse(431);
                }
                if (available == m_stream.size()) {
                    return false;  // the peer closed inside a request
                }
                available = std::min(m_stream.size(), available + m_chunk);
                continue;
            }
            if (ec) {
                const bool version = ec == http::error::bad_version &&
                                     is_unsupported_version(m_stream.data() + begin, m_stream.data() + available);
                if (ec == http::error::header_limit || parser->flaw() == ParseFlaw::too_many_fields) {
                    return refuse(431);
                }
                return refuse(version ? 505 : ec == http::error::body_limit ? 413 : 400);
            }
            if (parser->is_header_done() && !answered) {
                if (!answer(*parser, begin, parse)) {
                    return false;
                }
                answered = true;
                begin = parse;
            }
            if (parser->is_done()) {
                parser.reset();
                if (m_close) {
                    return true;
                }
            }
        }
    }

private:
    bool refuse(std::uint16_t status) {
        std::string out;
        write_error(out, status, k_date);
        if (check_response(out, false) != out.size() || out.find("Connection: close\r\n") == std::string::npos) {
            fail("error response", out);
        }
        return false;
    }

    std::string_view inside(RequestParser::Span span) const {
        if (span.offset > m_stream.size() || span.size > m_stream.size() - span.offset) {
            fail("the parser's span lies outside the buffer", m_stream);
        }
        return m_stream.substr(span.offset, span.size);
    }

    bool answer(const RequestParser& p, std::size_t begin, std::size_t parsed) {
        if (has_obs_fold(m_stream.data() + begin, m_stream.data() + parsed)) {
            return refuse(400);
        }
        if (p.version() / 10 != 1) {
            return refuse(505);
        }
        if (p.version() == 11 && !p.has_host()) {
            return refuse(400);
        }
        Request request;
        request.method = p.verb() == http::verb::get    ? Method::get
                         : p.verb() == http::verb::head ? Method::head
                                                        : Method::other;
        request.target = inside(p.target());
        request.host = p.has_host() ? inside(p.host()) : std::string_view{};
        request.client.user_agent = inside(p.client_field(ClientField::user_agent));
        request.client.accept_language = inside(p.client_field(ClientField::accept_language));
        request.client.ch_mobile = inside(p.client_field(ClientField::ch_mobile));
        request.client.ch_platform = inside(p.client_field(ClientField::ch_platform));
        request.client.country = inside(p.client_field(ClientField::country));
        request.client.has_address = true;
        request.client.address = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 77};
        request.country_header = k_country_header;
        const formats::DenySet* deny = m_use_overlay ? &m_served.overlay->deny() : &m_served.base->deny();
        const Response response = m_use_patch ? serve::answer(m_served.patched.get(), deny, request, k_now)
                                              : serve::answer(m_served.base.get(), deny, request, k_now);
        check_answer(response, request);
        m_close = !p.keep_alive();
        FramingOptions framing;
        framing.close = m_close;
        framing.http10_keep_alive = !m_close && p.version() == 10;
        std::string out;
        if (!write_response(out, response, framing, k_date)) {
            fail("a Location the writer refused", location_string(response));
        }
        if (check_response(out, response.head) != out.size()) {
            fail("bytes after the response", out);
        }
        ++m_answered;
        return true;
    }

    // What the answer promises whatever the request: a redirect goes to an absolute http(s) URL
    // that is the destination with at most the request's query added.
    static void check_answer(const Response& r, const Request& request) {
        const bool redirect = r.status == 301 || r.status == 302 || r.status == 307 || r.status == 308;
        if (redirect != r.has_location() || (r.head != (request.method == Method::head) && r.status != 405)) {
            fail("status and Location disagree", location_string(r));
        }
        if (redirect) {
            const std::string location = location_string(r);
            if (!location.starts_with("https://") && !location.starts_with("http://")) {
                fail("a Location that is not an absolute URL", location);
            }
            if (!r.location_query.empty() && request.target.find(r.location_query) == std::string_view::npos) {
                fail("a forwarded query the request did not carry", r.location_query);
            }
        }
        if ((r.rule != 0 || r.vary_accept_language || !r.vary_country.empty() ||
             r.cache == CacheKind::private_max_age) &&
            (r.status < 301 || r.status > 308)) {
            fail("a rule's marks on an answer that is not a redirect", reason_name(r.reason));
        }
        if (body_text(r).empty() && !redirect) {
            fail("an answer without a body text", reason_name(r.reason));
        }
    }

    std::string_view m_stream;
    std::size_t m_chunk;
    const Served& m_served;
    bool m_use_patch;
    bool m_use_overlay;
    bool m_close = false;
    std::size_t m_answered = 0;
};

}  // namespace

int fuzz_http_one(const std::uint8_t* data, std::size_t size) {
    static const Served served;
    if (size == 0) {
        return 0;
    }
    // Bits 0-5 of the first byte: bytes per read (0: the whole stream at once); bit 6: answer
    // through the patch; bit 7: with the overlay's deny set.
    const std::size_t chunk = (data[0] & 0x3f) == 0 ? size : (data[0] & 0x3f);
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    Connection connection(stream, chunk, served, (data[0] & 0x40) != 0, (data[0] & 0x80) != 0);
    return connection.run() ? 1 : 0;
}

}  // namespace shortlink::fuzz
