// The link store: links (add, get, list, edit, state changes), their audit images and bulk import.
// Reading the audit trail (history) and the link state names are in store.cpp.
#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "formats/bytes.h"
#include "formats/clock.h"
#include "formats/sha256.h"
#include "store/store_internal.h"

namespace shortlink::store {

using detail::Stmt;
using detail::StmtUse;

namespace {

// True when `needle` occurs in `text`, ASCII letters matching either case.
bool contains_ignoring_case(std::string_view text, std::string_view needle) {
    auto fold = [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    return std::search(text.begin(), text.end(), needle.begin(), needle.end(),
                       [&](char a, char b) { return fold(a) == fold(b); }) != text.end();
}

// Bounded so a broken generator cannot spin forever; with 55^7 codes a collision is already rare.
constexpr int k_code_attempts = 16;

constexpr const char* k_link_select =
    "SELECT l.id, l.domain_id, d.host, l.code, l.destination, l.status, l.redirect_type, "
    "l.forward_query, l.not_before, l.expires, l.tags, l.version, l.created_at, l.updated_at, l.title, l.rules, "
    "l.expired_url, l.reserved, l.password_hash FROM links l JOIN domains d ON d.id = l.domain_id ";

std::string encode_tags(std::vector<std::string> tags) {
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    if (tags.empty()) {
        return {};
    }
    std::string out = ",";
    for (const std::string& t : tags) {
        out += t;
        out += ',';
    }
    return out;
}

std::vector<std::string> decode_tags(std::string_view s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t comma = s.find(',', pos);
        if (comma == std::string_view::npos) {
            comma = s.size();
        }
        if (comma > pos) {
            out.emplace_back(s.substr(pos, comma - pos));
        }
        pos = comma + 1;
    }
    return out;
}

Link read_link(Stmt& s) {
    Link l;
    l.id = s.i64(0);
    l.domain_id = s.i64(1);
    l.host = std::string(s.text(2));
    l.code = std::string(s.text(3));
    l.destination = std::string(s.text(4));
    l.status = static_cast<LinkState>(s.i64(5));
    l.redirect_type = static_cast<std::uint16_t>(s.i64(6));
    l.forward_query = static_cast<int>(s.i64(7));
    l.not_before = s.i64(8);
    l.expires = s.i64(9);
    l.tags = decode_tags(s.text(10));
    l.version = s.i64(11);
    l.created_at = s.i64(12);
    l.updated_at = s.i64(13);
    l.title = std::string(s.text(14));
    // Written only from normalized, checked lists (encode_rules), so they read back as written.
    auto rules = decode_rules(s.text(15), 0);
    if (rules) {
        l.rules = std::move(rules).value();
    }
    l.expired_url = std::string(s.text(16));
    l.reserved = s.i64(17) != 0;
    l.password_hash = std::string(s.text(18));
    return l;
}

void write_string(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key, std::string_view v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

// Finds a link by exact code, then (on a case-insensitive domain) by folded code.
Result<Link> find_link(Store::Impl& impl, const DomainRecord& domain, std::string_view code) {
    for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1 && !domain.case_insensitive) {
            break;
        }
        auto stmt = impl.prepare(std::string(k_link_select) +
                                 (pass == 0 ? "WHERE l.domain_id = ?1 AND l.code = ?2"
                                            : "WHERE l.domain_id = ?1 AND l.ci = 1 AND lower(l.code) = lower(?2)"));
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        s->bind(1, domain.id).bind(2, code);
        int rc = s->step();
        if (rc == SQLITE_ROW) {
            return read_link(s.get());
        }
        if (rc != SQLITE_DONE) {
            return detail::sqlite_error(impl.db.get(), rc, "cannot read link");
        }
    }
    return Status::not_found("no link '" + std::string(code) + "' on domain '" + domain.host + "'");
}

// Inserts a new link row; conflict when the code (or its case-folded form) is taken.
// `tags` is encode_tags(in.tags).
Result<std::int64_t> insert_link(Store::Impl& impl, const DomainRecord& domain, const LinkInput& in,
                                 std::string_view code, std::string_view tags, std::int64_t now) {
    if (impl.insert_link_stmt == nullptr) {
        auto stmt = impl.prepare(
            "INSERT INTO links (domain_id, code, ci, destination, redirect_type, status, forward_query, "
            "not_before, expires, tags, created_at, updated_at, title, rules, expired_url, reserved, password_hash) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)");
        if (!stmt) {
            return stmt.status();
        }
        impl.insert_link_stmt = *stmt;
    }
    // Texts bound without a copy: they outlive the step, and StmtUse resets the statement.
    StmtUse s(*impl.insert_link_stmt);
    s->bind(1, domain.id).bind_static(2, code).bind(3, std::int64_t{domain.case_insensitive});
    s->bind_static(4, in.destination);
    s->bind(5, std::int64_t{in.redirect_type}).bind(6, static_cast<std::int64_t>(in.status));
    s->bind(7, std::int64_t{in.forward_query}).bind(8, in.not_before).bind(9, in.expires);
    s->bind_static(10, tags).bind(11, in.created_at != 0 ? in.created_at : now).bind(12, now);
    s->bind_static(13, in.title);
    s->bind(14, in.rules ? encode_rules(*in.rules) : std::string());
    s->bind_static(15, in.expired_url).bind(16, std::int64_t{in.reserved});
    s->bind(17, in.password_hash.value_or(std::string()));
    int rc = s->step();
    if (rc == SQLITE_DONE) {
        return sqlite3_last_insert_rowid(impl.db.get());
    }
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        return Status::conflict("code '" + std::string(code) + "' already exists on domain '" + domain.host + "'" +
                                (domain.case_insensitive ? " (this domain ignores case)" : ""));
    }
    return detail::sqlite_error(impl.db.get(), rc, "cannot insert link");
}

