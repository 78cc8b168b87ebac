// The link store: blocks (add, remove, list), their audit rows, and keeping link blocks spelt as
// the server looks codes up when a domain's case rule changes.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "formats/clock.h"
#include "store/store_internal.h"
#include "store/timefmt.h"
#include "store/validate.h"

namespace shortlink::store {

using detail::Stmt;
using detail::StmtUse;

namespace {

constexpr const char* k_block_columns = "id, kind, host, code, reason, actor, created_at";

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

BlockRecord read_block(Stmt& s) {
    BlockRecord b;
    b.id = s.i64(0);
    b.kind = parse_block_kind(s.text(1)).value_or(BlockKind::link);  // the schema CHECKs the name
    b.host = std::string(s.text(2));
    b.code = std::string(s.text(3));
    b.reason = std::string(s.text(4));
    b.actor = std::string(s.text(5));
    b.created_at = s.i64(6);
    return b;
}

// The audit image of a block: what it covers and why; who and when are the audit row's own.
std::string block_audit_json(const BlockRecord& b) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto key_string = [&](const char* key, std::string_view v) {
        w.Key(key);
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    key_string("kind", block_kind_name(b.kind));
    key_string("host", b.host);
    key_string("code", b.code);
    key_string("reason", b.reason);
    w.EndObject();
    return buf.GetString();
}

// "link 'spring' on domain 'go.example.com'", "domain '*'", "destination host 'evil.example'":
// how messages name a block's target.
std::string describe_target(BlockKind kind, std::string_view host, std::string_view code) {
    switch (kind) {
    case BlockKind::link:
        return "link '" + validate::printable(code) + "' on domain '" + validate::printable(host) + "'";
    case BlockKind::domain: return "domain '" + validate::printable(host) + "'";
    case BlockKind::destination: return "destination host '" + validate::printable(host) + "'";
    }
    return "block";
}

// What add_block() and remove_block() resolve a target to before touching the blocks table.
struct Target {
    std::string host;            // blocks.host
    std::string code;            // blocks.code
    std::string audit_code;      // the link's own spelling, as its other audit rows have it
    std::int64_t link_id = 0;    // 0: not a link, or its link no longer exists
};

// The link `code` of the domain named `host`, removed or not: exact spelling first, then (where
// the links are case-insensitive) the folded one. Ok with id 0 when there is none.
Result<std::pair<std::int64_t, std::string>> find_block_link(Store::Impl& impl, std::string_view host,
                                                             std::string_view code) {
    for (const char* match : {"l.code = ?2", "l.ci = 1 AND lower(l.code) = lower(?2)"}) {
        auto stmt = impl.prepare(std::string("SELECT l.id, l.code FROM links l JOIN domains d ON d.id = l.domain_id "
                                             "WHERE d.host = ?1 AND ") +
                                 match);
        if (!stmt) {
            return stmt.status();
        }
        StmtUse s(**stmt);
        s->bind(1, host).bind(2, code);
        int rc = s->step();
        if (rc == SQLITE_ROW) {
            return std::pair<std::int64_t, std::string>(s->i64(0), std::string(s->text(1)));
        }
        if (rc != SQLITE_DONE) {
            return detail::sqlite_error(impl.db.get(), rc, "cannot read link");
        }
    }
    return std::pair<std::int64_t, std::string>(0, std::string());
}

// The target of a new block: the link or domain must exist and the domain must not be removed;
// a destination host only has to be valid.
Result<Target> resolve_new_target(Store& store, Store::Impl& impl, BlockKind kind, std::string_view host,
                                  std::string_view code) {
    Target t;
    if (kind == BlockKind::destination) {
        auto normalized = validate::normalize_blocked_host(host);
        if (!normalized) {
            return normalized.status();
        }
        t.host = std::move(normalized).value();
        return t;
    }
    auto domain = impl.domain(host);
    if (!domain) {
        return domain.status();
    }
    t.host = domain->host;
    if (kind == BlockKind::link) {
        auto link = store.get_link(domain->host, code);
        if (!link && link.status().code() != Status::Code::not_found) {
            return link.status();
        }
        if (!link) {
            return Status::not_found("no link '" + validate::printable(code) + "' on domain '" + domain->host +
                                     "' to block");
        }
        t.link_id = link->id;
        t.audit_code = link->code;
        // The snapshot stores a case-insensitive domain's codes folded, and the server folds the
        // request's code before the lookup: the block must name the same bytes.
        t.code = domain->case_insensitive ? ascii_lower(link->code) : link->code;
    }
    return t;
}

// The target of an existing block, whatever became of its domain or link since.
Result<Target> resolve_old_target(Store::Impl& impl, BlockKind kind, std::string_view host,
                                  std::string_view code) {
    Target t;
    if (kind == BlockKind::destination) {
        auto normalized = validate::normalize_blocked_host(host);
        if (!normalized) {
            return normalized.status();
        }
        t.host = std::move(normalized).value();
        return t;
    }
    t.host = host.empty() ? std::string(k_default_host) : std::string(host);
    if (kind == BlockKind::link) {
        auto link = find_block_link(impl, t.host, code);
        if (!link) {
            return link.status();
        }
        t.link_id = link->first;
        t.audit_code = link->first != 0 ? link->second : std::string(code);
        // The block holds the spelling its domain's case rule gave it (refold_link_blocks()).
        auto ci = impl.prepare("SELECT case_insensitive FROM domains WHERE host = ?1");
        if (!ci) {
            return ci.status();
        }
        StmtUse s(**ci);
        s->bind(1, t.host);
        bool folded = s->step() == SQLITE_ROW && s->i64(0) != 0;
        const std::string& spelling = link->first != 0 ? link->second : t.audit_code;
        t.code = folded ? ascii_lower(spelling) : spelling;
    }
    return t;
}

Result<std::optional<BlockRecord>> find_block(Store::Impl& impl, BlockKind kind, const Target& t) {
    auto stmt = impl.prepare(std::string("SELECT ") + k_block_columns +
                             " FROM blocks WHERE kind = ?1 AND host = ?2 AND code = ?3");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, block_kind_name(kind)).bind(2, t.host).bind(3, t.code);
    int rc = s->step();
    if (rc == SQLITE_ROW) {
        return std::optional<BlockRecord>(read_block(s.get()));
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(impl.db.get(), rc, "cannot read blocks");
    }
    return std::optional<BlockRecord>();
}

// The audit row's host and code: a link block's link and a domain block's domain, so that
// `history CODE --domain D` and `history --domain D` show them; a destination is no served
// domain, so its row names it only in the image.
Status audit_block(Store::Impl& impl, std::string_view action, const BlockRecord& b, const Target& t) {
    const std::string image = block_audit_json(b);
    // "" rather than a default string_view: the audit row binds texts as they are, and a null
    // pointer would bind NULL.
    const std::string_view host = b.kind == BlockKind::destination ? std::string_view("") : std::string_view(b.host);
    const bool added = action == "block";
    const std::string_view none;
    return impl.audit(action, host, t.audit_code, t.link_id, added ? none : image, added ? image : none);
}

}  // namespace

