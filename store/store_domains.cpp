// The link store: domains (add, find, list, set, remove).

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "formats/clock.h"
#include "store/store_internal.h"

namespace shortlink::store {

using detail::Stmt;
using detail::StmtUse;

namespace {

// Binds a domain's settings to ?2 .. ?7 and ?9 .. ?21, the parameter order that both add and set
// use (?8 is the time of the change).
void bind_domain_settings(Stmt& s, const DomainRecord& d) {
    s.bind(2, std::int64_t{d.default_redirect}).bind(3, d.root_url);
    s.bind(4, std::int64_t{d.case_insensitive}).bind(5, std::int64_t{d.forward_query});
    s.bind(6, std::int64_t{d.cache_max_age_s}).bind(7, std::int64_t{d.negative_max_age_s});
    s.bind(9, std::int64_t{d.https_redirect}).bind(10, std::int64_t{d.hsts_max_age_s});
    s.bind(11, std::int64_t{d.hsts_include_subdomains});
    s.bind(12, d.not_found_url).bind(13, d.expired_url).bind(14, d.not_found_text).bind(15, d.gone_text);
    s.bind(16, std::int64_t{d.permanent_max_age_s}).bind(17, std::int64_t{d.stale_while_revalidate_s});
    s.bind(18, std::int64_t{d.stale_if_error_s}).bind(19, d.cache_scope).bind(20, std::int64_t{d.miss_budget});
    s.bind(21, d.country_header);
}

std::string domain_json(const DomainRecord& d) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("host");
    w.String(d.host.c_str(), static_cast<rapidjson::SizeType>(d.host.size()));
    w.Key("default_redirect");
    w.Uint(d.default_redirect);
    w.Key("root_url");
    w.String(d.root_url.c_str(), static_cast<rapidjson::SizeType>(d.root_url.size()));
    w.Key("case_insensitive");
    w.Bool(d.case_insensitive);
    w.Key("forward_query");
    w.Bool(d.forward_query);
    w.Key("cache_max_age_s");
    w.Uint(d.cache_max_age_s);
    w.Key("negative_max_age_s");
    w.Uint(d.negative_max_age_s);
    w.Key("https_redirect");
    w.Bool(d.https_redirect);
    w.Key("hsts_max_age_s");
    w.Uint(d.hsts_max_age_s);
    w.Key("hsts_include_subdomains");
    w.Bool(d.hsts_include_subdomains);
    for (const auto& [key, member] : k_domain_policy_texts) {
        const std::string& text = d.*member;
        w.Key(key);
        w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
    }
    for (const auto& [key, member] : k_domain_policy_numbers) {
        w.Key(key);
        w.Uint(d.*member);
    }
    w.EndObject();
    return buf.GetString();
}

}  // namespace

Result<DomainRecord> Store::add_domain(const DomainRecord& record) {
    Status st = m_impl->begin_write();
    if (!st) {
        return st;
    }
    auto fail = [&](Status s) -> Result<DomainRecord> {
        m_impl->rollback_write();
        m_impl->domain_cache.clear();
        return s;
    };
    // A removed domain with the same host comes back with the new settings.
    auto stmt = m_impl->prepare(
        "INSERT INTO domains (host, default_redirect, root_url, case_insensitive, forward_query, "
        "cache_max_age_s, negative_max_age_s, https_redirect, hsts_max_age_s, hsts_include_subdomains, "
        "not_found_url, expired_url, not_found_text, gone_text, permanent_max_age_s, stale_while_revalidate_s, "
        "stale_if_error_s, cache_scope, miss_budget, country_header, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?8, ?8) "
        "ON CONFLICT (host) DO UPDATE SET default_redirect = ?2, root_url = ?3, case_insensitive = ?4, "
        "forward_query = ?5, cache_max_age_s = ?6, negative_max_age_s = ?7, https_redirect = ?9, "
        "hsts_max_age_s = ?10, hsts_include_subdomains = ?11, not_found_url = ?12, expired_url = ?13, "
        "not_found_text = ?14, gone_text = ?15, permanent_max_age_s = ?16, stale_while_revalidate_s = ?17, "
        "stale_if_error_s = ?18, cache_scope = ?19, miss_budget = ?20, country_header = ?21, updated_at = ?8, "
        "removed = 0 "
        "WHERE removed = 1");
    if (!stmt) {
        return fail(stmt.status());
    }
    {
        StmtUse s(**stmt);
        s->bind(1, record.host);
        bind_domain_settings(s.get(), record);
        s->bind(8, clock::unix_seconds());
        int rc = s->step();
        if (rc != SQLITE_DONE) {
            return fail(detail::sqlite_error(m_impl->db.get(), rc, "cannot add domain " + record.host));
        }
        if (sqlite3_changes(m_impl->db.get()) == 0) {
            return fail(Status::conflict("domain '" + record.host + "' already exists"));
        }
    }
    m_impl->domain_cache.clear();
    auto added = m_impl->domain(record.host);
    if (!added) {
        return fail(added.status());
    }
    // Links left from an earlier life of this host follow its case rule again.
    auto ci = m_impl->prepare("UPDATE links SET ci = ?2 WHERE domain_id = ?1");
    if (!ci) {
        return fail(ci.status());
    }
    {
        StmtUse s(**ci);
        s->bind(1, added->id).bind(2, std::int64_t{added->case_insensitive});
        int rc = s->step();
        if (rc != SQLITE_DONE) {
            return fail(detail::sqlite_error(m_impl->db.get(), rc,
                                             "existing codes of " + record.host + " differ only in case"));
        }
    }
    // So do blocks left from that earlier life.
    st = refold_link_blocks(*m_impl, *added);
    if (!st) {
        return fail(st);
    }
    st = m_impl->audit("domain-add", record.host, "", 0, "", domain_json(*added));
    if (st) {
        st = m_impl->commit_write();
    }
    if (!st) {
        return fail(st);
    }
    return added;
}

