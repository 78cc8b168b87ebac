// The client's address behind trusted proxies (serve/client_address.h): --trusted-proxy values,
// X-Forwarded-For entries as proxies write them (ports, brackets, spaces) and as attackers do
// (garbage, zones, endless lists), and the right-to-left walk over several header lines.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "serve/client_address.h"

using namespace shortlink::serve;

namespace {

Address16 addr(std::string_view text) {
    Address16 a{};
    REQUIRE(parse_forwarded_entry(text, a));
    return a;
}

TrustedProxies trusted(std::vector<std::string> texts) {
    std::vector<Network> networks;
    for (const std::string& t : texts) {
        auto n = parse_network(t);
        REQUIRE(n.is_ok());
        networks.push_back(*n);
    }
    return TrustedProxies(std::move(networks));
}

ForwardedClient walk(std::string_view peer, const TrustedProxies& proxies, std::vector<std::string_view> lines) {
    return forwarded_client(addr(peer), proxies, lines.data(), lines.size());
}

}  // namespace

TEST_CASE("trusted proxy networks are parsed strictly", "[client_address]") {
    auto n = parse_network("10.0.0.0/8");
    REQUIRE(n.is_ok());
    CHECK(n->prefix == 104);
    CHECK(n->contains(addr("10.200.3.4")));
    CHECK_FALSE(n->contains(addr("11.0.0.1")));
    CHECK_FALSE(n->contains(addr("::a00:1")));  // IPv4-compatible is not IPv4
    auto one = parse_network("192.0.2.7");
    REQUIRE(one.is_ok());
    CHECK(one->prefix == 128);
    auto v6 = parse_network("2001:db8::/32");
    REQUIRE(v6.is_ok());
    CHECK(v6->contains(addr("2001:db8:ffff::1")));
    CHECK_FALSE(v6->contains(addr("2001:db9::1")));
    CHECK(parse_network("0.0.0.0/0")->contains(addr("203.0.113.9")));
    CHECK_FALSE(parse_network("0.0.0.0/0")->contains(addr("2001:db8::1")));

    CHECK(parse_network("10.0.0.1/8").status().message() ==
          "'10.0.0.1/8' has bits set after its /8 prefix (the network is 10.0.0.0/8)");
    CHECK(parse_network("10.0.0.0/33").status().message() == "'10.0.0.0/33': the prefix length must be 0 to 32");
    CHECK(parse_network("10.0.0.0/08").status().message() == "'10.0.0.0/08': the prefix length must be 0 to 32");
    CHECK(parse_network("10.0.0.0/").status().message() == "'10.0.0.0/': the prefix length must be 0 to 32");
    CHECK(parse_network("fe80::1%eth0").status().message() ==
          "'fe80::1%eth0': an address with a zone names an interface, not a network");
    CHECK(parse_network("proxy.example").status().message() ==
          "'proxy.example' is not an IPv4 or IPv6 address or network (as 10.0.0.0/8)");
    CHECK_FALSE(parse_network("").is_ok());
    CHECK_FALSE(parse_network(" 10.0.0.0/8").is_ok());
    CHECK_FALSE(parse_network("10.0.0.0:80").is_ok());
    CHECK_FALSE(parse_network("2001:db8::/129").is_ok());
}

TEST_CASE("X-Forwarded-For entries with ports, brackets and spaces", "[client_address]") {
    Address16 a{};
    CHECK(parse_forwarded_entry(" 192.0.2.1 ", a));
    CHECK(address_text(a) == "192.0.2.1");
    CHECK(parse_forwarded_entry("192.0.2.1:4711", a));
    CHECK(address_text(a) == "192.0.2.1");
    CHECK(parse_forwarded_entry("\t2001:db8::1", a));
    CHECK(address_text(a) == "2001:db8::1");
    CHECK(parse_forwarded_entry("[2001:db8::2]", a));
    CHECK(address_text(a) == "2001:db8::2");
    CHECK(parse_forwarded_entry("[2001:db8::3]:443", a));
    CHECK(address_text(a) == "2001:db8::3");
    CHECK(parse_forwarded_entry("::ffff:198.51.100.1", a));
    CHECK(address_text(a) == "198.51.100.1");

    for (std::string_view bad : {"", "   ", "unknown", "_hidden", "192.0.2.1:", "192.0.2.1:65536",
                                 "192.0.2.1:80:80", "192.0.2.256", "192.0.2", "1.2.3.4.5", "[192.0.2.1]",
                                 "[2001:db8::1", "[2001:db8::1]80", "[2001:db8::1]:x", "fe80::1%eth0",
                                 "[fe80::1%25eth0]:80", "2001:db8::1:80:80:80:80:80", "0x7f.1",
                                 "192.0.2.1 extra", "for=192.0.2.1"}) {
        INFO(bad);
        CHECK_FALSE(parse_forwarded_entry(bad, a));
    }
    CHECK_FALSE(parse_forwarded_entry(std::string(5000, '1'), a));
    CHECK_FALSE(parse_forwarded_entry(std::string("192.0.2.1\0", 10), a));
}

