#include "serve/config.h"

#include "formats/keys.h"

#include <charconv>

#include <boost/asio/ip/address.hpp>

namespace shortlink::serve {

Result<Endpoint> parse_endpoint(const std::string& text) {
    std::string address;
    std::string port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return Status::invalid_argument("bad address '" + text + "': expected [IPV6]:PORT");
        }
        address = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string::npos || colon == 0) {
            return Status::invalid_argument("bad address '" + text + "': expected ADDR:PORT");
        }
        address = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    boost::system::error_code ec;
    boost::asio::ip::make_address(address, ec);
    if (ec) {
        return Status::invalid_argument("bad address '" + text + "': '" + address +
                                        "' is not a numeric IPv4 or IPv6 address");
    }
    unsigned value = 0;
    const auto res = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || res.ec != std::errc() || res.ptr != port.data() + port.size() || value > 65535) {
        return Status::invalid_argument("bad address '" + text + "': port must be 0-65535");
    }
    return Endpoint{address, static_cast<std::uint16_t>(value)};
}

Result<formats::TrustedKeys> load_trusted_keys(const std::vector<std::string>& paths) {
    formats::TrustedKeys keys;
    for (const std::string& path : paths) {
        auto key = formats::load_public_key(path);
        if (!key) {
            return key.status();
        }
        keys.push_back(std::move(key).value());
    }
    return keys;
}

}  // namespace shortlink::serve
