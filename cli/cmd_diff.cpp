// shortlink diff: domains and links added, removed and changed between two snapshots, or the
// changes a patch makes to its base, each changed field with its old and new value. Both files are fully checked except their signatures (diff compares files;
// verify decides whether to trust them). A link is named by (domain host, code): domain indices
// differ between snapshots.
#include <algorithm>
#include <cstdio>
#include <array>
#include <iostream>
#include <map>
#include <span>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "cli/snapshot_cli.h"
#include "formats/clock.h"

namespace shortlink::cli {

namespace {

struct DiffOptions {
    std::string old_file;
    std::string new_file;
    bool json = false;
};

// The same (host, code) in `other`, or nullopt. Exact host only: the default domain's fallback
// is a serving rule, not identity.
std::optional<formats::LinkView> find_in(const formats::Snapshot& from, const formats::LinkView& link,
                                         const formats::Snapshot& other) {
    const std::string_view host = from.domain(link.domain_index).host;
    const auto index = other.find_domain(host);
    if (!index || other.domain(*index).host != host) {
        return std::nullopt;
    }
    return other.lookup(*index, link.code);
}

// One field that differs, with its old and new value as JSON text.
struct FieldChange {
    std::string field;
    std::string old_json;
    std::string new_json;
};

std::string value_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return buf.GetString();
}

// Every field of a link's or domain's JSON object (cli/output.h) that differs, in schema order.
// `same` names the fields that identify the object or follow from others (a link's state follows
// from its status and times at one moment).
std::vector<FieldChange> field_changes(const std::string& old_json, const std::string& new_json,
                                       std::span<const std::string_view> same) {
    rapidjson::Document before;
    rapidjson::Document after;
    before.Parse(old_json.c_str(), old_json.size());
    after.Parse(new_json.c_str(), new_json.size());
    std::vector<FieldChange> out;
    for (const auto& m : after.GetObject()) {
        const std::string_view name(m.name.GetString(), m.name.GetStringLength());
        if (std::find(same.begin(), same.end(), name) != same.end()) {
            continue;
        }
        const auto old_member = before.FindMember(m.name);
        if (old_member == before.MemberEnd()) {
            continue;  // both objects come from one writer; a field only one has is no change
        }
        if (old_member->value != m.value) {
            out.push_back({std::string(name), value_json(old_member->value), value_json(m.value)});
        }
    }
    return out;
}

constexpr std::array<std::string_view, 4> k_link_identity = {"domain", "code", "short_url", "state"};
constexpr std::array<std::string_view, 1> k_domain_identity = {"host"};

// Two compiled links that answer alike: the cheap test before their JSON is compared.
bool same_link(const formats::LinkView& a, const formats::LinkView& b) {
    return a.destination == b.destination && a.status == b.status && a.redirect_type == b.redirect_type &&
           a.forward_query == b.forward_query && a.not_before == b.not_before && a.expires == b.expires &&
           a.rules.bytes() == b.rules.bytes();
}

// "{"url":{"old":...,"new":...},...}" and "changed": the names, in JSON.
void write_changes(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::vector<FieldChange>& changes) {
    w.Key("changed");
    w.StartArray();
    for (const FieldChange& c : changes) {
        w.String(c.field.c_str(), static_cast<rapidjson::SizeType>(c.field.size()));
    }
    w.EndArray();
    w.Key("changes");
    w.StartObject();
    for (const FieldChange& c : changes) {
        w.Key(c.field.c_str(), static_cast<rapidjson::SizeType>(c.field.size()));
        w.StartObject();
        w.Key("old");
        w.RawValue(c.old_json.c_str(), c.old_json.size(), rapidjson::kObjectType);
        w.Key("new");
        w.RawValue(c.new_json.c_str(), c.new_json.size(), rapidjson::kObjectType);
        w.EndObject();
    }
    w.EndObject();
}

// `object` (a link's or domain's JSON object) with "changed" and "changes" added at its end.
std::string with_changes(const std::string& object, const std::vector<FieldChange>& changes) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    write_changes(w, changes);
    w.EndObject();
    // Both are non-empty objects: "{...a}" and "{b...}" join as "{...a,b...}".
    return object.substr(0, object.size() - 1) + "," + (buf.GetString() + 1);
}

