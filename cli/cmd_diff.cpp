// shortlink diff: links added, removed and changed between two snapshots, or the changes a patch
// makes to its base. Both files are fully checked except their signatures (diff compares files;
// verify decides whether to trust them). A link is named by (domain host, code): domain indices
// differ between snapshots.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/snapshot_cli.h"

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

std::vector<std::string> changed_fields(const formats::LinkView& a, const formats::LinkView& b) {
    std::vector<std::string> out;
    if (a.destination != b.destination) {
        out.emplace_back("destination");
    }
    if (a.status != b.status) {
        out.emplace_back("status");
    }
    if (a.redirect_type != b.redirect_type) {
        out.emplace_back("redirect_type");
    }
    if (a.forward_query != b.forward_query) {
        out.emplace_back("forward_query");
    }
    if (a.not_before != b.not_before) {
        out.emplace_back("not_before");
    }
    if (a.expires != b.expires) {
        out.emplace_back("expires");
    }
    return out;
}

void write_link(rapidjson::Writer<rapidjson::StringBuffer>& w, const formats::Snapshot& s,
                const formats::LinkView& l) {
    const std::string_view host = s.domain(l.domain_index).host;
    w.Key("host");
    w.String(host.data(), static_cast<rapidjson::SizeType>(host.size()));
    w.Key("code");
    w.String(l.code.data(), static_cast<rapidjson::SizeType>(l.code.size()));
    w.Key("destination");
    w.String(l.destination.data(), static_cast<rapidjson::SizeType>(l.destination.size()));
    w.Key("status");
    w.String(std::string(formats::link_state_name(l.status)).c_str());
    w.Key("redirect_type");
    w.Uint(l.redirect_type);
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
    std::uint64_t added = 0;
    std::uint64_t removed = 0;
    std::uint64_t changed = 0;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    std::string text;
    auto flush_text = [&]() {
        std::fwrite(text.data(), 1, text.size(), stdout);
        text.clear();
    };
    if (opt.json) {
        w.StartObject();
        w.Key("removed");
        w.StartArray();
    }
    check(old_snap->for_each_link([&](const formats::LinkView& l) {
        if (!patch && !find_in(*old_snap, l, *new_snap)) {
            ++removed;
            if (opt.json) {
                w.StartObject();
                write_link(w, *old_snap, l);
                w.EndObject();
            } else {
                text += "- " + link_key(*old_snap, l) + " " + std::string(l.destination) + "\n";
            }
        }
    }));
    if (opt.json) {
        w.EndArray();
        w.Key("added");
        w.StartArray();
    }
    flush_text();
    check(new_snap->for_each_link([&](const formats::LinkView& l) {
        const auto before = find_in(*new_snap, l, *old_snap);
        if (!before) {
            ++added;
            if (opt.json) {
                w.StartObject();
                write_link(w, *new_snap, l);
                w.EndObject();
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
        if (!before) {
            return;
        }
        const auto fields = changed_fields(*before, l);
        if (fields.empty()) {
            return;
        }
        ++changed;
        if (opt.json) {
            w.StartObject();
            write_link(w, *new_snap, l);
            w.Key("changed");
            w.StartArray();
            for (const auto& f : fields) {
                w.String(f.c_str());
            }
            w.EndArray();
            w.Key("old_destination");
            w.String(before->destination.data(),
                     static_cast<rapidjson::SizeType>(before->destination.size()));
            w.Key("old_status");
            w.String(std::string(formats::link_state_name(before->status)).c_str());
            w.EndObject();
        } else {
            text += "~ " + link_key(*new_snap, l) + ":";
            for (const auto& f : fields) {
                text += " " + f;
            }
            if (before->destination != l.destination) {
                text += " (" + std::string(before->destination) + " -> " +
                        std::string(l.destination) + ")";
            }
            if (before->status != l.status) {
                text += " (" + std::string(formats::link_state_name(before->status)) + " -> " +
                        std::string(formats::link_state_name(l.status)) + ")";
            }
            text += "\n";
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
        w.Uint64(added);
        w.Key("removed");
        w.Uint64(removed);
        w.Key("changed");
        w.Uint64(changed);
        w.EndObject();
        w.EndObject();
        std::cout << buf.GetString() << "\n";
    } else {
        std::cout << added << " added, " << removed << " removed, " << changed
                  << " changed (serial " << old_snap->serial() << " -> " << new_snap->serial()
                  << ")\n";
    }
}

}  // namespace

void setup_diff(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<DiffOptions>();
    CLI::App* sub = add_command(app, "diff");
    sub->add_option("OLD", opt->old_file, "The older snapshot")->required();
    sub->add_option("NEW", opt->new_file, "The newer snapshot, or a patch for OLD")->required();
    sub->add_flag("--json", opt->json, "One JSON object: removed, added, changed, summary");
    sub->callback([opt]() { run_diff(*opt); });
}

}  // namespace shortlink::cli