Link link_from_input(const DomainRecord& domain, const LinkInput& in, std::string code, std::int64_t id,
                     std::int64_t now) {
    Link l;
    l.id = id;
    l.domain_id = domain.id;
    l.host = domain.host;
    l.code = std::move(code);
    l.destination = in.destination;
    l.status = in.status;
    l.redirect_type = in.redirect_type;
    l.forward_query = in.forward_query;
    l.not_before = in.not_before;
    l.expires = in.expires;
    l.tags = decode_tags(encode_tags(in.tags));
    l.title = in.title;
    l.rules = in.rules.value_or(std::vector<Rule>{});
    l.expired_url = in.expired_url;
    l.reserved = in.reserved;
    l.password_hash = in.password_hash.value_or(std::string());
    l.version = 1;
    l.created_at = in.created_at != 0 ? in.created_at : now;
    l.updated_at = now;
    return l;
}

// Writes every mutable field of `l` and bumps its version.
Status update_link(Store::Impl& impl, Link& l, std::int64_t now) {
    auto stmt = impl.prepare(
        "UPDATE links SET destination = ?2, redirect_type = ?3, status = ?4, forward_query = ?5, "
        "not_before = ?6, expires = ?7, tags = ?8, title = ?10, rules = ?11, expired_url = ?12, reserved = ?13, "
        "password_hash = ?14, version = version + 1, updated_at = ?9 WHERE id = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, l.id).bind(2, l.destination).bind(3, std::int64_t{l.redirect_type});
    s->bind(4, static_cast<std::int64_t>(l.status)).bind(5, std::int64_t{l.forward_query});
    s->bind(6, l.not_before).bind(7, l.expires).bind(8, encode_tags(l.tags)).bind(9, now).bind(10, l.title);
    s->bind(11, encode_rules(l.rules)).bind(12, l.expired_url).bind(13, std::int64_t{l.reserved});
    s->bind(14, l.password_hash);
    int rc = s->step();
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(impl.db.get(), rc, "cannot update link");
    }
    l.version += 1;
    l.updated_at = now;
    return Status::ok();
}

}  // namespace

namespace {

// The fields of a link's audit image, as views: a Link and a LinkInput about to be inserted
// both write it without building the other.
struct LinkImage {
    std::string_view host;
    std::string_view code;
    std::string_view url;
    LinkState status = LinkState::active;
    std::uint16_t redirect_type = 0;
    int forward_query = -1;
    std::int64_t not_before = 0;
    std::int64_t expires = 0;
    std::string_view tags;  // encode_tags() form: ",a,b," or ""
    std::string_view title;
    std::int64_t version = 1;
    std::string_view rules;  // encode_rules() form; "" (no rules) is left out of the image
    std::string_view expired_url;  // "" is left out of the image
    bool reserved = false;         // false is left out of the image
    std::string_view password;  // password_fingerprint(); "" (no password) is left out
};

// True when rapidjson would write `text` unescaped: printable ASCII without '"' or '\'. Every
// validated host, code, URL and tag is, and most titles; the check keeps the fast writer exact
// for anything else.
bool plain_json_text(std::string_view text) {
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
            return false;
        }
    }
    return true;
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    out.append(buf, static_cast<std::size_t>(end - buf));
}

