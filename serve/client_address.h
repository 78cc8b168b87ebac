// The client's address: the peer of the connection, or, when that peer is a proxy the server
// trusts (serve --trusted-proxy), the right-most address of X-Forwarded-For that no trusted
// proxy added. Everything that reads "the client's address" reads this one: ip rules, the split
// hash, the GeoIP country, the miss budget and the click log.
//
// X-Forwarded-For is a list each proxy appends its peer to, so only its right end is written by
// proxies the server trusts; anything to the left of the first untrusted address may be forged
// by the client. The walk goes right to left from the peer, past trusted proxies, and stops at
// the first address that is not one:
//
//   - the peer is not a trusted proxy: the header is ignored, the client is the peer;
//   - an entry is an IPv4 address, an IPv6 address, either with a port ("192.0.2.1:4711",
//     "[2001:db8::1]:443"), or empty (list syntax allows empty elements; skipped);
//   - an entry that is anything else (garbage, "unknown", an obfuscated RFC 7239 identifier, an
//     IPv6 address with a zone, which names an interface of the proxy, not a client) ends the
//     walk: the client is the last trusted proxy reached, and the result says the header was
//     malformed. A forged entry cannot become the client that way; only a trusted proxy could
//     put it to the right of the client's own address;
//   - past k_max_forwarded_hops addresses, or when the header runs out while every address was
//     trusted, the client is the left-most address reached.
//
// Several X-Forwarded-For lines count as one list in order (RFC 9110 5.3): HAProxy appends a
// line of its own rather than extending the client's.
//
// Thread-safety: pure functions and an immutable list.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace shortlink::serve {

// 16 bytes; an IPv4 address as ::ffff:a.b.c.d, as rules compare it (serve/rules_eval.h).
using Address16 = std::array<std::uint8_t, 16>;

// A network: its address bytes (host bits zero) and a prefix length counted on the 16 bytes.
// Whether the first `prefix` bits (0..128) of `a` are those of `network` (16 bytes, IPv4 as
// ::ffff:a.b.c.d, the bits after the prefix zero).
bool in_prefix(const Address16& a, const std::uint8_t* network, unsigned prefix);

struct Network {
    Address16 address{};
    unsigned prefix = 0;  // 0..128; an IPv4 /n is 96 + n
    bool contains(const Address16& a) const { return in_prefix(a, address.data(), prefix); }
};

// An address ("192.0.2.7", "2001:db8::1") or a network ("10.0.0.0/8", "fd00::/8") as
// --trusted-proxy takes it. A network with bits set after its prefix, a zone, a port or spaces
// are refused with a message that says which.
Result<Network> parse_network(std::string_view text);

// The proxies whose X-Forwarded-For entries are believed.
class TrustedProxies {
public:
    TrustedProxies() = default;
    explicit TrustedProxies(std::vector<Network> networks) : m_networks(std::move(networks)) {}
    bool empty() const { return m_networks.empty(); }
    bool contains(const Address16& a) const;

private:
    std::vector<Network> m_networks;
};

// One X-Forwarded-For entry ("192.0.2.1", " 2001:db8::1 ", "192.0.2.1:80", "[::1]:80") without
// surrounding spaces and tabs; false when it is not an address.
bool parse_forwarded_entry(std::string_view entry, Address16& out);

// Addresses examined at most: a chain of proxies is a handful long; a header longer than that
// is not worth walking (the client is then the last address reached).
inline constexpr std::size_t k_max_forwarded_hops = 32;

struct ForwardedClient {
    Address16 address{};
    bool from_header = false;  // the address came from X-Forwarded-For, not the peer
    bool malformed = false;    // the walk stopped at an entry that is not an address
    bool too_long = false;     // the walk stopped after k_max_forwarded_hops addresses
};

// The client of a request whose connection's peer is `peer`, with the X-Forwarded-For lines
// `lines` (in the order received; empty: none).
ForwardedClient forwarded_client(const Address16& peer, const TrustedProxies& trusted,
                                 const std::string_view* lines, std::size_t line_count);

// Whether `a` is an IPv4 address (::ffff:a.b.c.d).
bool is_v4_mapped(const Address16& a);

// "192.0.2.7" for ::ffff:192.0.2.7, "2001:db8::1" otherwise.
std::string address_text(const Address16& a);

}  // namespace shortlink::serve
