// shortlink qr CODE|SHORT_URL: a QR code of a short link, marked so the server counts its scans.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/url/parse.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/qr_code.h"
#include "compiler/publish.h"
#include "formats/clicks.h"
#include "serve/answer.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

struct QrOptions {
    std::string target;  // a code, or a full short URL
    std::string domain;
    std::string format;
    std::optional<std::int64_t> size;
    std::int64_t margin = qr::k_default_margin;
    std::string ecc = "M";
    std::string out;
    bool compact = false;
    bool no_marker = false;
};

enum class Format { svg, png, txt };

std::string ascii_lower(std::string text) {
    for (char& c : text) {
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return text;
}

Format parse_format(const std::string& text, const char* what) {
    const std::string lower = ascii_lower(text);
    if (lower == "svg") {
        return Format::svg;
    }
    if (lower == "png") {
        return Format::png;
    }
    if (lower == "txt") {
        return Format::txt;
    }
    throw Error(k_exit_usage, std::string(what) + " '" + validate::printable(text) +
                                  "' is not a QR output format (svg, png or txt)");
}

bool writes_stdout(const QrOptions& o) { return o.out.empty() || o.out == "-"; }

// --format, else the extension of --out, else text on a terminal and SVG into a pipe or file.
Format output_format(const QrOptions& o) {
    if (!o.format.empty()) {
        return parse_format(o.format, "--format");
    }
    if (!writes_stdout(o)) {
        const std::size_t slash = o.out.rfind('/');
        const std::size_t dot = o.out.rfind('.');
        if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
            throw Error(k_exit_usage, "cannot tell the format of --out '" + validate::printable(o.out) +
                                          "' without an extension: name it .svg, .png or .txt, or give --format");
        }
        try {
            return parse_format(o.out.substr(dot + 1), "the extension of --out");
        } catch (const Error& e) {
            throw Error(k_exit_usage, std::string(e.what()) + "; give --format to choose one");
        }
    }
    return ::isatty(STDOUT_FILENO) == 1 ? Format::txt : Format::svg;
}

// POSIX's order: LC_ALL, else LC_CTYPE, else LANG names the character set of the terminal.
bool terminal_is_utf8() {
    for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
        const char* value = std::getenv(name);
        if (value == nullptr || *value == '\0') {
            continue;
        }
        const std::string v = ascii_lower(value);
        return v.find("utf-8") != std::string::npos || v.find("utf8") != std::string::npos;
    }
    return false;
}

// A full short URL: scheme, host and code checked as every command checks a pasted short link
// (short_url_arg), plus what a printed code may carry that a link name may not: a port, and a
// query of its own, which goes after the marker. A fragment never reaches the server: refused.
qr::ShortLinkUrl full_url_arg(const std::string& text) {
    const std::string shown = validate::printable(text);
    auto parsed = boost::urls::parse_uri(boost::core::string_view(text.data(), text.size()));
    if (!parsed) {
        throw Error(k_exit_usage, "'" + shown + "' is not a short URL (expected http(s)://HOST/CODE)");
    }
    if (parsed->has_fragment()) {
        throw Error(k_exit_usage, "short URL '" + shown +
                                      "' has a fragment ('#'), which never reaches the server; give the link without it");
    }
    const ShortUrl link = short_url_arg(text.substr(0, text.find('?')));
    qr::ShortLinkUrl url;
    url.scheme = ascii_lower(std::string(parsed->scheme()));
    url.authority = link.host;
    if (parsed->has_port() && !parsed->port().empty()) {
        if (parsed->port_number() == 0) {
            throw Error(k_exit_usage, "short URL '" + shown + "' has port " + std::string(parsed->port()) +
                                          " (expected 1 to 65535)");
        }
        url.authority += ":" + std::to_string(parsed->port_number());
    }
    url.code = link.code;
    url.query = std::string(parsed->encoded_query());
    std::string_view query = url.query;
    if (serve::detail::strip_qr_marker(query)) {
        throw Error(k_exit_usage, "short URL '" + shown + "' starts its query with the QR marker " +
                                      std::string(formats::clicks::k_qr_parameter) +
                                      "; give the link without it (qr adds it unless --no-marker)");
    }
    return url;
}

