// Reading and writing the links file. See links_file.h.
#include "store/links_file.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <new>
#include <set>
#include <sstream>
#include <utility>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "store/bounded_read.h"
#include "store/idna.h"
#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::store {
namespace {

// The keys of each mapping, by the index the handler tracks them with.
constexpr std::array<std::string_view, 2> k_root_keys = {"domains", "links"};
enum RootKey { k_root_domains, k_root_links };

constexpr std::array<std::string_view, 10> k_domain_keys = {
    "host",          "default_type",     "root_url",       "case_insensitive", "forward_query",
    "cache_max_age", "negative_max_age", "https_redirect", "hsts_max_age",     "hsts_include_subdomains"};
enum DomainKey {
    k_domain_host,
    k_domain_default_type,
    k_domain_root_url,
    k_domain_case_insensitive,
    k_domain_forward_query,
    k_domain_cache_max_age,
    k_domain_negative_max_age,
    k_domain_https_redirect,
    k_domain_hsts_max_age,
    k_domain_hsts_include_subdomains,
};

constexpr std::array<std::string_view, 10> k_link_keys = {"domain",     "code",    "url",  "type",   "forward_query",
                                                          "not_before", "expires", "tags", "status", "title"};
enum LinkKey {
    k_link_domain,
    k_link_code,
    k_link_url,
    k_link_type,
    k_link_forward_query,
    k_link_not_before,
    k_link_expires,
    k_link_tags,
    k_link_status,
    k_link_title,
};

// Keys the JSON of a link or domain has that the store keeps itself: named when refused, since
// a file pasted together from `show --json` would hold them.
constexpr std::array<std::string_view, 8> k_kept_by_store = {
    "version", "created_at", "updated_at", "short_url", "is_default", "state", "effective_type", "effective_forward_query"};

// Where the handler is: the collection being read, innermost last.
enum class Context { root, domains, links, domain, link, tags };

struct Frame {
    Context context;
    int key = -1;        // in a mapping: the key whose value comes next; -1 when a key comes next
    unsigned seen = 0;   // in a mapping: a bit per key already given
};

// Thrown by the handler to stop yaml-cpp at the first event that does not fit, caught in
// parse_links_file() (the library's interface never throws).
struct FileError {
    FilePosition at;
    std::string why;
};

FilePosition position_of(const YAML::Mark& mark) {
    return {static_cast<std::uint32_t>(mark.line + 1), static_cast<std::uint32_t>(mark.column + 1)};
}

[[noreturn]] void fail(const YAML::Mark& mark, std::string why) { throw FileError{position_of(mark), std::move(why)}; }

std::string quoted(std::string_view text) { return "'" + validate::printable(text) + "'"; }

template <std::size_t N>
int key_index(const std::array<std::string_view, N>& keys, std::string_view key) {
    auto it = std::find(keys.begin(), keys.end(), key);
    return it == keys.end() ? -1 : static_cast<int>(it - keys.begin());
}

template <std::size_t N>
std::string key_list(const std::array<std::string_view, N>& keys) {
    std::string out;
    for (std::string_view k : keys) {
        out += out.empty() ? "" : ", ";
        out += k;
    }
    return out;
}

// A scalar value as yaml-cpp delivers it; `plain` unless it was quoted (or a block scalar).
struct Scalar {
    const YAML::Mark& mark;
    std::string_view text;
    bool plain;
};

// Reads the events of one document into a LinksFile, checking each against the schema.
class SchemaHandler final : public YAML::EventHandler {
public:
    explicit SchemaHandler(LinksFile& out) : m_out(out) {}

    bool saw_document() const { return m_documents > 0; }