TEST_CASE("the client is the right-most address no trusted proxy added", "[client_address]") {
    const TrustedProxies proxies = trusted({"10.0.0.0/8", "2001:db8:ffff::/48"});
    // The peer is not a proxy: the header is the client's own words, ignored.
    ForwardedClient c = walk("203.0.113.5", proxies, {"198.51.100.1"});
    CHECK(address_text(c.address) == "203.0.113.5");
    CHECK_FALSE(c.from_header);
    // One proxy; a client that forged an entry of its own on the left.
    c = walk("10.0.0.2", proxies, {"1.1.1.1, 198.51.100.1"});
    CHECK(address_text(c.address) == "198.51.100.1");
    CHECK(c.from_header);
    CHECK_FALSE(c.malformed);
    // A chain of trusted proxies, over IPv6 and IPv4.
    c = walk("2001:db8:ffff::9", proxies, {"7.7.7.7, 198.51.100.2, 10.1.1.1, 10.2.2.2"});
    CHECK(address_text(c.address) == "198.51.100.2");
    // Several lines are one list in order: HAProxy appends a line of its own.
    c = walk("10.0.0.2", proxies, {"198.51.100.66", "198.51.100.3"});
    CHECK(address_text(c.address) == "198.51.100.3");
    c = walk("10.0.0.2", proxies, {"198.51.100.4", "10.9.9.9"});
    CHECK(address_text(c.address) == "198.51.100.4");
    // Empty list elements are skipped.
    c = walk("10.0.0.2", proxies, {" , 198.51.100.5 ,, "});
    CHECK(address_text(c.address) == "198.51.100.5");
    // Ports are dropped.
    c = walk("10.0.0.2", proxies, {"[2001:db8::7]:5555"});
    CHECK(address_text(c.address) == "2001:db8::7");
    // No header line at all: the peer.
    c = walk("10.0.0.2", proxies, {});
    CHECK(address_text(c.address) == "10.0.0.2");
    // Nothing trusted: nothing believed.
    c = walk("10.0.0.2", TrustedProxies(), {"198.51.100.1"});
    CHECK(address_text(c.address) == "10.0.0.2");
}

TEST_CASE("hostile X-Forwarded-For never makes a forged entry the client", "[client_address]") {
    const TrustedProxies proxies = trusted({"10.0.0.0/8"});
    // Garbage right behind the proxy: the client is the last trusted address reached.
    ForwardedClient c = walk("10.0.0.2", proxies, {"198.51.100.1, garbage"});
    CHECK(address_text(c.address) == "10.0.0.2");
    CHECK(c.malformed);
    c = walk("10.0.0.2", proxies, {"198.51.100.1, 10.3.3.3, unknown"});
    CHECK(address_text(c.address) == "10.0.0.2");
    CHECK(c.malformed);
    c = walk("10.0.0.2", proxies, {"garbage, 10.3.3.3"});
    CHECK(address_text(c.address) == "10.3.3.3");
    CHECK(c.malformed);
    // Garbage left of the real client is never reached.
    c = walk("10.0.0.2", proxies, {"<script>, 999.1.1.1, 198.51.100.9"});
    CHECK(address_text(c.address) == "198.51.100.9");
    CHECK_FALSE(c.malformed);
    // A zone names an interface of the proxy.
    c = walk("10.0.0.2", proxies, {"fe80::1%eth0"});
    CHECK(address_text(c.address) == "10.0.0.2");
    CHECK(c.malformed);
    // Thousands of trusted-looking entries: the walk stops after k_max_forwarded_hops.
    std::string many;
    for (int i = 0; i < 5000; ++i) {
        many += "10.0.0." + std::to_string(i % 250) + ", ";
    }
    many += "10.0.0.1";
    c = walk("10.0.0.2", proxies, {many});
    CHECK(c.too_long);
    CHECK(c.from_header);
    CHECK(proxies.contains(c.address));  // a proxy's address, never a forged client
    // Every entry trusted, and the list ends: the left-most address reached.
    c = walk("10.0.0.2", proxies, {"10.4.4.4, 10.5.5.5"});
    CHECK(address_text(c.address) == "10.4.4.4");
    CHECK_FALSE(c.too_long);
    // A huge single entry.
    c = walk("10.0.0.2", proxies, {std::string(100000, 'a')});
    CHECK(c.malformed);
    CHECK(address_text(c.address) == "10.0.0.2");
}