// --compact upper-cases the code; refused unless `domain` matches codes case-insensitively.
void check_compact(const store::DomainRecord& domain, std::string_view code, std::string_view host) {
    if (domain.case_insensitive || !qr::compact_changes_code(code)) {
        return;
    }
    const std::string name = domain.is_default
                                 ? "the default domain '*' (which answers " + std::string(host) + ")"
                                 : "domain " + domain.host;
    throw Error(k_exit_usage, "--compact upper-cases the code '" + std::string(code) + "', but " + name +
                                  " matches codes case-sensitively; leave out --compact, or make the domain "
                                  "case-insensitive (shortlink domain set " + domain.host +
                                  " --case-insensitive)");
}

// The URL the symbol points to: a full short URL as given, or a code's link on its domain.
qr::ShortLinkUrl resolve_url(const QrOptions& o, const GlobalOptions& globals) {
    if (o.target.find("://") != std::string::npos) {
        if (!o.domain.empty()) {
            throw Error(k_exit_usage, "give a full short URL or a code with --domain, not both");
        }
        qr::ShortLinkUrl url = full_url_arg(o.target);
        if (o.compact && qr::compact_changes_code(url.code)) {
            // Only whether the server folds case needs the database: the domain of the host, or
            // the default domain, which answers every host the database does not name.
            const std::string host = url.authority.substr(0, url.authority.find(':'));
            auto opened = store::Store::open(globals.db_path);
            if (!opened) {
                throw Error(exit_code_for(opened.status()), "--compact needs the database to tell whether " + host +
                                                                " matches codes case-insensitively: " +
                                                                opened.status().message());
            }
            store::Store s = std::move(opened).value();
            auto domain = s.find_domain(host);
            if (!domain && domain.status().code() == Status::Code::not_found) {
                domain = s.find_domain(store::k_default_host);
            }
            check_compact(unwrap(std::move(domain)), url.code, host);
        }
        return url;
    }
    code_arg(o.target);
    const std::string host = domain_or_default(o.domain, globals);
    if (host.empty() || host == store::k_default_host) {
        throw Error(k_exit_usage, "the default domain '*' answers on any host name, so code '" + o.target +
                                      "' alone names no URL: give --domain HOST or the full short URL "
                                      "(shortlink qr https://HOST/" + o.target + ")");
    }
    store::Store s = open_store(globals);
    const store::DomainRecord domain = unwrap(s.find_domain(host));
    const store::Link link = unwrap_link(s, ShortUrl{host, o.target}, s.get_link(host, o.target));
    if (link.status != store::LinkState::active) {
        std::cerr << "shortlink: warning: link " << link.code << " on " << link.host << " is "
                  << store::link_state_name(link.status) << " and answers 410 until "
                  << (link.status == store::LinkState::disabled ? "enabled" : "restored") << "\n";
    }
    if (o.compact) {
        check_compact(domain, link.code, domain.host);
    }
    // The store knows no domain as plain HTTP only: one without --https-redirect still answers
    // over TLS where serve has its certificate. A plain-HTTP host takes a full http:// URL.
    return qr::ShortLinkUrl{"https", domain.host, link.code, ""};
}

void write_all(int fd, std::string_view bytes, const std::string& what) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw Error(k_exit_runtime, "cannot write " + what + ": " + std::strerror(errno));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Temp file beside it, fsync, rename: a reader never sees half an image, and a failure leaves
// an existing file as it was.
void write_file(const std::string& path, std::string_view bytes) {
    auto file = compiler::AtomicFile::create(path);
    if (!file) {
        throw Error(k_exit_runtime, "cannot write " + path + ": " + file.status().message());
    }
    write_all(file->fd(), bytes, path);
    const Status committed = file->commit();
    if (!committed) {
        throw Error(k_exit_runtime, "cannot write " + path + ": " + committed.message());
    }
}

