// shortlink apply FILE|-: make the store say what a links file (YAML, store/links_file.h) says,
// in one transaction; --plan prints what that would change and exits 2 when it would change
// anything, 0 when not (for review in CI, as `terraform plan -detailed-exitcode`).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "store/apply_plan.h"
#include "store/links_file.h"

namespace shortlink::cli {
namespace {

struct ApplyOptions {
    std::string file;
    bool plan = false;
    bool prune = false;
    bool json = false;
};

const char* action_name(store::StepAction action) {
    switch (action) {
    case store::StepAction::add: return "add";
    case store::StepAction::change: return "change";
    case store::StepAction::remove: return "remove";
    }
    return "";
}

const char* action_sign(store::StepAction action) {
    switch (action) {
    case store::StepAction::add: return "+";
    case store::StepAction::change: return "~";
    case store::StepAction::remove: return "-";
    }
    return "";
}

std::string value_text(const std::optional<std::string>& v) { return v ? *v : "(none)"; }

void print_fields(const std::vector<store::FieldChange>& changes, bool added) {
    for (const store::FieldChange& c : changes) {
        if (added) {
            std::printf("    %s: %s\n", c.field.c_str(), value_text(c.after).c_str());
        } else {
            std::printf("    %s: %s -> %s\n", c.field.c_str(), value_text(c.before).c_str(), value_text(c.after).c_str());
        }
    }
}

void print_plan(const store::ApplyPlan& plan) {
    for (const store::DomainStep& step : plan.domains) {
        std::printf("%s domain %s\n", action_sign(step.action), step.target.host.c_str());
        print_fields(step.changes, step.action == store::StepAction::add);
    }
    for (const store::LinkStep& step : plan.links) {
        std::printf("%s link %s/%s\n", action_sign(step.action), step.target.host.c_str(), step.target.code.c_str());
        print_fields(step.changes, step.action == store::StepAction::add);
    }
}

void json_text(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::optional<std::string>& v) {
    if (v) {
        w.String(v->c_str(), static_cast<rapidjson::SizeType>(v->size()));
    } else {
        w.Null();
    }
}

void json_step(rapidjson::Writer<rapidjson::StringBuffer>& w, store::StepAction action, const char* kind,
               const std::string& host, const std::string* code, store::FilePosition at,
               const std::vector<store::FieldChange>& changes) {
    w.StartObject();
    w.Key("action");
    w.String(action_name(action));
    w.Key("kind");
    w.String(kind);
    w.Key("domain");
    w.String(host.c_str(), static_cast<rapidjson::SizeType>(host.size()));
    if (code != nullptr) {
        w.Key("code");
        w.String(code->c_str(), static_cast<rapidjson::SizeType>(code->size()));
    }
    w.Key("line");
    if (at.line == 0) {
        w.Null();
    } else {
        w.Uint(at.line);
    }
    w.Key("fields");
    w.StartArray();
    for (const store::FieldChange& c : changes) {
        w.StartObject();
        w.Key("field");
        w.String(c.field.c_str(), static_cast<rapidjson::SizeType>(c.field.size()));
        w.Key("before");
        json_text(w, c.before);
        w.Key("after");
        json_text(w, c.after);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
}

// One JSON object: the counts, whether it was applied, and every step with its fields.
std::string plan_json(const store::ApplyPlan& plan, bool applied) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("changes");
    w.Bool(!plan.empty());
    w.Key("applied");
    w.Bool(applied);
    for (store::StepAction action : {store::StepAction::add, store::StepAction::change, store::StepAction::remove}) {
        w.Key(action_name(action));
        w.Uint64(plan.count(action));
    }
    w.Key("steps");
    w.StartArray();
    for (const store::DomainStep& step : plan.domains) {
        json_step(w, step.action, "domain", step.target.host, nullptr, step.at, step.changes);
    }
    for (const store::LinkStep& step : plan.links) {
        json_step(w, step.action, "link", step.target.host, &step.target.code, step.at, step.changes);
    }
    w.EndArray();
    w.EndObject();
    return buf.GetString();
}

std::string counts_text(const store::ApplyPlan& plan, bool applied) {
    auto n = [&](store::StepAction a) { return std::to_string(plan.count(a)); };
    if (applied) {
        return "applied: " + n(store::StepAction::add) + " added, " + n(store::StepAction::change) + " changed, " +
               n(store::StepAction::remove) + " removed";
    }
    return "plan: " + n(store::StepAction::add) + " to add, " + n(store::StepAction::change) + " to change, " +
           n(store::StepAction::remove) + " to remove";
}

store::LinksFile read_file(const std::string& path, const std::string& label) {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (path != "-") {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            throw Error(k_exit_usage, path + " is a directory, not a links file");
        }
        file.open(path, std::ios::binary);
        if (!file) {
            throw Error(k_exit_not_found, "cannot open " + path);
        }
        in = &file;
    }
    auto parsed = store::read_links_file(*in);
    if (!parsed) {
        throw Error(exit_code_for(parsed.status()), label + ": " + parsed.status().message());
    }
    return std::move(parsed).value();
}

void run_apply(const ApplyOptions& o, const GlobalOptions& globals) {
    const std::string label = o.file == "-" ? "stdin" : o.file;
    const store::LinksFile file = read_file(o.file, label);
    store::Store s = open_store(globals);
    store::ApplyPlan plan;
    if (o.plan) {
        auto planned = store::plan_links_file(s, file, o.prune);
        if (!planned) {
            throw Error(exit_code_for(planned.status()), label + ": " + planned.status().message());
        }
        plan = std::move(planned).value();
    } else {
        store::FilePosition at;
        auto applied = store::apply_links_file(s, file, o.prune, &at);
        if (!applied) {
            const std::string where = at.line != 0 ? store::position_text(at) + ": " : "";
            throw Error(exit_code_for(applied.status()),
                        label + ": " + where + applied.status().message() + " (nothing was applied)");
        }
        plan = std::move(applied).value();
    }
    if (o.json) {
        std::printf("%s\n", plan_json(plan, !o.plan && !plan.empty()).c_str());
    } else if (plan.empty()) {
        std::printf("no changes: the store matches %s\n", label.c_str());
    } else {
        print_plan(plan);
        std::printf("%s\n", counts_text(plan, !o.plan).c_str());
    }
    std::fflush(stdout);
    if (o.plan && !plan.empty()) {
        throw Error(k_exit_usage, "");  // the plan has changes: exit 2, nothing more to say
    }
}

}  // namespace

void setup_apply(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<ApplyOptions>();
    CLI::App* sub = add_command(app, "apply");
    sub->add_option("FILE", o->file, "Links file (YAML, as `export --format yaml` writes), or - for stdin")->required();
    sub->add_flag("--plan", o->plan, "Print what would change and exit 2 if anything would (0 if not); change nothing");
    sub->add_flag("--prune", o->prune, "Soft-delete links the file does not list (domains are never removed)");
    sub->add_flag("--json", o->json, "Print the plan as one JSON object");
    sub->callback([o, &globals] { run_apply(*o, globals); });
}

}  // namespace shortlink::cli
