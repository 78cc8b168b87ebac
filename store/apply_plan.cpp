// The plan of a links file and its application. See apply_plan.h.
#include "store/apply_plan.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "store/timefmt.h"

namespace shortlink::store {
namespace {

using Text = std::optional<std::string>;

Text bool_text(bool v) { return std::string(v ? "true" : "false"); }
Text number_text(std::uint64_t v) { return std::to_string(v); }
Text type_text(std::uint16_t type) { return type == 0 ? Text() : number_text(type); }
Text forward_text(int forward) { return forward < 0 ? Text() : bool_text(forward != 0); }
Text time_text(std::int64_t t) { return t == 0 ? Text() : Text(timefmt::format_time(t)); }
Text url_text(const std::string& url) { return url.empty() ? Text() : Text(url); }
Text title_text(const std::string& title) { return title.empty() ? Text() : Text(title); }

Text tags_text(const std::vector<std::string>& tags) {
    std::string out = "[";
    for (const std::string& t : tags) {
        out += out.size() > 1 ? ", " : "";
        out += t;
    }
    return out + "]";
}

void compare(std::vector<FieldChange>& out, const char* field, Text before, Text after) {
    if (before != after) {
        out.push_back({field, std::move(before), std::move(after)});
    }
}

// The settings of `after` that differ from `before`, as field changes and as a patch.
std::vector<FieldChange> domain_changes(const DomainRecord& before, const DomainRecord& after, DomainPatch& patch) {
    std::vector<FieldChange> out;
    auto setting = [&](const char* field, auto DomainRecord::*member, auto DomainPatch::*patched, auto text) {
        if (before.*member != after.*member) {
            out.push_back({field, text(before.*member), text(after.*member)});
            patch.*patched = after.*member;
        }
    };
    setting("default_type", &DomainRecord::default_redirect, &DomainPatch::default_redirect, number_text);
    setting("root_url", &DomainRecord::root_url, &DomainPatch::root_url, url_text);
    setting("case_insensitive", &DomainRecord::case_insensitive, &DomainPatch::case_insensitive, bool_text);
    setting("forward_query", &DomainRecord::forward_query, &DomainPatch::forward_query, bool_text);
    setting("cache_max_age", &DomainRecord::cache_max_age_s, &DomainPatch::cache_max_age_s, number_text);
    setting("negative_max_age", &DomainRecord::negative_max_age_s, &DomainPatch::negative_max_age_s, number_text);
    setting("https_redirect", &DomainRecord::https_redirect, &DomainPatch::https_redirect, bool_text);
    setting("hsts_max_age", &DomainRecord::hsts_max_age_s, &DomainPatch::hsts_max_age_s, number_text);
    setting("hsts_include_subdomains", &DomainRecord::hsts_include_subdomains, &DomainPatch::hsts_include_subdomains,
            bool_text);
    return out;
}

// The fields of `after` that differ from the stored `before`, status included.
std::vector<FieldChange> link_changes(const Link& before, const LinkInput& after) {
    std::vector<FieldChange> out;
    compare(out, "url", url_text(before.destination), url_text(after.destination));
    compare(out, "type", type_text(before.redirect_type), type_text(after.redirect_type));
    compare(out, "forward_query", forward_text(before.forward_query), forward_text(after.forward_query));
    compare(out, "not_before", time_text(before.not_before), time_text(after.not_before));
    compare(out, "expires", time_text(before.expires), time_text(after.expires));
    compare(out, "tags", tags_text(before.tags), tags_text(after.tags));
    compare(out, "title", title_text(before.title), title_text(after.title));
    compare(out, "status", std::string(link_state_name(before.status)), std::string(link_state_name(after.status)));
    return out;
}

// The edit that turns `before`'s fields other than status into `after`'s; none when they agree.
std::optional<LinkPatch> link_edit(const Link& before, const LinkInput& after) {
    LinkPatch p;
    bool any = false;
    auto set = [&](auto& field, const auto& was, const auto& value) {
        if (was != value) {
            field = value;
            any = true;
        }
    };
    set(p.destination, before.destination, after.destination);
    set(p.redirect_type, before.redirect_type, after.redirect_type);
    set(p.forward_query, before.forward_query, after.forward_query);
    set(p.not_before, before.not_before, after.not_before);
    set(p.expires, before.expires, after.expires);
    set(p.title, before.title, after.title);
    // Both tag lists are sorted and unique.
    std::set_difference(after.tags.begin(), after.tags.end(), before.tags.begin(), before.tags.end(),
                        std::back_inserter(p.add_tags));
    std::set_difference(before.tags.begin(), before.tags.end(), after.tags.begin(), after.tags.end(),
                        std::back_inserter(p.remove_tags));
    any = any || !p.add_tags.empty() || !p.remove_tags.empty();
    return any ? std::optional<LinkPatch>(std::move(p)) : std::nullopt;
}

std::string fold(std::string_view code) {
    std::string out(code);
    for (char& c : out) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return out;
}

std::string at_text(FilePosition at) { return position_text(at) + ": "; }

using Key = std::pair<std::string, std::string>;  // (host, code), the code folded on a ci domain

}  // namespace

std::size_t ApplyPlan::count(StepAction action) const {
    auto of = [action](const auto& step) { return step.action == action; };
    return static_cast<std::size_t>(std::count_if(domains.begin(), domains.end(), of) +
                                    std::count_if(links.begin(), links.end(), of));
}

Result<ApplyPlan> make_apply_plan(const LinksFile& file, const std::vector<DomainRecord>& domains,
                                  const std::vector<Link>& links, bool prune) {
    ApplyPlan plan;
    std::map<std::string, const DomainRecord*, std::less<>> stored;
    for (const DomainRecord& d : domains) {
        stored.emplace(d.host, &d);
    }
    // The case rule each host has once the file is applied: the file's where it lists the domain.
    std::map<std::string, bool, std::less<>> case_insensitive;
    for (const auto& [host, d] : stored) {
        case_insensitive[host] = d->case_insensitive;
    }
    for (const DomainEntry& entry : file.domains) {
        case_insensitive[entry.record.host] = entry.record.case_insensitive;
        DomainStep step;
        step.target = entry.record;
        step.at = entry.at;
        auto it = stored.find(entry.record.host);
        if (it == stored.end()) {
            step.action = StepAction::add;
            DomainPatch unused;
            step.changes = domain_changes(DomainRecord{}, entry.record, unused);
            for (FieldChange& c : step.changes) {
                c.before.reset();
            }
            plan.domains.push_back(std::move(step));
            continue;
        }
        step.action = StepAction::change;
        step.changes = domain_changes(*it->second, entry.record, step.patch);
        if (!step.changes.empty()) {
            plan.domains.push_back(std::move(step));
        }
    }
    auto key_of = [&](const std::string& host, const std::string& code) {
        auto ci = case_insensitive.find(host);
        return Key(host, ci != case_insensitive.end() && ci->second ? fold(code) : code);
    };

    std::map<Key, const Link*> index;
    for (const Link& l : links) {
        index.emplace(key_of(l.host, l.code), &l);
    }
    std::map<Key, FilePosition> listed;
    std::set<std::int64_t> kept;  // ids of stored links the file lists
    for (const LinkEntry& entry : file.links) {
        const LinkInput& in = entry.input;
        if (case_insensitive.find(in.host) == case_insensitive.end()) {
            return Status::not_found(at_text(entry.at) + "link '" + in.code + "' is on domain '" + in.host +
                                     "', which is neither listed under domains nor in the store");
        }
        Key key = key_of(in.host, in.code);
        auto [first, added] = listed.emplace(key, entry.at);
        if (!added) {
            return Status::invalid_argument(at_text(entry.at) + "link " + in.host + "/" + in.code +
                                            " is listed twice on a case-insensitive domain (first at " +
                                            position_text(first->second) + ")");
        }
        LinkStep step;
        step.target = in;
        step.at = entry.at;
        auto found = index.find(key);
        if (found == index.end()) {
            step.action = StepAction::add;
            step.changes = link_changes(Link{}, in);
            for (FieldChange& c : step.changes) {
                c.before.reset();
            }
            plan.links.push_back(std::move(step));
            continue;
        }
        const Link& current = *found->second;
        kept.insert(current.id);
        if (current.code != in.code) {
            return Status::conflict(at_text(entry.at) + "code '" + in.code + "' differs only in case from the stored '" +
                                    current.code + "' on case-insensitive domain '" + in.host +
                                    "'; write the code as the store has it");
        }
        step.action = StepAction::change;
        step.from = current.status;
        step.changes = link_changes(current, in);
        step.edit = link_edit(current, in);
        if (!step.changes.empty()) {
            plan.links.push_back(std::move(step));
        }
    }
    if (prune) {
        for (const Link& l : links) {
            if (l.status == LinkState::deleted || kept.contains(l.id)) {
                continue;
            }
            LinkStep step;
            step.action = StepAction::remove;
            step.target.host = l.host;
            step.target.code = l.code;
            step.target.status = LinkState::deleted;
            step.from = l.status;
            step.changes.push_back({"status", std::string(link_state_name(l.status)), std::string("deleted")});
            plan.links.push_back(std::move(step));
        }
    }
    return plan;
}

Result<ApplyPlan> plan_links_file(Store& store, const LinksFile& file, bool prune) {
    auto domains = store.list_domains();
    if (!domains) {
        return domains.status();
    }
    std::vector<Link> links;
    Status st = store.list_links(LinkFilter{}, [&](const Link& l) {
        links.push_back(l);
        return true;
    });
    if (!st) {
        return st;
    }
    return make_apply_plan(file, *domains, links, prune);
}

namespace {

// Runs one link step through the operations the commands use, each audited on its own.
Status apply_link_step(Store& store, const LinkStep& step) {
    const LinkInput& t = step.target;
    if (step.action == StepAction::add) {
        // The code is given, so no code is ever generated.
        return store.add_link(t, [] { return std::string(); }).status();
    }
    LinkState state = step.from;
    if (state == LinkState::deleted && t.status != LinkState::deleted) {
        auto restored = store.change_state(t.host, t.code, StateAction::restore);
        if (!restored) {
            return restored.status();
        }
        state = restored->status;
    }
    if (step.edit) {
        auto edited = store.edit_link(t.host, t.code, *step.edit);
        if (!edited) {
            return edited.status();
        }
    }
    if (t.status != state) {
        StateAction action = t.status == LinkState::deleted    ? StateAction::remove
                             : t.status == LinkState::disabled ? StateAction::disable
                                                               : StateAction::enable;
        return store.change_state(t.host, t.code, action).status();
    }
    return Status::ok();
}

}  // namespace

Result<ApplyPlan> apply_links_file(Store& store, const LinksFile& file, bool prune, FilePosition* failed_at) {
    Status st = store.begin_bulk(false);
    if (!st) {
        return st;
    }
    auto fail = [&](Status s, FilePosition at) -> Result<ApplyPlan> {
        (void)store.end_bulk(false);  // rolls back; `s` is the error to report
        if (failed_at != nullptr) {
            *failed_at = at;
        }
        return s;
    };
    auto plan = plan_links_file(store, file, prune);
    if (!plan) {
        return fail(plan.status(), {});
    }
    bool added_domain = false;
    for (const DomainStep& step : plan->domains) {
        added_domain = added_domain || step.action == StepAction::add;
        st = step.action == StepAction::add ? store.add_domain(step.target).status()
                                            : store.set_domain(step.target.host, step.patch).status();
        if (!st) {
            return fail(st, step.at);
        }
    }
    if (added_domain) {
        // A domain that was removed comes back with the links it had (deleted, or they would
        // have stopped its removal), which the store did not list before: plan the links again.
        auto links = plan_links_file(store, file, prune);
        if (!links) {
            return fail(links.status(), {});
        }
        plan->links = std::move(links->links);
    }
    for (const LinkStep& step : plan->links) {
        st = apply_link_step(store, step);
        if (!st) {
            return fail(st, step.at);
        }
    }
    st = store.end_bulk(!plan->empty());
    if (!st) {
        return st;
    }
    return plan;
}

}  // namespace shortlink::store