    void OnDocumentStart(const YAML::Mark& mark) override {
        if (++m_documents > 1) {
            fail(mark, "a second YAML document: a links file is one document");
        }
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
        if (m_stack.empty()) {
            fail(mark, "the document is empty: expected a mapping with domains and links (`links: []` for none)");
        }
        Frame& top = m_stack.back();
        if (is_mapping(top.context) && top.key < 0) {
            fail(mark, "a key is empty");
        }
        if (top.context == Context::tags) {
            fail(mark, "a tag is empty");
        }
        if (top.context == Context::domains || top.context == Context::links) {
            fail(mark, "an entry is empty: expected a mapping of keys");
        }
        null_value(top, mark);
        top.key = -1;
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
        fail(mark, "an alias: a links file takes no aliases or merge keys; write each value out");
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t, const std::string& value) override {
        check_tag(mark, tag);
        if (m_stack.empty()) {
            fail(mark, "the document is a single value: expected a mapping with domains and links");
        }
        Frame& top = m_stack.back();
        Scalar s{mark, value, tag == "?"};
        if (is_mapping(top.context) && top.key < 0) {
            take_key(top, s);
            return;
        }
        switch (top.context) {
        case Context::domains:
        case Context::links: fail(mark, "an entry is " + describe(s) + ": expected a mapping of keys");
        case Context::tags: add_tag(s); return;
        default: break;
        }
        scalar_value(top, s);
        top.key = -1;
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        check_tag(mark, tag);
        if (m_stack.empty()) {
            fail(mark, "the document is a list: expected a mapping with domains and links");
        }
        Frame& top = m_stack.back();
        if (is_mapping(top.context) && top.key < 0) {
            fail(mark, "a key is a list: keys are names");
        }
        if (top.context == Context::root && top.key == k_root_domains) {
            m_stack.push_back({Context::domains});
        } else if (top.context == Context::root && top.key == k_root_links) {
            m_stack.push_back({Context::links});
        } else if (top.context == Context::link && top.key == k_link_tags) {
            m_link.input.tags.clear();
            m_stack.push_back({Context::tags});
        } else if (top.context == Context::domains || top.context == Context::links) {
            fail(mark, "an entry is a list: expected a mapping of keys");
        } else if (top.context == Context::tags) {
            fail(mark, "a tag is a list: tags are names");
        } else {
            fail(mark, std::string(key_name(top)) + " takes " + expected(top) + ", found a list");
        }
    }

    void OnSequenceEnd() override { end_collection(); }

    void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t, YAML::EmitterStyle::value) override {
        check_tag(mark, tag);
        if (m_stack.empty()) {
            m_stack.push_back({Context::root});
            return;
        }
        Frame& top = m_stack.back();
        if (is_mapping(top.context) && top.key < 0) {
            fail(mark, "a key is a mapping: keys are names");
        }
        if (top.context == Context::domains) {
            m_domain = DomainEntry{};
            m_domain.at = position_of(mark);
            m_stack.push_back({Context::domain});
        } else if (top.context == Context::links) {
            m_link = LinkEntry{};
            m_link.input.host = std::string(k_default_host);
            m_link.at = position_of(mark);
            m_stack.push_back({Context::link});
        } else if (top.context == Context::tags) {
            fail(mark, "a tag is a mapping: tags are names");
        } else {
            fail(mark, std::string(key_name(top)) + " takes " + expected(top) + ", found a mapping");
        }
    }

    void OnMapEnd() override {
        if (m_stack.back().context == Context::domain) {
            finish_domain();
        } else if (m_stack.back().context == Context::link) {
            finish_link(m_stack.back());
        }
        end_collection();
    }

private:
    static bool is_mapping(Context c) { return c == Context::root || c == Context::domain || c == Context::link; }

    static void check_tag(const YAML::Mark& mark, const std::string& tag) {
        // "?": a plain scalar or a collection; "!": a quoted scalar. Anything else was written.
        if (!tag.empty() && tag != "?" && tag != "!") {
            fail(mark, "an explicit YAML tag " + quoted(tag) + ": a links file takes plain values");
        }
    }

    static std::string describe(const Scalar& s) {
        return s.plain ? "the value " + quoted(s.text) : "the string " + quoted(s.text);
    }

    std::string_view key_name(const Frame& f) const {
        switch (f.context) {
        case Context::root: return k_root_keys[static_cast<std::size_t>(f.key)];
        case Context::domain: return k_domain_keys[static_cast<std::size_t>(f.key)];
        case Context::link: return k_link_keys[static_cast<std::size_t>(f.key)];
        default: return {};
        }
    }