Result<DomainRecord> Store::find_domain(std::string_view host) { return m_impl->domain(host); }

Result<std::vector<DomainRecord>> Store::list_domains() {
    auto stmt = m_impl->prepare(std::string("SELECT ") + detail::k_domain_columns +
                                " FROM domains WHERE removed = 0 ORDER BY is_default DESC, host");
    if (!stmt) {
        return stmt.status();
    }
    StmtUse s(**stmt);
    std::vector<DomainRecord> out;
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        out.push_back(detail::read_domain(s.get()));
    }
    if (rc != SQLITE_DONE) {
        return detail::sqlite_error(m_impl->db.get(), rc, "cannot list domains");
    }
    return out;
}

Result<DomainRecord> Store::set_domain(std::string_view host, const DomainPatch& patch) {
    Status st = m_impl->begin_write();
    if (!st) {
        return st;
    }
    auto fail = [&](Status s) -> Result<DomainRecord> {
        m_impl->rollback_write();
        m_impl->domain_cache.clear();
        return s;
    };
    m_impl->domain_cache.clear();
    auto before = m_impl->domain(host);
    if (!before) {
        return fail(before.status());
    }
    DomainRecord after = *before;
    after.default_redirect = patch.default_redirect.value_or(after.default_redirect);
    after.root_url = patch.root_url.value_or(after.root_url);
    after.case_insensitive = patch.case_insensitive.value_or(after.case_insensitive);
    after.forward_query = patch.forward_query.value_or(after.forward_query);
    after.cache_max_age_s = patch.cache_max_age_s.value_or(after.cache_max_age_s);
    after.negative_max_age_s = patch.negative_max_age_s.value_or(after.negative_max_age_s);
    after.https_redirect = patch.https_redirect.value_or(after.https_redirect);
    after.hsts_max_age_s = patch.hsts_max_age_s.value_or(after.hsts_max_age_s);
    after.hsts_include_subdomains = patch.hsts_include_subdomains.value_or(after.hsts_include_subdomains);
    after.not_found_url = patch.not_found_url.value_or(after.not_found_url);
    after.expired_url = patch.expired_url.value_or(after.expired_url);
    after.not_found_text = patch.not_found_text.value_or(after.not_found_text);
    after.gone_text = patch.gone_text.value_or(after.gone_text);
    after.permanent_max_age_s = patch.permanent_max_age_s.value_or(after.permanent_max_age_s);
    after.stale_while_revalidate_s = patch.stale_while_revalidate_s.value_or(after.stale_while_revalidate_s);
    after.stale_if_error_s = patch.stale_if_error_s.value_or(after.stale_if_error_s);
    after.cache_scope = patch.cache_scope.value_or(after.cache_scope);
    after.miss_budget = patch.miss_budget.value_or(after.miss_budget);
    after.country_header = patch.country_header.value_or(after.country_header);

    auto stmt = m_impl->prepare(
        "UPDATE domains SET default_redirect = ?2, root_url = ?3, case_insensitive = ?4, forward_query = ?5, "
        "cache_max_age_s = ?6, negative_max_age_s = ?7, https_redirect = ?9, hsts_max_age_s = ?10, "
        "hsts_include_subdomains = ?11, not_found_url = ?12, expired_url = ?13, not_found_text = ?14, "
        "gone_text = ?15, permanent_max_age_s = ?16, stale_while_revalidate_s = ?17, stale_if_error_s = ?18, "
        "cache_scope = ?19, miss_budget = ?20, country_header = ?21, updated_at = ?8 WHERE id = ?1");
    if (!stmt) {
        return fail(stmt.status());
    }
    {
        StmtUse s(**stmt);
        s->bind(1, after.id);
        bind_domain_settings(s.get(), after);
        s->bind(8, clock::unix_seconds());
        int rc = s->step();
        if (rc != SQLITE_DONE) {
            return fail(detail::sqlite_error(m_impl->db.get(), rc, "cannot update domain"));
        }
    }
    if (after.case_insensitive != before->case_insensitive) {
        auto ci = m_impl->prepare("UPDATE links SET ci = ?2 WHERE domain_id = ?1");
        if (!ci) {
            return fail(ci.status());
        }
        {
            StmtUse s(**ci);
            s->bind(1, after.id).bind(2, std::int64_t{after.case_insensitive});
            int rc = s->step();
            if (rc != SQLITE_DONE) {
                return fail(Status::conflict("cannot make " + after.host +
                                             " case-insensitive: it has codes that differ only in case"));
            }
        }
        st = refold_link_blocks(*m_impl, after);
        if (!st) {
            return fail(st);
        }
    }
    st = m_impl->audit("domain-set", after.host, "", 0, domain_json(*before), domain_json(after));
    if (st) {
        st = m_impl->commit_write();
    }
    if (!st) {
        return fail(st);
    }
    m_impl->domain_cache.clear();
    return after;
}

