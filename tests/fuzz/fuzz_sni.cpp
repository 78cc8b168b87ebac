// The certificate selection fuzz target: the file names of a certificate directory
// (serve/certificates.h: HOST.crt, HOST.key, HOST.pem, _.DOMAIN.* for *.DOMAIN, default.*) and
// the server name a client sends, through parse_cert_file_name(), CertTable::select() and
// name_covers(). The certificate a handshake gets is what these three decide; the certificates
// themselves play no part (a table entry here has a host and no context).
#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "serve/certificates.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

using serve::CertFileName;

// A directory holds tens of certificates; more only makes each input slower.
constexpr std::size_t k_max_files = 64;

std::string ascii_case(std::string_view s, bool upper) {
    std::string out(s);
    for (char& c : out) {
        if (upper && c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        } else if (!upper && c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

// A DNS host name: labels of 1 to 63 lowercase letters, digits and hyphens, 253 bytes in all.
bool dns_host(std::string_view host) {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (const char c : host) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label > 0;
}

std::string_view suffix_of(CertFileName::Kind kind) {
    switch (kind) {
    case CertFileName::Kind::crt: return "crt";
    case CertFileName::Kind::key: return "key";
    case CertFileName::Kind::pem: return "pem";
    }
    return "";
}

// parse_cert_file_name() on one name, with what must hold of its answer.
std::optional<CertFileName> file_name(std::string_view name) {
    const auto parsed = serve::parse_cert_file_name(name);
    const std::size_t dot = name.rfind('.');
    const std::string_view suffix = dot == std::string_view::npos ? "" : name.substr(dot + 1);
    const bool certificate_file = !name.empty() && name[0] != '.' && dot != std::string_view::npos &&
                                  (suffix == "crt" || suffix == "key" || suffix == "pem");
    if (parsed.has_value() != certificate_file) {
        fail(parsed ? "a name that is no certificate file was read as one"
                    : "a certificate file name was ignored",
             name);
    }
    if (!parsed) {
        return std::nullopt;
    }
    if (suffix_of(parsed->kind) != suffix) {
        fail("a file's kind is not its suffix", name);
    }
    const std::string& host = parsed->host;
    const bool wildcard = host.starts_with("*.");
    if (!host.empty() && host != "default" && !dns_host(wildcard ? host.substr(2) : host)) {
        fail("a file name stands for something that is not a host name", std::string(name) + " -> " + host);
    }
    // File names are case-insensitive; the suffix is not (GO.EXAMPLE.COM.crt is go.example.com's).
    const std::string stem(name.substr(0, dot));
    for (const bool upper : {true, false}) {
        const auto again = serve::parse_cert_file_name(ascii_case(stem, upper) + "." + std::string(suffix));
        if (!again || again->host != host) {
            fail("a file name means another host in another case", name);
        }
    }
    if (!host.empty()) {
        // The name a deploy hook publishes the host under reads back as the same host...
        const std::string published = (wildcard ? "_." + host.substr(2) : host) + "." + std::string(suffix);
        const auto again = serve::parse_cert_file_name(published);
        if (!again || again->host != host) {
            fail("a host does not read back from its own file name", published);
        }
        // ...and a certificate naming exactly that host in its subjectAltName is accepted for it.
        if (host != "default" && !serve::name_covers(host, host)) {
            fail("a host is not covered by a certificate for that very name", host);
        }
    }
    return parsed;
}

// What select() must answer, from name_covers() over the table: the file of the exact name,
// else the wildcard file that covers the name, else default.
const serve::Certificate* expected(const std::vector<std::shared_ptr<const serve::Certificate>>& all,
                                   std::string_view server_name) {
    if (!server_name.empty() && server_name.back() == '.') {
        server_name.remove_suffix(1);
    }
    const std::string name = ascii_case(server_name, false);
    const serve::Certificate* fallback = nullptr;
    const serve::Certificate* wildcard = nullptr;
    for (const auto& c : all) {
        if (c->host == "default") {
            fallback = c.get();
        } else if (!name.empty() && name.size() <= 253 && c->host == name) {
            return c.get();
        } else if (!name.empty() && name.size() <= 253 && c->host.starts_with("*.") &&
                   serve::name_covers(c->host, name)) {
            if (wildcard != nullptr) {
                fail("two wildcard files cover one name", name);
            }
            wildcard = c.get();
        }
    }
    return wildcard != nullptr ? wildcard : fallback;
}

std::string host_of(const serve::Certificate* c) { return c == nullptr ? "(none)" : c->host; }

}  // namespace

int fuzz_sni_one(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // Lines: the directory's file names, then the server name (empty: the client sent none).
    const std::size_t last = input.rfind('\n');
    const std::string_view server_name = last == std::string_view::npos ? input : input.substr(last + 1);
    const std::string_view listing = last == std::string_view::npos ? "" : input.substr(0, last);

    std::vector<std::shared_ptr<const serve::Certificate>> all;
    std::set<std::string, std::less<>> hosts;
    std::size_t start = 0;
    for (std::size_t files = 0; start < listing.size() + 1 && files < k_max_files; ++files) {
        const std::size_t end = std::min(listing.find('\n', start), listing.size());
        const auto parsed = file_name(listing.substr(start, end - start));
        start = end + 1;
        // One certificate per host, as the directory holds it (HOST.crt with HOST.key, or HOST.pem).
        if (parsed && !parsed->host.empty() && hosts.insert(parsed->host).second) {
            auto c = std::make_shared<serve::Certificate>();
            c->host = parsed->host;
            c->names = {parsed->host};
            all.push_back(std::move(c));
        }
    }

    const serve::CertTable table(all);
    if (table.certificates().size() != all.size() ||
        !std::is_sorted(table.certificates().begin(), table.certificates().end(),
                        [](const auto& a, const auto& b) { return a->host < b->host; })) {
        fail("the table does not hold every certificate, sorted by host", server_name);
    }
    const serve::Certificate* chosen = table.select(server_name);
    // A '*' is in no name a client may send (RFC 6066: a DNS host name), and name_covers() takes
    // it only as a whole first label of a pattern; select() reads it as any other byte of a
    // label ("*x.example.com" gets *.example.com's file), so such names skip the comparison.
    const bool star = server_name.find('*') != std::string_view::npos;
    const serve::Certificate* want = expected(all, server_name);
    if (!star && chosen != want) {
        fail("select() chose " + host_of(chosen) + " where name_covers() says " + host_of(want),
             server_name);
    }
    // A name is a name in any case and with or without its root dot.
    for (const bool upper : {true, false}) {
        if (table.select(ascii_case(server_name, upper)) != chosen) {
            fail("select() chose another certificate in another case", server_name);
        }
    }
    if (!server_name.empty() && server_name.back() != '.' &&
        table.select(std::string(server_name) + ".") != chosen) {
        fail("select() chose another certificate for the absolute name", server_name);
    }
    // Whatever is not default covers the name the client asked for.
    if (!star && chosen != nullptr && chosen->host != "default") {
        std::string_view name = server_name;
        if (name.back() == '.') {
            name.remove_suffix(1);
        }
        if (!serve::name_covers(chosen->host, ascii_case(name, false))) {
            fail("select() chose a certificate that does not cover the name", server_name);
        }
    }
    return chosen != nullptr ? 1 : 0;
}

}  // namespace shortlink::fuzz