// The JSON after-image into `out` (replaced). The one writer of this shape, so an imported
// link's row is byte for byte what `add` of the same link writes. rapidjson writes it, except in
// the common case where no string needs escaping: then the same bytes are appended directly,
// because rapidjson's per-character escaping and per-call set-up were 6% of a 1M-link import.
void write_link_image(const LinkImage& l, std::string& out) {
    out.clear();
    if (plain_json_text(l.host) && plain_json_text(l.code) && plain_json_text(l.url) && plain_json_text(l.tags) &&
        plain_json_text(l.title) && plain_json_text(l.expired_url)) {
        out.append("{\"host\":\"").append(l.host).append("\",\"code\":\"").append(l.code);
        out.append("\",\"url\":\"").append(l.url).append("\",\"status\":\"").append(link_state_name(l.status));
        out.append("\",\"type\":");
        append_int(out, l.redirect_type);
        out.append(",\"forward_query\":");
        append_int(out, l.forward_query);
        out.append(",\"not_before\":");
        append_int(out, l.not_before);
        out.append(",\"expires\":");
        append_int(out, l.expires);
        out.append(",\"tags\":[");
        for (std::size_t pos = 1; pos < l.tags.size();) {
            std::size_t comma = l.tags.find(',', pos);
            out.append(pos > 1 ? ",\"" : "\"").append(l.tags.substr(pos, comma - pos)).append("\"");
            pos = comma + 1;
        }
        out.append("],\"title\":\"").append(l.title).append("\",\"version\":");
        append_int(out, l.version);
        if (!l.rules.empty()) {
            out.append(",\"rules\":").append(l.rules);
        }
        if (!l.expired_url.empty()) {
            out.append(",\"expired_url\":\"").append(l.expired_url).append("\"");
        }
        if (l.reserved) {
            out.append(",\"reserved\":true");
        }
        if (!l.password.empty()) {
            out.append(",\"password\":\"").append(l.password).append("\"");
        }
        out.append("}");
        return;
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    write_string(w, "host", l.host);
    write_string(w, "code", l.code);
    write_string(w, "url", l.url);
    write_string(w, "status", link_state_name(l.status));
    w.Key("type");
    w.Uint(l.redirect_type);
    w.Key("forward_query");
    w.Int(l.forward_query);
    w.Key("not_before");
    w.Int64(l.not_before);
    w.Key("expires");
    w.Int64(l.expires);
    w.Key("tags");
    w.StartArray();
    for (std::size_t pos = 1; pos < l.tags.size();) {
        std::size_t comma = l.tags.find(',', pos);
        w.String(l.tags.data() + pos, static_cast<rapidjson::SizeType>(comma - pos));
        pos = comma + 1;
    }
    w.EndArray();
    write_string(w, "title", l.title);
    w.Key("version");
    w.Int64(l.version);
    if (!l.rules.empty()) {
        w.Key("rules");
        w.RawValue(l.rules.data(), l.rules.size(), rapidjson::kArrayType);
    }
    if (!l.expired_url.empty()) {
        write_string(w, "expired_url", l.expired_url);
    }
    if (l.reserved) {
        w.Key("reserved");
        w.Bool(true);
    }
    if (!l.password.empty()) {
        write_string(w, "password", l.password);
    }
    w.EndObject();
    out.assign(buf.GetString(), buf.GetSize());
}

}  // namespace

namespace {

// What an audit image says of a password: the first 8 hex digits of SHA-256 over the stored
// hash text. Enough to see in history that a password was set, changed or removed (a new salt
// changes it even for the same password); useless for guessing, since the salt and the derived
// key stay out of the log.
std::string password_fingerprint(std::string_view password_hash) {
    if (password_hash.empty()) {
        return {};
    }
    const formats::Sha256Digest d = formats::sha256(password_hash.data(), password_hash.size());
    return formats::bytes::hex_encode(d.data(), 4);
}

}  // namespace

std::string link_audit_json(const Link& l) {
    std::string tags = encode_tags(l.tags);
    std::string rules = encode_rules(l.rules);
    std::string password = password_fingerprint(l.password_hash);
    std::string out;
    write_link_image({l.host, l.code, l.destination, l.status, l.redirect_type, l.forward_query, l.not_before,
                      l.expires, tags, l.title, l.version, rules, l.expired_url, l.reserved, password},
                     out);
    return out;
}

Result<Link> Store::add_link(const LinkInput& input, const CodeGenerator& generate) {
    Status st = m_impl->begin_write();
    if (!st) {
        return st;
    }
    auto fail = [&](Status s) -> Result<Link> {
        m_impl->rollback_write();
        return s;
    };
    auto domain = m_impl->domain(input.host);
    if (!domain) {
        return fail(domain.status());
    }
    std::int64_t now = clock::unix_seconds();
    std::string code = input.code;
    Result<std::int64_t> id = Status::conflict("no code could be generated");
    for (int attempt = 0; attempt < (input.code.empty() ? k_code_attempts : 1); ++attempt) {
        if (input.code.empty()) {
            code = generate();
        }
        id = insert_link(*m_impl, *domain, input, code, encode_tags(input.tags), now);
        if (id || id.status().code() != Status::Code::conflict) {
            break;
        }
    }
    if (!id) {
        return fail(id.status());
    }
    Link link = link_from_input(*domain, input, code, *id, now);
    st = m_impl->audit("add", link.host, link.code, link.id, "", link_audit_json(link));
    if (st) {
        st = m_impl->commit_write();
    }
    if (!st) {
        return fail(st);
    }
    return link;
}

