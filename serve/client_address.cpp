#include "serve/client_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "serve/client_class.h"

namespace shortlink::serve {

namespace {

// A numeric address without port or zone; on the stack, as inet_pton wants a C string.
bool parse_plain(std::string_view text, Address16& out) {
    char buffer[INET6_ADDRSTRLEN + 1];
    // A NUL inside would end the C string early and let trailing bytes through.
    if (text.empty() || text.size() >= sizeof buffer || text.find('\0') != std::string_view::npos) {
        return false;
    }
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';
    if (text.find(':') != std::string_view::npos) {
        return inet_pton(AF_INET6, buffer, out.data()) == 1;
    }
    out = {};
    out[10] = 0xff;
    out[11] = 0xff;
    return inet_pton(AF_INET, buffer, out.data() + 12) == 1;
}

bool is_port(std::string_view p) {
    if (p.empty() || p.size() > 5) {
        return false;
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    return ec == std::errc() && end == p.data() + p.size() && value <= 65535;
}

}  // namespace

bool is_v4_mapped(const Address16& a) {
    for (std::size_t i = 0; i < 10; ++i) {
        if (a[i] != 0) {
            return false;
        }
    }
    return a[10] == 0xff && a[11] == 0xff;
}

bool in_prefix(const Address16& a, const std::uint8_t* network, unsigned prefix) {
    const unsigned whole = prefix / 8;
    if (std::memcmp(a.data(), network, whole) != 0) {
        return false;
    }
    const unsigned rest = prefix % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == network[whole];
}

Result<Network> parse_network(std::string_view text) {
    const std::string shown(text);
    const std::size_t slash = text.find('/');
    const std::string_view address = text.substr(0, slash);
    if (address.find('%') != std::string_view::npos) {
        return Status::invalid_argument("'" + shown + "': an address with a zone names an interface, not a network");
    }
    Network n;
    if (!parse_plain(address, n.address)) {
        return Status::invalid_argument("'" + shown + "' is not an IPv4 or IPv6 address or network (as 10.0.0.0/8)");
    }
    const bool v4 = address.find(':') == std::string_view::npos;
    const unsigned bits = v4 ? 32 : 128;
    unsigned prefix = bits;
    if (slash != std::string_view::npos) {
        const std::string_view p = text.substr(slash + 1);
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix > bits ||
            (p.size() > 1 && p[0] == '0')) {
            return Status::invalid_argument("'" + shown + "': the prefix length must be 0 to " +
                                            std::to_string(bits));
        }
    }
    n.prefix = v4 ? 96 + prefix : prefix;
    Network masked = n;
    for (unsigned bit = n.prefix; bit < 128; ++bit) {
        masked.address[bit / 8] = static_cast<std::uint8_t>(masked.address[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    if (masked.address != n.address) {
        return Status::invalid_argument("'" + shown + "' has bits set after its /" + std::to_string(prefix) +
                                        " prefix (the network is " + address_text(masked.address) + "/" +
                                        std::to_string(prefix) + ")");
    }
    return n;
}

bool TrustedProxies::contains(const Address16& a) const {
    for (const Network& n : m_networks) {
        if (n.contains(a)) {
            return true;
        }
    }
    return false;
}

bool parse_forwarded_entry(std::string_view entry, Address16& out) {
    entry = trim_ows(entry);
    if (entry.empty()) {
        return false;
    }
    if (entry.front() == '[') {
        // "[v6]" or "[v6]:port"
        const std::size_t close = entry.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        const std::string_view rest = entry.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || !is_port(rest.substr(1)))) {
            return false;
        }
        const std::string_view inner = entry.substr(1, close - 1);
        return inner.find(':') != std::string_view::npos && parse_plain(inner, out);
    }
    const std::size_t colon = entry.find(':');
    if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
        // One colon: IPv4 with a port.
        return is_port(entry.substr(colon + 1)) && parse_plain(entry.substr(0, colon), out) &&
               is_v4_mapped(out);
    }
    return parse_plain(entry, out);  // a '%' zone makes inet_pton fail
}

ForwardedClient forwarded_client(const Address16& peer, const TrustedProxies& trusted,
                                 const std::string_view* lines, std::size_t line_count) {
    ForwardedClient client;
    client.address = peer;
    if (line_count == 0 || !trusted.contains(peer)) {
        return client;
    }
    std::size_t hops = 0;
    for (std::size_t l = line_count; l-- > 0;) {
        std::string_view line = lines[l];
        while (true) {
            const std::size_t comma = line.rfind(',');
            const std::string_view entry =
                trim_ows(comma == std::string_view::npos ? line : line.substr(comma + 1));
            if (!entry.empty()) {
                Address16 a{};
                if (!parse_forwarded_entry(entry, a)) {
                    client.malformed = true;
                    return client;
                }
                if (hops == k_max_forwarded_hops) {
                    client.too_long = true;
                    return client;
                }
                ++hops;
                client.address = a;
                client.from_header = true;
                if (!trusted.contains(a)) {
                    return client;
                }
            }
            if (comma == std::string_view::npos) {
                break;
            }
            line = line.substr(0, comma);
        }
    }
    return client;
}

std::string address_text(const Address16& a) {
    char text[INET6_ADDRSTRLEN] = {};
    if (is_v4_mapped(a)) {
        inet_ntop(AF_INET, a.data() + 12, text, sizeof text);
    } else {
        inet_ntop(AF_INET6, a.data(), text, sizeof text);
    }
    return text;
}

}  // namespace shortlink::serve