std::string_view block_kind_name(BlockKind kind) {
    switch (kind) {
    case BlockKind::link: return "link";
    case BlockKind::domain: return "domain";
    case BlockKind::destination: return "destination";
    }
    return "unknown";
}

std::optional<BlockKind> parse_block_kind(std::string_view name) {
    if (name == "link") {
        return BlockKind::link;
    }
    if (name == "domain") {
        return BlockKind::domain;
    }
    if (name == "destination") {
        return BlockKind::destination;
    }
    return std::nullopt;
}

Result<BlockRecord> Store::add_block(BlockKind kind, std::string_view host, std::string_view code,
                                     std::string_view reason) {
    Status st = validate::check_block_reason(reason);
    if (!st) {
        return st;
    }
    st = m_impl->begin_write();
    if (!st) {
        return st;
    }
    auto fail = [&](Status s) -> Result<BlockRecord> {
        m_impl->rollback_write();
        return s;
    };
    m_impl->domain_cache.clear();  // read the domain again under the write lock
    auto target = resolve_new_target(*this, *m_impl, kind, host, code);
    if (!target) {
        return fail(target.status());
    }
    auto existing = find_block(*m_impl, kind, *target);
    if (!existing) {
        return fail(existing.status());
    }
    if (*existing) {
        const BlockRecord& old = **existing;
        return fail(Status::conflict(describe_target(kind, old.host, old.code) + " is already blocked since " +
                                     timefmt::format_time(old.created_at) + " by " + validate::printable(old.actor) +
                                     ": " + (old.reason.empty() ? "no reason given" : old.reason)));
    }
    BlockRecord b;
    b.kind = kind;
    b.host = target->host;
    b.code = target->code;
    b.reason = std::string(reason);
    b.actor = m_impl->actor;
    b.created_at = clock::unix_seconds();
    auto stmt = m_impl->prepare("INSERT INTO blocks (kind, host, code, reason, actor, created_at) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!stmt) {
        return fail(stmt.status());
    }
    {
        StmtUse s(**stmt);
        s->bind(1, block_kind_name(kind)).bind(2, b.host).bind(3, b.code).bind(4, b.reason);
        s->bind(5, b.actor).bind(6, b.created_at);
        int rc = s->step();
        if (rc != SQLITE_DONE) {
            return fail(detail::sqlite_error(m_impl->db.get(), rc, "cannot add the block"));
        }
        b.id = sqlite3_last_insert_rowid(m_impl->db.get());
    }
    st = audit_block(*m_impl, "block", b, *target);
    if (st) {
        st = m_impl->commit_write();
    }
    if (!st) {
        return fail(st);
    }
    return b;
}