    // What the pending key of `f` takes, for messages.
    static std::string expected(const Frame& f) {
        if (f.context == Context::root) {
            return f.key == k_root_domains ? "a list of domains" : "a list of links";
        }
        if (f.context == Context::domain) {
            switch (f.key) {
            case k_domain_host: return "a host name";
            case k_domain_root_url: return "a URL";
            case k_domain_default_type: return "a redirect type (301, 302, 307 or 308)";
            case k_domain_cache_max_age:
            case k_domain_negative_max_age:
            case k_domain_hsts_max_age: return "a number of seconds";
            default: return "true or false";
            }
        }
        switch (f.key) {
        case k_link_domain: return "a host name";
        case k_link_code: return "a code";
        case k_link_url: return "a URL";
        case k_link_type: return "a redirect type (301, 302, 307 or 308)";
        case k_link_forward_query: return "true or false";
        case k_link_not_before:
        case k_link_expires: return "an RFC 3339 time";
        case k_link_tags: return "a list of tags";
        case k_link_title: return "a title";
        default: return "active, disabled or deleted";
        }
    }

    void take_key(Frame& f, const Scalar& s) {
        int index = -1;
        switch (f.context) {
        case Context::root: index = key_index(k_root_keys, s.text); break;
        case Context::domain: index = key_index(k_domain_keys, s.text); break;
        default: index = key_index(k_link_keys, s.text); break;
        }
        if (index < 0) {
            if (f.context != Context::root && key_index(k_kept_by_store, s.text) >= 0) {
                fail(s.mark, "key " + quoted(s.text) + " is kept by the store and cannot be set");
            }
            const char* what = f.context == Context::root ? "at the top" : f.context == Context::domain ? "in a domain" : "in a link";
            const std::string known = f.context == Context::root     ? key_list(k_root_keys)
                                      : f.context == Context::domain ? key_list(k_domain_keys)
                                                                     : key_list(k_link_keys);
            fail(s.mark, "unknown key " + quoted(s.text) + " " + what + " (expected " + known + ")");
        }
        if ((f.seen & (1u << index)) != 0) {
            fail(s.mark, "key " + quoted(s.text) + " is given twice");
        }
        f.seen |= 1u << index;
        f.key = index;
    }

    // A null value (`key:`, `key: ~`, `key: null`): "none" where the key has one.
    void null_value(const Frame& f, const YAML::Mark& mark) {
        if (f.context == Context::root) {
            return;  // `links:` with nothing after it: an empty list
        }
        if (f.context == Context::domain && f.key == k_domain_root_url) {
            m_domain.record.root_url.clear();
            return;
        }
        if (f.context == Context::link) {
            switch (f.key) {
            case k_link_domain: m_link.input.host = std::string(k_default_host); return;
            case k_link_type: m_link.input.redirect_type = 0; return;
            case k_link_forward_query: m_link.input.forward_query = -1; return;
            case k_link_not_before: m_link.input.not_before = 0; return;
            case k_link_expires: m_link.input.expires = 0; return;
            case k_link_tags: m_link.input.tags.clear(); return;
            case k_link_title: m_link.input.title.clear(); return;
            default: break;
            }
        }
        fail(mark, std::string(key_name(f)) + " takes " + expected(f) + ", found nothing");
    }

    void scalar_value(const Frame& f, const Scalar& s) {
        const std::string key(key_name(f));
        if (f.context == Context::root) {
            fail(s.mark, key + " takes " + expected(f) + ", found " + describe(s));
        }
        if (f.context == Context::domain) {
            DomainRecord& d = m_domain.record;
            switch (f.key) {
            case k_domain_host: d.host = validated(key, s, validate::normalize_host(s.text)); return;
            case k_domain_default_type: d.default_redirect = redirect_type(f, s); return;
            case k_domain_root_url: {
                if (s.text.empty()) {
                    d.root_url.clear();
                    return;
                }
                d.root_url = validated(key, s, validate::normalize_destination(s.text));
                return;
            }
            case k_domain_case_insensitive: d.case_insensitive = boolean(f, s); return;
            case k_domain_forward_query: d.forward_query = boolean(f, s); return;
            case k_domain_cache_max_age: d.cache_max_age_s = seconds(f, s); return;
            case k_domain_negative_max_age: d.negative_max_age_s = seconds(f, s); return;
            case k_domain_https_redirect: d.https_redirect = boolean(f, s); return;
            case k_domain_hsts_max_age: d.hsts_max_age_s = seconds(f, s); return;
            default: d.hsts_include_subdomains = boolean(f, s); return;
            }
        }
        LinkInput& in = m_link.input;
        switch (f.key) {
        case k_link_domain: in.host = validated(key, s, validate::normalize_host(s.text)); return;
        case k_link_code:
            if (Status st = validate::check_code(s.text); !st) {
                fail(s.mark, key + ": " + st.message());
            }
            in.code = std::string(s.text);
            return;
        case k_link_url: in.destination = validated(key, s, validate::normalize_destination(s.text)); return;
        case k_link_type: in.redirect_type = redirect_type(f, s); return;
        case k_link_forward_query: in.forward_query = boolean(f, s) ? 1 : 0; return;
        case k_link_not_before: in.not_before = time(f, s); return;
        case k_link_expires: in.expires = time(f, s); return;
        case k_link_tags: fail(s.mark, key + " takes a list of tags, found " + describe(s) + " (write [" + std::string(s.text) + "])");
        case k_link_title: in.title = validated(key, s, validate::normalize_title(s.text)); return;
        default: {
            auto state = parse_link_state(s.text);
            if (!state) {
                fail(s.mark, key + " takes active, disabled or deleted, found " + describe(s));
            }
            in.status = *state;
            return;
        }
        }
    }