// "    url: https://a.example/ -> https://b.example/", one line per field.
std::string changes_text(const std::vector<FieldChange>& changes) {
    std::string out;
    for (const FieldChange& c : changes) {
        out += "    " + c.field + ": " + json_value_text(c.old_json) + " -> " + json_value_text(c.new_json) + "\n";
    }
    return out;
}

struct DiffCounts {
    std::uint64_t added = 0;
    std::uint64_t removed = 0;
    std::uint64_t changed = 0;
};

// Every domain by host, as its JSON object.
std::map<std::string, std::string> domain_objects(const formats::Snapshot& s) {
    std::map<std::string, std::string> out;
    for (std::uint32_t i = 0; i < s.domain_count(); ++i) {
        const formats::DomainView d = s.domain(i);
        out.emplace(std::string(d.host), domain_json(domain_record(d)));
    }
    return out;
}

// The domains removed, added and changed, as JSON members or text lines.
DiffCounts diff_domains(const formats::Snapshot& old_snap, const formats::Snapshot& new_snap, bool json,
                        rapidjson::Writer<rapidjson::StringBuffer>& w, std::string& text) {
    const std::map<std::string, std::string> before = domain_objects(old_snap);
    const std::map<std::string, std::string> after = domain_objects(new_snap);
    DiffCounts n;
    // The domains of `from` that `other` lacks, under `key`, each "- domain HOST" (or "+").
    auto only_in = [&](const std::map<std::string, std::string>& from, const std::map<std::string, std::string>& other,
                       const char* key, char sign) {
        std::uint64_t count = 0;
        if (json) {
            w.Key(key);
            w.StartArray();
        }
        for (const auto& [host, object] : from) {
            if (other.count(host) == 0) {
                ++count;
                if (json) {
                    w.RawValue(object.c_str(), object.size(), rapidjson::kObjectType);
                } else {
                    text += std::string(1, sign) + " domain " + host + "\n";
                }
            }
        }
        if (json) {
            w.EndArray();
        }
        return count;
    };
    if (json) {
        w.Key("domains");
        w.StartObject();
    }
    n.removed = only_in(before, after, "removed", '-');
    n.added = only_in(after, before, "added", '+');
    if (json) {
        w.Key("changed");
        w.StartArray();
    }
    for (const auto& [host, object] : after) {
        const auto old_object = before.find(host);
        if (old_object == before.end()) {
            continue;
        }
        const std::vector<FieldChange> changes = field_changes(old_object->second, object, k_domain_identity);
        if (changes.empty()) {
            continue;
        }
        ++n.changed;
        if (json) {
            const std::string entry = with_changes(object, changes);
            w.RawValue(entry.c_str(), entry.size(), rapidjson::kObjectType);
        } else {
            text += "~ domain " + host + "\n" + changes_text(changes);
        }
    }
    if (json) {
        w.EndArray();
        w.EndObject();
    }
    return n;
}