Result<Link> Store::get_link(std::string_view host, std::string_view code) {
    auto domain = m_impl->domain(host);
    if (!domain) {
        return domain.status();
    }
    return find_link(*m_impl, *domain, code);
}

Status Store::list_links(const LinkFilter& filter, const std::function<bool(const Link&)>& on_link) {
    std::int64_t domain_id = 0;
    if (!filter.host.empty()) {
        auto domain = m_impl->domain(filter.host);
        if (!domain) {
            return domain.status();
        }
        domain_id = domain->id;
    }
    // One statement for every filter combination: unset filters compare against NULL-ish
    // sentinels, and (domain_id, code) order comes from the UNIQUE index. The effective state
    // and the search are judged here, in one place each, so the limit counts what passes them.
    auto stmt = m_impl->prepare(std::string(k_link_select) +
                                "WHERE d.removed = 0 AND (?1 = 0 OR l.domain_id = ?1) AND (?2 < 0 OR l.status = ?2) "
                                "AND (?3 = '' OR instr(l.tags, ',' || ?3 || ',') > 0) "
                                "ORDER BY l.domain_id, l.code");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, domain_id);
    s->bind(2, filter.status ? static_cast<std::int64_t>(*filter.status) : std::int64_t{-1});
    s->bind(3, filter.tag);
    std::int64_t delivered = 0;
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        Link link = read_link(s.get());
        if (filter.state && effective_state(link.status, link.reserved ? formats::k_reserved_not_before : link.not_before,
                                            link.expires, filter.now) != *filter.state) {
            continue;
        }
        if (!filter.search.empty() && !contains_ignoring_case(link.code, filter.search) &&
            !contains_ignoring_case(link.destination, filter.search) &&
            !contains_ignoring_case(link.title, filter.search)) {
            continue;
        }
        if (!on_link(link) || (filter.limit > 0 && ++delivered == filter.limit)) {
            return Status::ok();
        }
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot list links");
    }
    return Status::ok();
}

namespace {

// One audited change of an existing link, in its own write transaction: finds (host, code), lets
// `change` modify the link and name the audit action, then updates the row and appends the audit
// entry with the before and after states. `change` returns an empty action when there is nothing
// to change (nothing is written), or an error that rolls everything back.
Result<Link> change_link(Store::Impl& impl, std::string_view host, std::string_view code,
                         const std::function<Result<std::string_view>(Link&)>& change) {
    Status st = impl.begin_write();
    if (!st) {
        return st;
    }
    auto fail = [&](Status s) -> Result<Link> {
        impl.rollback_write();
        return s;
    };
    auto domain = impl.domain(host);
    if (!domain) {
        return fail(domain.status());
    }
    auto found = find_link(impl, *domain, code);
    if (!found) {
        return fail(found.status());
    }
    Link link = *found;
    std::string before = link_audit_json(link);
    Result<std::string_view> action = change(link);
    if (!action) {
        return fail(action.status());
    }
    if (action->empty()) {
        impl.rollback_write();
        return link;
    }
    st = update_link(impl, link, clock::unix_seconds());
    if (st) {
        st = impl.audit(*action, link.host, link.code, link.id, before, link_audit_json(link));
    }
    if (st) {
        st = impl.commit_write();
    }
    if (!st) {
        return fail(st);
    }
    return link;
}

}  // namespace

Result<Link> Store::edit_link(std::string_view host, std::string_view code, const LinkPatch& patch) {
    return change_link(*m_impl, host, code, [&](Link& link) -> Result<std::string_view> {
        link.destination = patch.destination.value_or(link.destination);
        link.redirect_type = patch.redirect_type.value_or(link.redirect_type);
        link.forward_query = patch.forward_query.value_or(link.forward_query);
        link.not_before = patch.not_before.value_or(link.not_before);
        link.expires = patch.expires.value_or(link.expires);
        link.title = patch.title.value_or(link.title);
        link.expired_url = patch.expired_url.value_or(link.expired_url);
        // A reserved link has no start time: reserving drops the one it had, and giving it one
        // makes it live from then on.
        if (patch.reserved) {
            link.reserved = *patch.reserved;
        } else if (patch.not_before && *patch.not_before != 0) {
            link.reserved = false;
        }
        if (link.reserved && link.not_before != 0) {
            if (patch.not_before && *patch.not_before != 0) {
                return Status::invalid_argument("a reserved link has no start time: reserve it or give it one");
            }
            link.not_before = 0;
        }
        link.password_hash = patch.password_hash.value_or(link.password_hash);
        for (const std::string& t : patch.add_tags) {
            link.tags.push_back(t);
        }
        std::erase_if(link.tags, [&](const std::string& t) {
            return std::find(patch.remove_tags.begin(), patch.remove_tags.end(), t) != patch.remove_tags.end();
        });
        link.tags = decode_tags(encode_tags(link.tags));
        return std::string_view("edit");
    });
}