Status Store::remove_domain(std::string_view host, bool force) {
    Status st = m_impl->begin_write();
    if (!st) {
        return st;
    }
    auto fail = [&](Status s) {
        m_impl->rollback_write();
        m_impl->domain_cache.clear();
        return s;
    };
    m_impl->domain_cache.clear();
    auto d = m_impl->domain(host);
    if (!d) {
        return fail(d.status());
    }
    if (d->is_default) {
        return fail(Status::invalid_argument("the default domain '*' cannot be removed"));
    }
    std::int64_t live = 0;
    {
        auto stmt = m_impl->prepare("SELECT COUNT(*) FROM links WHERE domain_id = ?1 AND status != 2");
        if (!stmt) {
            return fail(stmt.status());
        }
        StmtUse s(**stmt);
        s->bind(1, d->id);
        if (s->step() == SQLITE_ROW) {
            live = s->i64(0);
        }
    }
    if (live > 0 && !force) {
        return fail(Status::conflict("domain '" + d->host + "' still has " + std::to_string(live) +
                                     " link(s); delete them first or use --force"));
    }
    if (live > 0) {
        // Soft-delete every remaining link through the same path as `delete`, so each gets its
        // version bump and audit row.
        std::vector<std::string> codes;
        {
            auto stmt = m_impl->prepare("SELECT code FROM links WHERE domain_id = ?1 AND status != 2");
            if (!stmt) {
                return fail(stmt.status());
            }
            StmtUse s(**stmt);
            s->bind(1, d->id);
            while (s->step() == SQLITE_ROW) {
                codes.emplace_back(s->text(0));
            }
        }
        bool was_bulk = m_impl->in_bulk;
        m_impl->in_bulk = true;  // reuse change_state inside this transaction
        for (const std::string& code : codes) {
            auto changed = change_state(d->host, code, StateAction::remove);
            if (!changed) {
                m_impl->in_bulk = was_bulk;
                return fail(changed.status());
            }
        }
        m_impl->in_bulk = was_bulk;
    }
    auto stmt = m_impl->prepare("UPDATE domains SET removed = 1, updated_at = ?2 WHERE id = ?1");
    if (!stmt) {
        return fail(stmt.status());
    }
    {
        StmtUse s(**stmt);
        s->bind(1, d->id).bind(2, clock::unix_seconds());
        int rc = s->step();
        if (rc != SQLITE_DONE) {
            return fail(detail::sqlite_error(m_impl->db.get(), rc, "cannot remove domain"));
        }
    }
    st = m_impl->audit("domain-remove", d->host, "", 0, domain_json(*d), "");
    if (st) {
        st = m_impl->commit_write();
    }
    if (!st) {
        return fail(st);
    }
    m_impl->domain_cache.clear();
    return Status::ok();
}

}  // namespace shortlink::store