void run_qr(const QrOptions& o, const GlobalOptions& globals) {
    const std::optional<qr::Ecc> ecc = qr::parse_ecc(o.ecc);
    if (!ecc) {
        throw Error(k_exit_usage, "--ecc '" + validate::printable(o.ecc) + "' is not an error correction level "
                                      "(L 7%, M 15%, Q 25% or H 30%)");
    }
    if (o.margin < 0 || o.margin > qr::k_max_margin) {
        throw Error(k_exit_usage, "--margin " + std::to_string(o.margin) + " is out of range (0 to " +
                                      std::to_string(qr::k_max_margin) + " modules; 4 is the standard quiet zone)");
    }
    if (o.size && (*o.size < 1 || *o.size > qr::k_max_size_px)) {
        throw Error(k_exit_usage, "--size " + std::to_string(*o.size) + " is out of range (1 to " +
                                      std::to_string(qr::k_max_size_px) + " pixels)");
    }
    const Format format = output_format(o);
    const bool to_terminal = writes_stdout(o) && ::isatty(STDOUT_FILENO) == 1;
    if (format == Format::txt && o.size) {
        throw Error(k_exit_usage, "--size does not apply to txt output (one character per module)");
    }
    if (format == Format::png && to_terminal) {
        throw Error(k_exit_usage, "refusing to write a PNG to a terminal; give --out FILE or redirect standard output");
    }

    const qr::ShortLinkUrl url = resolve_url(o, globals);
    const std::string text = qr::encoded_url(url, !o.no_marker, o.compact);
    const qr::Symbol symbol = unwrap(qr::encode(text, *ecc));
    const int margin = static_cast<int>(o.margin);
    const int module_px = qr::module_px_for(o.size ? static_cast<int>(*o.size) : 0, symbol, margin);
    const int pixels = (symbol.width + 2 * margin) * module_px;
    if (o.size && pixels > *o.size) {
        std::cerr << "shortlink: warning: --size " << *o.size << " is narrower than the symbol (" << symbol.width
                  << " modules and a margin of " << margin << "); written at 1 pixel per module, " << pixels
                  << " px\n";
    }

    std::string bytes;
    switch (format) {
    case Format::svg: bytes = qr::render_svg(symbol, margin, module_px); break;
    case Format::png: bytes = unwrap(qr::render_png(symbol, margin, module_px)); break;
    case Format::txt: bytes = qr::render_txt(symbol, margin, terminal_is_utf8(), to_terminal); break;
    }
    if (writes_stdout(o)) {
        write_all(STDOUT_FILENO, bytes, "standard output");
        return;
    }
    write_file(o.out, bytes);
    std::cout << "wrote " << o.out << ": " << text << " (version " << symbol.version << ", " << symbol.width
              << "x" << symbol.width << " modules, ECC " << qr::ecc_letter(*ecc);
    if (format != Format::txt) {
        std::cout << ", " << pixels << "x" << pixels << " px";
    }
    std::cout << ")\n";
}

}  // namespace

void setup_qr(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<QrOptions>();
    CLI::App* sub = add_command(app, "qr");
    sub->add_option("CODE_OR_URL", o->target, "A link's code (with --domain), or a full short URL")->required();
    sub->add_option("--domain", o->domain, "Domain of the code (a named domain; not the default '*')");
    sub->add_option("--format", o->format, "svg, png or txt (default: from --out, else txt on a terminal, svg otherwise)");
    sub->add_option("--size", o->size, "Target width in pixels, rounded down to whole modules (svg, png)");
    sub->add_option("--margin", o->margin, "Quiet zone in modules (default 4)");
    sub->add_option("--ecc", o->ecc, "Error correction: L, M (default), Q or H");
    sub->add_option("-o,--out", o->out, "Write to FILE, atomically (default: standard output)");
    sub->add_flag("--compact", o->compact, "Upper-case the URL for a smaller symbol (case-insensitive domains)");
    sub->add_flag("--no-marker", o->no_marker, "Leave out the sl_qr=1 marker that counts scans");
    sub->callback([o, &globals] { run_qr(*o, globals); });
}

}  // namespace shortlink::cli