    // The value validation made of a scalar, or the refusal naming the key.
    static std::string validated(const std::string& key, const Scalar& s, Result<std::string> value) {
        if (!value) {
            fail(s.mark, key + ": " + value.status().message());
        }
        return std::move(value).value();
    }

    // Numbers and booleans are plain scalars: a quoted one is a string, as JSON would have it.
    std::string_view plain_text(const Frame& f, const Scalar& s) {
        if (!s.plain) {
            fail(s.mark, std::string(key_name(f)) + " takes " + expected(f) + ", found " + describe(s) +
                             " (leave out the quotes)");
        }
        return s.text;
    }

    std::uint16_t redirect_type(const Frame& f, const Scalar& s) {
        auto type = validate::parse_redirect_type(plain_text(f, s));
        if (!type) {
            fail(s.mark, std::string(key_name(f)) + ": " + type.status().message());
        }
        return *type;
    }

    std::uint32_t seconds(const Frame& f, const Scalar& s) {
        std::string_view t = plain_text(f, s);
        std::uint64_t value = 0;
        auto res = std::from_chars(t.data(), t.data() + t.size(), value);
        if (t.empty() || t.front() < '0' || t.front() > '9' || res.ptr != t.data() + t.size() ||
            (res.ec == std::errc() && value > UINT32_MAX) || res.ec == std::errc::result_out_of_range) {
            fail(s.mark, std::string(key_name(f)) + " takes a whole number of seconds from 0 to 4294967295, found " +
                             describe(s));
        }
        return static_cast<std::uint32_t>(value);
    }

    // YAML 1.2's core schema: true and false in three spellings. yes/no/on/off are strings there
    // and booleans in YAML 1.1; refusing them keeps one reading.
    bool boolean(const Frame& f, const Scalar& s) {
        std::string_view t = plain_text(f, s);
        if (t == "true" || t == "True" || t == "TRUE") {
            return true;
        }
        if (t == "false" || t == "False" || t == "FALSE") {
            return false;
        }
        fail(s.mark, std::string(key_name(f)) + " takes true or false, found " + describe(s));
    }

    // An RFC 3339 time. A relative one ("7d") would move at every apply, so it is refused: it is
    // the one kind of time whose value depends on the moment it is read.
    std::int64_t time(const Frame& f, const Scalar& s) {
        auto at = timefmt::parse_time(s.text, 0);
        if (!at) {
            fail(s.mark, std::string(key_name(f)) + ": " + at.status().message());
        }
        auto later = timefmt::parse_time(s.text, 1);
        if (!later || *later != *at) {
            fail(s.mark, std::string(key_name(f)) + ": " + quoted(s.text) +
                             " is relative to now; a links file takes RFC 3339 times (2026-12-31T23:59:59Z)");
        }
        return *at;
    }

    void add_tag(const Scalar& s) {
        Status st = validate::check_tag(s.text);
        if (!st) {
            fail(s.mark, "tags: " + st.message());
        }
        m_link.input.tags.emplace_back(s.text);
    }

    void finish_domain() {
        if (m_domain.record.host.empty()) {
            throw FileError{m_domain.at, "a domain without a host"};
        }
        auto [it, added] = m_domain_lines.emplace(m_domain.record.host, m_domain.at);
        if (!added) {
            throw FileError{m_domain.at, "domain '" + m_domain.record.host + "' is listed twice (first at " +
                                             position_text(it->second) + ")"};
        }
        m_out.domains.push_back(std::move(m_domain));
    }