Result<Link> Store::add_rule(std::string_view host, std::string_view code, const Rule& rule, std::size_t position) {
    Rule normalized = rule;
    if (Status st = normalize_rule(normalized, clock::unix_seconds()); !st) {
        return st;
    }
    return change_link(*m_impl, host, code, [&](Link& link) -> Result<std::string_view> {
        if (position > link.rules.size() + 1) {
            return Status::not_found("link '" + link.code + "' has " + std::to_string(link.rules.size()) +
                                     " rule(s); a new one goes at 1 to " + std::to_string(link.rules.size() + 1));
        }
        const std::size_t at = position == 0 ? link.rules.size() : position - 1;
        link.rules.insert(link.rules.begin() + static_cast<std::ptrdiff_t>(at), normalized);
        if (Status st = check_rule_list(link.rules); !st) {
            return st;
        }
        return std::string_view("rule-add");
    });
}

namespace {

Status no_rule(const Link& link, std::size_t position) {
    if (link.rules.empty()) {
        return Status::not_found("link '" + link.code + "' has no rules");
    }
    return Status::not_found("link '" + link.code + "' has no rule " + std::to_string(position) + " (it has 1 to " +
                             std::to_string(link.rules.size()) + ")");
}

}  // namespace

Result<Link> Store::remove_rule(std::string_view host, std::string_view code, std::size_t position) {
    return change_link(*m_impl, host, code, [&](Link& link) -> Result<std::string_view> {
        if (position == 0 || position > link.rules.size()) {
            return no_rule(link, position);
        }
        link.rules.erase(link.rules.begin() + static_cast<std::ptrdiff_t>(position - 1));
        return std::string_view("rule-remove");
    });
}

Result<Link> Store::move_rule(std::string_view host, std::string_view code, std::size_t from, std::size_t to) {
    return change_link(*m_impl, host, code, [&](Link& link) -> Result<std::string_view> {
        for (std::size_t position : {from, to}) {
            if (position == 0 || position > link.rules.size()) {
                return no_rule(link, position);
            }
        }
        if (from == to) {
            return std::string_view();  // already there: nothing to record
        }
        Rule moved = std::move(link.rules[from - 1]);
        link.rules.erase(link.rules.begin() + static_cast<std::ptrdiff_t>(from - 1));
        link.rules.insert(link.rules.begin() + static_cast<std::ptrdiff_t>(to - 1), std::move(moved));
        return std::string_view("rule-move");
    });
}

Result<Link> Store::change_state(std::string_view host, std::string_view code, StateAction action) {
    return change_link(*m_impl, host, code, [&](Link& link) -> Result<std::string_view> {
        LinkState target = LinkState::active;
        std::string_view name = "enable";
        switch (action) {
        case StateAction::disable:
            target = LinkState::disabled;
            name = "disable";
            break;
        case StateAction::enable: break;
        case StateAction::remove:
            target = LinkState::deleted;
            name = "delete";
            break;
        case StateAction::restore: name = "restore"; break;
        }
        bool from_deleted = link.status == LinkState::deleted;
        if (from_deleted && (action == StateAction::disable || action == StateAction::enable)) {
            return Status::conflict("link '" + link.code + "' is deleted; `shortlink restore` it first");
        }
        if (action == StateAction::restore && !from_deleted) {
            return Status::conflict("link '" + link.code + "' is not deleted (it is " +
                                    std::string(link_state_name(link.status)) + ")");
        }
        if (link.status == target) {
            return std::string_view();  // already there: nothing to record
        }
        link.status = target;
        return name;
    });
}

Status Store::begin_bulk(bool create_missing_domains) {
    if (m_impl->in_bulk) {
        return Status::invalid_argument("a bulk transaction is already open");
    }
    // A 64 MiB page cache (the default is 2 MiB). The importer inserts in (domain, code) order,
    // so the pages an import touches are few at a time: the rightmost leaves and their parents,
    // a run of neighbouring index leaves. A larger cache only held pages already written for
    // good, and every page it grew by cost a page fault: with 256 MiB, zeroing fresh pages was
    // 10% of an import's CPU and peak RSS 445 MB (now about 240 MB for 1M links).
    Status st = m_impl->exec("PRAGMA cache_size = -65536");
    if (st) {
        st = m_impl->exec("BEGIN IMMEDIATE");
    }
    if (st) {
        // Domains and the audit chain read before the write lock may have changed since; read
        // them again under it.
        m_impl->domain_cache.clear();
        m_impl->chain_known = false;
        m_impl->in_bulk = true;
        m_impl->bulk_create_domains = create_missing_domains;
        m_impl->bulk_domains_created = 0;
        // put_links() relies on SQLite giving a statement's new rows max(rowid) + 1, + 2, ...,
        // which holds while the largest rowid is far from 2^63 - 1 (then SQLite picks random
        // free rowids). Read it once under the write lock; no other writer can change it.
        auto max_id = m_impl->prepare("SELECT COALESCE(MAX(id), 0) FROM links");
        if (!max_id) {
            m_impl->exec_best_effort("ROLLBACK");
            m_impl->in_bulk = false;
            return max_id.status();
        }
        StmtUse s(**max_id);
        m_impl->bulk_rowids_sequential = s->step() == SQLITE_ROW && s->i64(0) < (std::int64_t{1} << 62);
    }
    return st;
}