Result<BlockRecord> Store::remove_block(BlockKind kind, std::string_view host, std::string_view code) {
    Status st = m_impl->begin_write();
    if (!st) {
        return st;
    }
    auto fail = [&](Status s) -> Result<BlockRecord> {
        m_impl->rollback_write();
        return s;
    };
    auto target = resolve_old_target(*m_impl, kind, host, code);
    if (!target) {
        return fail(target.status());
    }
    auto existing = find_block(*m_impl, kind, *target);
    if (!existing) {
        return fail(existing.status());
    }
    if (!*existing) {
        return fail(Status::not_found(describe_target(kind, target->host, target->code) + " is not blocked"));
    }
    const BlockRecord b = **existing;
    auto stmt = m_impl->prepare("DELETE FROM blocks WHERE id = ?1");
    if (!stmt) {
        return fail(stmt.status());
    }
    {
        StmtUse s(**stmt);
        s->bind(1, b.id);
        int rc = s->step();
        if (rc != SQLITE_DONE) {
            return fail(detail::sqlite_error(m_impl->db.get(), rc, "cannot remove the block"));
        }
    }
    st = audit_block(*m_impl, "unblock", b, *target);
    if (st) {
        st = m_impl->commit_write();
    }
    if (!st) {
        return fail(st);
    }
    return b;
}

Result<std::vector<BlockRecord>> Store::list_blocks() {
    auto stmt = m_impl->prepare(std::string("SELECT ") + k_block_columns +
                                " FROM blocks ORDER BY CASE kind WHEN 'link' THEN 1 WHEN 'domain' THEN 2 ELSE 3 END, "
                                "host, code");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    std::vector<BlockRecord> out;
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        out.push_back(read_block(s.get()));
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot list blocks");
    }
    return out;
}

Status Store::read_deny_set(
    const std::function<void(BlockKind, std::string_view host, std::string_view code)>& on_block) {
    // In table order: the deny section's encoder sorts the entries itself, and sorting 100k rows
    // here took a third of `shortlink overlay`.
    auto stmt = m_impl->prepare("SELECT kind, host, code FROM blocks");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        const std::optional<BlockKind> kind = parse_block_kind(s->text(0));
        if (!kind) {
            return Status::corruption("blocks table: unknown kind '" + std::string(s->text(0)) + "'");
        }
        on_block(*kind, s->text(1), s->text(2));
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot read the blocks");
    }
    return Status::ok();
}

Status refold_link_blocks(Store::Impl& impl, const DomainRecord& domain) {
    // Case-sensitive again: each block takes back its link's spelling. The domain had no two
    // codes differing only in case while it was case-insensitive, so the match is unique.
    auto stmt = impl.prepare(
        domain.case_insensitive
            ? "UPDATE blocks SET code = lower(code) WHERE kind = 'link' AND host = ?1 AND code <> lower(code)"
            : "UPDATE blocks SET code = COALESCE((SELECT l.code FROM links l WHERE l.domain_id = ?2 "
              "AND lower(l.code) = lower(blocks.code)), code) "
              "WHERE kind = 'link' AND host = ?1");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    s->bind(1, domain.host);
    if (!domain.case_insensitive) {
        s->bind(2, domain.id);
    }
    int rc = s->step();
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(impl.db.get(), rc, "cannot update the link blocks of " + domain.host);
    }
    return Status::ok();
}

}  // namespace shortlink::store