void run_diff(const DiffOptions& opt) {
    const auto old_snap = open_snapshot(opt.old_file, {}, false);
    const auto new_snap = open_snapshot(opt.new_file, {}, false);
    if (old_snap->is_patch()) {
        throw Error(k_exit_usage, opt.old_file + " is a patch: give its base snapshot as OLD");
    }
    // A patch holds only what changed: nothing it lacks was removed.
    const bool patch = new_snap->is_patch();
    if (patch && new_snap->base_serial() != old_snap->serial()) {
        throw Error(k_exit_usage, opt.new_file + " is a patch for serial " +
                                      std::to_string(new_snap->base_serial()) + ", not for " +
                                      std::to_string(old_snap->serial()));
    }
    // Both sides' states are judged at one moment, so only what the files hold can differ.
    const std::int64_t now = clock::unix_seconds();
    DiffCounts links;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    std::string text;
    auto flush_text = [&]() {
        std::fwrite(text.data(), 1, text.size(), stdout);
        text.clear();
    };
    auto write_link = [&](const formats::Snapshot& s, const formats::LinkView& l) {
        const std::string object = link_json(link_fields(s, l, now));
        w.RawValue(object.c_str(), object.size(), rapidjson::kObjectType);
    };
    if (opt.json) {
        w.StartObject();
    }
    const DiffCounts domains = diff_domains(*old_snap, *new_snap, opt.json, w, text);
    if (opt.json) {
        w.Key("removed");
        w.StartArray();
    }
    check(old_snap->for_each_link([&](const formats::LinkView& l) {
        if (!patch && !find_in(*old_snap, l, *new_snap)) {
            ++links.removed;
            if (opt.json) {
                write_link(*old_snap, l);
            } else {
                text += "- " + link_key(*old_snap, l) + " " + std::string(l.destination) + "\n";
            }
        }
        if (text.size() > 65536) {
            flush_text();
        }
    }));
    if (opt.json) {
        w.EndArray();
        w.Key("added");
        w.StartArray();
    }
    flush_text();
    check(new_snap->for_each_link([&](const formats::LinkView& l) {
        if (!find_in(*new_snap, l, *old_snap)) {
            ++links.added;
            if (opt.json) {
                write_link(*new_snap, l);
            } else {
                text += "+ " + link_key(*new_snap, l) + " " + std::string(l.destination) + "\n";
            }
        }
        if (text.size() > 65536) {
            flush_text();
        }
    }));
    if (opt.json) {
        w.EndArray();
        w.Key("changed");
        w.StartArray();
    }
    flush_text();
    check(new_snap->for_each_link([&](const formats::LinkView& l) {
        const auto before = find_in(*new_snap, l, *old_snap);
        if (!before || same_link(*before, l)) {
            return;
        }
        const std::vector<FieldChange> changes =
            field_changes(link_json(link_fields(*old_snap, *before, now)),
                          link_json(link_fields(*new_snap, l, now)), k_link_identity);
        if (changes.empty()) {
            return;
        }
        ++links.changed;
        if (opt.json) {
            const std::string entry = with_changes(link_json(link_fields(*new_snap, l, now)), changes);
            w.RawValue(entry.c_str(), entry.size(), rapidjson::kObjectType);
        } else {
            text += "~ " + link_key(*new_snap, l) + "\n" + changes_text(changes);
        }
        if (text.size() > 65536) {
            flush_text();
        }
    }));
    flush_text();
    if (opt.json) {
        w.EndArray();
        w.Key("summary");
        w.StartObject();
        w.Key("old_serial");
        w.Uint64(old_snap->serial());
        w.Key("new_serial");
        w.Uint64(new_snap->serial());
        w.Key("added");
        w.Uint64(links.added);
        w.Key("removed");
        w.Uint64(links.removed);
        w.Key("changed");
        w.Uint64(links.changed);
        w.Key("domains_added");
        w.Uint64(domains.added);
        w.Key("domains_removed");
        w.Uint64(domains.removed);
        w.Key("domains_changed");
        w.Uint64(domains.changed);
        w.EndObject();
        w.EndObject();
        std::cout << buf.GetString() << "\n";
    } else {
        std::cout << links.added << " added, " << links.removed << " removed, " << links.changed
                  << " changed; domains: " << domains.added << " added, " << domains.removed << " removed, "
                  << domains.changed << " changed (serial " << old_snap->serial() << " -> " << new_snap->serial()
                  << ")\n";
    }
}

}  // namespace

void setup_diff(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<DiffOptions>();
    CLI::App* sub = add_command(app, "diff");
    sub->add_option("OLD", opt->old_file, "The older snapshot")->required();
    sub->add_option("NEW", opt->new_file, "The newer snapshot, or a patch for OLD")->required();
    sub->add_flag("--json", opt->json, "One JSON object: domains, removed, added, changed, summary");
    sub->callback([opt]() { run_diff(*opt); });
}

}  // namespace shortlink::cli