std::uint64_t Store::bulk_domains_created() const {
    return static_cast<std::uint64_t>(m_impl->bulk_domains_created);
}

namespace {

// Import audit rows per INSERT statement. Each statement execution has a fixed cost (start,
// halt, reset, clearing bindings) about as large as writing a row: 1M single-row inserts took
// 2.5 s of CPU in a micro-benchmark, 16-row ones 1.7 s.
constexpr std::size_t k_audit_batch = 16;
// The parameters of one row of that INSERT: every column but the NULL before and last_link_id.
// 16 x 9 parameters stay far below SQLite's limit.
constexpr int k_audit_batch_params = 9;
// The parameters of one row of put_links()' multi-row link INSERT (k_link_batch rows of them).
constexpr int k_insert_params = 13;

}  // namespace

Status Store::Impl::queue_import_audit(std::int64_t at, std::string_view host, std::string_view code,
                                       std::int64_t link_id, std::string_view after_json) {
    PendingAudit p;
    p.at = at;
    p.link_id = link_id;
    p.host = pending_text.size();
    p.host_len = host.size();
    pending_text += host;
    p.code = pending_text.size();
    p.code_len = code.size();
    pending_text += code;
    p.after = pending_text.size();
    p.after_len = after_json.size();
    pending_text += after_json;
    pending_audit.push_back(p);
    return pending_audit.size() >= k_audit_batch ? flush_import_audit() : Status::ok();
}

Status Store::Impl::flush_import_audit() {
    std::vector<PendingAudit> rows;
    rows.swap(pending_audit);  // cleared first: write_audit() below must not flush again
    std::string text;
    text.swap(pending_text);
    auto view = [&](std::size_t off, std::size_t len) { return std::string_view(text).substr(off, len); };
    std::size_t i = 0;
    Status st = Status::ok();
    if (rows.size() >= k_audit_batch) {
        st = load_chain_head();
        if (st && audit_batch_stmt == nullptr) {
            std::string sql = "INSERT INTO audit_log (id, at, actor, action, host, code, link_id, before, after, "
                              "last_link_id, hash) VALUES ";
            for (std::size_t r = 0; r < k_audit_batch; ++r) {
                sql += r == 0 ? "(?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?)" : ", (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?)";
            }
            auto stmt = prepare(sql);
            if (!stmt) {
                st = stmt.status();
            } else {
                audit_batch_stmt = *stmt;
            }
        }
        using detail::AuditValue;
        std::array<detail::AuditHash, k_audit_batch> hashes;
        for (; st && rows.size() - i >= k_audit_batch; i += k_audit_batch) {
            StmtUse s(*audit_batch_stmt);
            for (std::size_t r = 0; r < k_audit_batch; ++r) {
                const PendingAudit& p = rows[i + r];
                AuditValue values[] = {AuditValue::null(),
                                       AuditValue::of(p.at),
                                       AuditValue::of(actor),
                                       AuditValue::of(std::string_view("import")),
                                       AuditValue::of(view(p.host, p.host_len)),
                                       AuditValue::of(view(p.code, p.code_len)),
                                       AuditValue::of(p.link_id),
                                       AuditValue::null(),
                                       AuditValue::of(view(p.after, p.after_len)),
                                       AuditValue::null()};
                chain_next(values, hashes[r]);
                int base = static_cast<int>(r) * k_audit_batch_params;
                s->bind(base + 1, values[0].integer).bind(base + 2, p.at).bind_static(base + 3, actor);
                s->bind_static(base + 4, "import").bind_static(base + 5, view(p.host, p.host_len));
                s->bind_static(base + 6, view(p.code, p.code_len)).bind(base + 7, p.link_id);
                s->bind_static(base + 8, view(p.after, p.after_len)).bind_static(base + 9, hashes[r]);
            }
            int rc = s->step();
            if (rc != SQLITE_DONE) {
                chain_known = false;
                st = detail::sqlite_error(db.get(), rc, "cannot write the audit log");
            }
        }
    }
    for (; st && i < rows.size(); ++i) {
        const PendingAudit& p = rows[i];
        st = write_audit(p.at, "import", view(p.host, p.host_len), view(p.code, p.code_len), p.link_id, {},
                         view(p.after, p.after_len), 0);
    }
    // Give the (empty) buffers back so the next batch reuses their memory.
    rows.clear();
    text.clear();
    pending_audit.swap(rows);
    pending_text.swap(text);
    return st;
}