    void finish_link(const Frame& f) {
        LinkInput& in = m_link.input;
        if ((f.seen & (1u << k_link_code)) == 0) {
            throw FileError{m_link.at, "a link without a code"};
        }
        if ((f.seen & (1u << k_link_url)) == 0) {
            throw FileError{m_link.at, "link '" + in.code + "' has no url"};
        }
        if (in.expires != 0 && in.not_before != 0 && in.expires <= in.not_before) {
            throw FileError{m_link.at, "link '" + in.code + "': expires must be after not_before"};
        }
        std::sort(in.tags.begin(), in.tags.end());
        in.tags.erase(std::unique(in.tags.begin(), in.tags.end()), in.tags.end());
        auto [it, added] = m_link_lines.emplace(std::make_pair(in.host, in.code), m_link.at);
        if (!added) {
            throw FileError{m_link.at, "link " + in.host + "/" + in.code + " is listed twice (first at " +
                                           position_text(it->second) + ")"};
        }
        m_out.links.push_back(std::move(m_link));
    }

    void end_collection() {
        m_stack.pop_back();
        if (!m_stack.empty()) {
            m_stack.back().key = -1;  // the collection was the value of that key
        }
    }

    LinksFile& m_out;
    std::vector<Frame> m_stack;
    int m_documents = 0;
    DomainEntry m_domain;
    LinkEntry m_link;
    std::map<std::string, FilePosition, std::less<>> m_domain_lines;
    std::map<std::pair<std::string, std::string>, FilePosition> m_link_lines;
};

// Bounds on the shape of the text, checked before yaml-cpp reads it. Its scanner keeps state
// for every open flow collection and every indentation level ahead of the events the handler
// refuses: a 10 MB line of '[' cost it 24 s and 2.3 GB, 1,500 nested block levels 4 s. The
// schema needs three flow levels (`links: [{tags: [a]}]`) and a few columns of indentation.
constexpr int k_max_flow_depth = 16;
constexpr std::size_t k_max_indent_columns = 128;

// Counts the flow collections open at each point, telling YAML's brackets from brackets inside
// scalars by what precedes them: a collection starts a value, after a line start, an indicator
// followed by a space ("- ", "? ", ": "), a ':' after a quoted key, or, inside a flow
// collection, a ',' or another bracket (flow scalars cannot hold brackets). Quoted scalars and
// comments are skipped. A scalar whose brackets look like collections only makes the count
// higher, so nothing nested deeper than the bound gets through.
Status check_flow_depth(std::string_view text) {
    std::uint32_t line = 1;
    std::size_t line_start = 0;
    int depth = 0;
    // What came last, as far as a value starting next is concerned: '\n' a line start, '-' '?'
    // ':' ',' '[' an indicator after which a value starts, '"' a quoted scalar, 'x' anything else.
    char before = '\n';
    auto at = [&](std::size_t i) {
        return position_text({line, static_cast<std::uint32_t>(i - line_start + 1)});
    };
    auto spaced = [&](std::size_t i) {
        return i + 1 >= text.size() || text[i + 1] == ' ' || text[i + 1] == '\t' || text[i + 1] == '\r' ||
               text[i + 1] == '\n';
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            line_start = i + 1;
            before = '\n';
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            continue;
        }
        if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' || text[i - 1] == '\n')) {
            i = std::min(text.find('\n', i), text.size()) - 1;  // the newline is read next
            continue;
        }
        const bool value_starts = std::string_view("\n-?:,[").find(before) != std::string_view::npos;
        if ((c == '"' || c == '\'') && value_starts) {
            // To the closing quote ('' is a quote in single quotes, \" in double quotes).
            for (++i; i < text.size(); ++i) {
                if (text[i] == '\n') {
                    ++line;
                    line_start = i + 1;
                } else if (c == '"' && text[i] == '\\') {
                    ++i;
                } else if (text[i] == c) {
                    if (c == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
                        ++i;
                        continue;
                    }
                    break;
                }
            }
            before = '"';
        } else if ((c == '[' || c == '{') && value_starts) {
            if (++depth > k_max_flow_depth) {
                return Status::invalid_argument(at(i) + ": collections nested more than " +
                                                std::to_string(k_max_flow_depth) + " deep; a links file needs three");
            }
            before = '[';
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
            before = 'x';
        } else if ((c == '-' || c == '?' || c == ':') && spaced(i)) {
            before = c;
        } else if ((c == ':' && before == '"') || (c == ',' && depth > 0)) {
            before = c;
        } else {
            before = 'x';
        }
    }
    return Status::ok();
}

