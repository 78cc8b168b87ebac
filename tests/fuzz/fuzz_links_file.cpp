// The links file fuzz target (store/links_file.h): the YAML file `shortlink apply` reads, which
// may come from a pull request. What it accepts holds only what validation accepts, and written
// back as `export --format yaml` writes it, reads as the same domains and links.
#include <string>
#include <string_view>
#include <vector>

#include "store/links_file.h"
#include "store/validate.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_targets.h"

namespace shortlink::fuzz {

namespace {

void check_valid(const store::LinkInput& in) {
    if (!validate::check_code(in.code)) {
        fail("an accepted link with an invalid code", in.code);
    }
    auto url = validate::normalize_destination(in.destination);
    if (!url || *url != in.destination) {
        fail("an accepted link whose url is not normalized", in.destination);
    }
    auto host = validate::normalize_host(in.host);
    if (!host || *host != in.host) {
        fail("an accepted link whose domain is not normalized", in.host);
    }
    for (const std::string& t : in.tags) {
        if (!validate::check_tag(t)) {
            fail("an accepted link with an invalid tag", t);
        }
    }
    auto title = validate::normalize_title(in.title);
    if (!title || *title != in.title) {
        fail("an accepted link whose title is not normalized", in.title);
    }
}

bool same_link(const store::LinkInput& a, const store::LinkInput& b) {
    return a.host == b.host && a.code == b.code && a.destination == b.destination &&
           a.redirect_type == b.redirect_type && a.forward_query == b.forward_query &&
           a.not_before == b.not_before && a.expires == b.expires && a.tags == b.tags && a.status == b.status &&
           a.title == b.title;
}

bool same_domain(const store::DomainRecord& a, const store::DomainRecord& b) {
    return a.host == b.host && a.default_redirect == b.default_redirect && a.root_url == b.root_url &&
           a.case_insensitive == b.case_insensitive && a.forward_query == b.forward_query &&
           a.cache_max_age_s == b.cache_max_age_s && a.negative_max_age_s == b.negative_max_age_s &&
           a.https_redirect == b.https_redirect && a.hsts_max_age_s == b.hsts_max_age_s &&
           a.hsts_include_subdomains == b.hsts_include_subdomains;
}

}  // namespace

int fuzz_links_file_one(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = store::parse_links_file(text);
    if (!parsed) {
        const std::string why = parsed.status().message();
        if (!why.starts_with("line ") && !why.starts_with("no YAML document") && !why.starts_with("larger than")) {
            fail("a refusal that names no line", why);
        }
        return 0;
    }
    std::vector<store::DomainRecord> domains;
    for (const store::DomainEntry& d : parsed->domains) {
        domains.push_back(d.record);
    }
    store::LinksFileWriter writer;
    writer.domains(domains);
    for (const store::LinkEntry& entry : parsed->links) {
        check_valid(entry.input);
        store::Link link;
        link.host = entry.input.host;
        link.code = entry.input.code;
        link.destination = entry.input.destination;
        link.redirect_type = entry.input.redirect_type;
        link.forward_query = entry.input.forward_query;
        link.not_before = entry.input.not_before;
        link.expires = entry.input.expires;
        link.tags = entry.input.tags;
        link.status = entry.input.status;
        link.title = entry.input.title;
        writer.link(link);
    }
    writer.finish();
    const std::string written = writer.take();
    auto again = store::parse_links_file(written);
    if (!again) {
        fail("a written links file does not read back", again.status().message() + "\n" + written);
    }
    if (again->domains.size() != parsed->domains.size() || again->links.size() != parsed->links.size()) {
        fail("a written links file reads back with other entries", written);
    }
    for (std::size_t i = 0; i < parsed->domains.size(); ++i) {
        if (!same_domain(parsed->domains[i].record, again->domains[i].record)) {
            fail("a domain reads back changed", parsed->domains[i].record.host);
        }
    }
    for (std::size_t i = 0; i < parsed->links.size(); ++i) {
        if (!same_link(parsed->links[i].input, again->links[i].input)) {
            fail("a link reads back changed", parsed->links[i].input.code);
        }
    }
    return 1;
}

}  // namespace shortlink::fuzz