Status Store::end_bulk(bool commit) {
    if (!m_impl->in_bulk) {
        return Status::invalid_argument("no bulk transaction is open");
    }
    if (commit) {
        Status st = m_impl->flush_import_audit();
        if (!st) {
            m_impl->in_bulk = false;
            m_impl->chain_known = false;
            m_impl->exec_best_effort("PRAGMA cache_size = -2000");
            m_impl->exec_best_effort("ROLLBACK");
            m_impl->domain_cache.clear();
            return st;
        }
    } else {
        m_impl->pending_audit.clear();
        m_impl->pending_text.clear();
    }
    m_impl->in_bulk = false;
    m_impl->chain_known = false;
    m_impl->exec_best_effort("PRAGMA cache_size = -2000");
    if (commit) {
        Status st = m_impl->exec("COMMIT");
        if (!st) {
            m_impl->exec_best_effort("ROLLBACK");
            m_impl->domain_cache.clear();
            return st;
        }
        // A large import leaves a WAL as big as the data it wrote, and connections skip the
        // checkpoint on close, so every later one-shot command would reread that whole WAL to
        // rebuild its index (about 0.9 s per `add` after a 1M-link import). Move it into the
        // database now and truncate it; if a reader holds it, SQLite checkpoints what it can and
        // the automatic checkpoint finishes later, so this is best effort.
        m_impl->exec_best_effort("PRAGMA wal_checkpoint(TRUNCATE)");
        return Status::ok();
    }
    // Domains created by the rolled-back import no longer exist.
    m_impl->domain_cache.clear();
    return m_impl->exec("ROLLBACK");
}

Result<const DomainRecord*> Store::Impl::bulk_domain(Store& store, std::string_view host) {
    if (host.empty()) {
        host = k_default_host;
    }
    auto it = domain_cache.find(host);
    if (it != domain_cache.end()) {
        return &it->second;
    }
    auto found = domain(host);
    if (!found && found.status().code() == Status::Code::not_found) {
        if (!bulk_create_domains) {
            return Status::not_found("domain '" + std::string(host) + "' does not exist (add it with `shortlink domain add " +
                                     std::string(host) + "`, or import with --create-domains)");
        }
        DomainRecord record;
        record.host = std::string(host);
        auto added = store.add_domain(record);  // audited as domain-add, inside the bulk transaction
        if (!added) {
            return added.status();
        }
        ++bulk_domains_created;
        found = std::move(added);
    }
    if (!found) {
        return found.status();
    }
    // domain() filled the cache (add_domain cleared it first); hand out the cached record.
    it = domain_cache.find(host);
    if (it == domain_cache.end()) {
        it = domain_cache.emplace(std::string(host), *found).first;
    }
    return &it->second;
}

Result<DomainRecord> Store::resolve_bulk_domain(std::string_view host) {
    if (!m_impl->in_bulk) {
        return Status::invalid_argument("no bulk transaction is open");
    }
    auto domain = m_impl->bulk_domain(*this, host);
    if (!domain) {
        return domain.status();
    }
    return **domain;
}

Result<PutOutcome> Store::put_link(const LinkInput& input, OnConflict on_conflict) {
    auto found_domain = m_impl->bulk_domain(*this, input.host);
    if (!found_domain) {
        return found_domain.status();
    }
    const DomainRecord& domain = **found_domain;
    std::int64_t now = clock::unix_seconds();
    std::string tags = encode_tags(input.tags);
    auto id = insert_link(*m_impl, domain, input, input.code, tags, now);
    if (id) {
        // Its own audit row, its after-image built here from the values just inserted (no second
        // pass over links), queued and written with its neighbours by one multi-row INSERT.
        // One buffer per thread, reused: an import writes a million of these.
        static thread_local std::string image;
        const std::string rules = input.rules ? encode_rules(*input.rules) : std::string();
        const std::string password = password_fingerprint(input.password_hash.value_or(std::string()));
        write_link_image({domain.host, input.code, input.destination, input.status, input.redirect_type,
                          input.forward_query, input.not_before, input.expires, tags, input.title, 1, rules,
                          input.expired_url, input.reserved, password},
                         image);
        Status st = m_impl->queue_import_audit(now, domain.host, input.code, *id, image);
        if (!st) {
            return st;
        }
        return PutOutcome::inserted;
    }
    if (id.status().code() != Status::Code::conflict || on_conflict == OnConflict::fail) {
        return id.status();
    }
    if (on_conflict == OnConflict::skip) {
        return PutOutcome::skipped;
    }
    auto found = find_link(*m_impl, domain, input.code);
    if (!found) {
        return found.status();
    }
    if (found->code != input.code) {
        return Status::conflict("code '" + input.code + "' differs only in case from existing '" + found->code +
                                "' on case-insensitive domain '" + domain.host + "'");
    }
    Link link = *found;
    std::string before = link_audit_json(link);
    link.destination = input.destination;
    link.redirect_type = input.redirect_type;
    link.status = input.status;
    link.forward_query = input.forward_query;
    link.not_before = input.not_before;
    link.expires = input.expires;
    link.tags = decode_tags(tags);
    link.title = input.title;
    link.expired_url = input.expired_url;
    link.reserved = input.reserved;
    if (input.rules) {
        link.rules = *input.rules;
    }
    if (input.password_hash) {
        link.password_hash = *input.password_hash;
    }
    Status st = update_link(*m_impl, link, now);
    if (st) {
        st = m_impl->audit("import-update", link.host, link.code, link.id, before, link_audit_json(link));
    }
    if (!st) {
        return st;
    }
    return PutOutcome::updated;
}