// What YAML's own reading of the text would stumble on or hide: bytes that are not UTF-8 (yaml-cpp
// replaces them without a word), control characters, tabs in indentation, and indentation past
// k_max_indent_columns.
Status check_text(std::string_view text) {
    std::uint32_t line = 0;
    for (std::size_t start = 0; start < text.size();) {
        ++line;
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view l = text.substr(start, end - start);
        start = end + 1;
        if (const std::size_t indent = l.find_first_not_of(' ');
            indent != std::string_view::npos && indent > k_max_indent_columns) {
            return Status::invalid_argument(position_text({line, static_cast<std::uint32_t>(indent + 1)}) +
                                            ": indented " + std::to_string(indent) + " columns; a links file needs a few (at most " +
                                            std::to_string(k_max_indent_columns) + ")");
        }
        bool ascii = true;
        bool indent = true;
        for (std::size_t i = 0; i < l.size(); ++i) {
            auto c = static_cast<unsigned char>(l[i]);
            if (indent && c == '\t' && l.find_first_not_of(" \t\r") != std::string_view::npos) {
                return Status::invalid_argument(position_text({line, static_cast<std::uint32_t>(i + 1)}) +
                                                ": a tab in the indentation; YAML indents with spaces");
            }
            indent = indent && (c == ' ' || c == '\t');
            if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
                return Status::invalid_argument(position_text({line, static_cast<std::uint32_t>(i + 1)}) +
                                                ": control character " + validate::printable(l.substr(i, 1)) +
                                                "; a links file is text");
            }
            ascii = ascii && c < 0x80;
        }
        if (!ascii) {
            auto decoded = validate::decode_utf8(l);
            if (!decoded) {
                return Status::invalid_argument("line " + std::to_string(line) + ": not UTF-8 (" +
                                                decoded.status().message() + " of the line); a links file is UTF-8 text");
            }
        }
    }
    return Status::ok();
}

Status too_large() {
    return Status::invalid_argument("larger than " + std::to_string(k_max_links_file_bytes >> 20) +
                                    " MiB; a links file that large belongs in `shortlink import`");
}

}  // namespace

std::string position_text(FilePosition at) {
    return "line " + std::to_string(at.line) + ", column " + std::to_string(at.column);
}

Result<LinksFile> parse_links_file(std::string_view text) {
    if (text.size() > k_max_links_file_bytes) {
        return too_large();
    }
    if (Status st = check_text(text); !st) {
        return st;
    }
    if (Status st = check_flow_depth(text); !st) {
        return st;
    }
    LinksFile out;
    try {
        std::istringstream in{std::string(text)};
        YAML::Parser parser(in);
        SchemaHandler handler(out);
        while (parser.HandleNextDocument(handler)) {
        }
        if (!handler.saw_document()) {
            return Status::invalid_argument(
                "no YAML document: the file is empty or only comments (`links: []` lists no links)");
        }
    } catch (const FileError& e) {
        return Status::invalid_argument(position_text(e.at) + ": " + e.why);
    } catch (const YAML::Exception& e) {
        return Status::invalid_argument(position_text(position_of(e.mark)) + ": " + e.msg);
    } catch (const std::bad_alloc&) {
        return Status::io_error("out of memory reading the links file");
    }
    return out;
}

Result<LinksFile> read_links_file(std::istream& in) {
    std::string text;
    if (!read_bounded(in, k_max_links_file_bytes, text)) {
        return too_large();
    }
    return parse_links_file(text);
}

// ---- writing ---------------------------------------------------------------------------------

struct LinksFileWriter::Impl {
    std::ostringstream text;
    YAML::Emitter out{text};
    bool wrote_domains = false;
};

namespace {

// Plain strings that another YAML reader (YAML 1.1 among them) would take for a number, a
// boolean or null are quoted, so the file reads the same everywhere; the emitter quotes what
// YAML's syntax needs.
bool needs_quotes(std::string_view s) {
    if (s.empty()) {
        return true;
    }
    const char c = s.front();
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == '~') {
        return true;
    }
    std::string lower(s);
    for (char& ch : lower) {
        ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    static const std::set<std::string, std::less<>> k_words = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"};
    return k_words.contains(lower);
}

void string_value(YAML::Emitter& out, std::string_view key, const std::string& value) {
    out << YAML::Key << std::string(key) << YAML::Value;
    if (needs_quotes(value)) {
        out << YAML::DoubleQuoted;
    }
    out << value;
}

}  // namespace