Status Store::put_links(const std::vector<LinkInput>& inputs, OnConflict on_conflict,
                        std::vector<PutOutcome>& outcomes) {
    outcomes.clear();
    // The batch statement writes no rules, expired URLs or reservations: a batch where a link has
    // one goes one by one.
    if (inputs.size() == k_link_batch && m_impl->bulk_rowids_sequential &&
        std::all_of(inputs.begin(), inputs.end(), [&](const LinkInput& in) {
            return in.host == inputs[0].host && (!in.rules || in.rules->empty()) && in.expired_url.empty() &&
                   !in.reserved && (!in.password_hash || in.password_hash->empty());
        })) {
        auto found_domain = m_impl->bulk_domain(*this, inputs[0].host);
        if (!found_domain) {
            return found_domain.status();
        }
        const DomainRecord& domain = **found_domain;
        if (m_impl->insert_links_stmt == nullptr) {
            std::string sql = "INSERT INTO links (domain_id, code, ci, destination, redirect_type, status, forward_query, "
                              "not_before, expires, tags, created_at, updated_at, title) VALUES ";
            for (std::size_t r = 0; r < k_link_batch; ++r) {
                sql += r == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            }
            auto stmt = m_impl->prepare(sql);
            if (!stmt) {
                return stmt.status();
            }
            m_impl->insert_links_stmt = *stmt;
        }
        std::int64_t now = clock::unix_seconds();
        static thread_local std::vector<std::string> tags(k_link_batch);
        int rc = SQLITE_OK;
        {
            StmtUse s(*m_impl->insert_links_stmt);
            for (std::size_t r = 0; r < k_link_batch; ++r) {
                const LinkInput& in = inputs[r];
                tags[r] = encode_tags(in.tags);
                int b = static_cast<int>(r) * k_insert_params;
                s->bind(b + 1, domain.id).bind_static(b + 2, in.code).bind(b + 3, std::int64_t{domain.case_insensitive});
                s->bind_static(b + 4, in.destination).bind(b + 5, std::int64_t{in.redirect_type});
                s->bind(b + 6, static_cast<std::int64_t>(in.status)).bind(b + 7, std::int64_t{in.forward_query});
                s->bind(b + 8, in.not_before).bind(b + 9, in.expires).bind_static(b + 10, tags[r]);
                s->bind(b + 11, in.created_at != 0 ? in.created_at : now).bind(b + 12, now);
                s->bind_static(b + 13, in.title);
            }
            rc = s->step();
        }
        if (rc == SQLITE_DONE) {
            // One statement, under the write lock: its rows took consecutive new rowids
            // (max(rowid) + 1 each), so the first is the last one's minus the batch size.
            std::int64_t first_id = sqlite3_last_insert_rowid(m_impl->db.get()) - static_cast<std::int64_t>(k_link_batch) + 1;
            static thread_local std::string image;
            for (std::size_t r = 0; r < k_link_batch; ++r) {
                const LinkInput& in = inputs[r];
                write_link_image({domain.host, in.code, in.destination, in.status, in.redirect_type, in.forward_query,
                                  in.not_before, in.expires, tags[r], in.title, 1, {}, {}, false, {}},
                                 image);
                Status st = m_impl->queue_import_audit(now, domain.host, in.code, first_id + static_cast<std::int64_t>(r),
                                                       image);
                if (!st) {
                    return st;
                }
                outcomes.push_back(PutOutcome::inserted);
            }
            return Status::ok();
        }
        if ((rc & 0xff) != SQLITE_CONSTRAINT) {
            return detail::sqlite_error(m_impl->db.get(), rc, "cannot insert links");
        }
        // A code in the batch exists (or repeats): SQLite undid the whole statement; take the
        // rows one by one for their exact outcomes and messages.
    }
    for (const LinkInput& in : inputs) {
        auto outcome = put_link(in, on_conflict);
        if (!outcome) {
            return outcome.status();
        }
        outcomes.push_back(*outcome);
    }
    return Status::ok();
}

}  // namespace shortlink::store