LinksFileWriter::LinksFileWriter() : m_impl(std::make_unique<Impl>()) {}
LinksFileWriter::~LinksFileWriter() = default;

void LinksFileWriter::domains(const std::vector<DomainRecord>& domains) {
    YAML::Emitter& out = m_impl->out;
    out << YAML::Comment("shortlink links file: `shortlink apply FILE --plan` shows what applying it changes");
    out << YAML::BeginMap << YAML::Key << "domains" << YAML::Value;
    if (domains.empty()) {
        out << YAML::Flow;
    }
    out << YAML::BeginSeq;
    for (const DomainRecord& d : domains) {
        out << YAML::BeginMap;
        string_value(out, k_domain_keys[k_domain_host], d.host);
        out << YAML::Key << std::string(k_domain_keys[k_domain_default_type]) << YAML::Value << d.default_redirect;
        string_value(out, k_domain_keys[k_domain_root_url], d.root_url);
        out << YAML::Key << std::string(k_domain_keys[k_domain_case_insensitive]) << YAML::Value << d.case_insensitive;
        out << YAML::Key << std::string(k_domain_keys[k_domain_forward_query]) << YAML::Value << d.forward_query;
        out << YAML::Key << std::string(k_domain_keys[k_domain_cache_max_age]) << YAML::Value << d.cache_max_age_s;
        out << YAML::Key << std::string(k_domain_keys[k_domain_negative_max_age]) << YAML::Value << d.negative_max_age_s;
        out << YAML::Key << std::string(k_domain_keys[k_domain_https_redirect]) << YAML::Value << d.https_redirect;
        out << YAML::Key << std::string(k_domain_keys[k_domain_hsts_max_age]) << YAML::Value << d.hsts_max_age_s;
        out << YAML::Key << std::string(k_domain_keys[k_domain_hsts_include_subdomains]) << YAML::Value
            << d.hsts_include_subdomains;
        out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::Key << "links" << YAML::Value << YAML::BeginSeq;
    m_impl->wrote_domains = true;
}

void LinksFileWriter::link(const Link& l) {
    if (!m_impl->wrote_domains) {
        domains({});
    }
    YAML::Emitter& out = m_impl->out;
    out << YAML::BeginMap;
    if (l.host != k_default_host) {
        string_value(out, k_link_keys[k_link_domain], l.host);
    }
    string_value(out, k_link_keys[k_link_code], l.code);
    string_value(out, k_link_keys[k_link_url], l.destination);
    if (!l.title.empty()) {
        string_value(out, k_link_keys[k_link_title], l.title);
    }
    if (l.redirect_type != 0) {
        out << YAML::Key << std::string(k_link_keys[k_link_type]) << YAML::Value << l.redirect_type;
    }
    if (l.forward_query >= 0) {
        out << YAML::Key << std::string(k_link_keys[k_link_forward_query]) << YAML::Value << (l.forward_query != 0);
    }
    if (l.not_before != 0) {
        string_value(out, k_link_keys[k_link_not_before], timefmt::format_time(l.not_before));
    }
    if (l.expires != 0) {
        string_value(out, k_link_keys[k_link_expires], timefmt::format_time(l.expires));
    }
    if (!l.tags.empty()) {
        out << YAML::Key << std::string(k_link_keys[k_link_tags]) << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const std::string& t : l.tags) {
            if (needs_quotes(t)) {
                out << YAML::DoubleQuoted;
            }
            out << t;
        }
        out << YAML::EndSeq;
    }
    if (l.status != LinkState::active) {
        string_value(out, k_link_keys[k_link_status], std::string(link_state_name(l.status)));
    }
    out << YAML::EndMap;
}

void LinksFileWriter::finish() {
    if (!m_impl->wrote_domains) {
        domains({});
    }
    m_impl->out << YAML::EndSeq << YAML::EndMap;
    m_impl->text << '\n';
}

std::string LinksFileWriter::take() {
    std::string out = m_impl->text.str();
    m_impl->text.str(std::string());
    return out;
}

}  // namespace shortlink::store
