// shortlink edit CODE: change a link's destination, type, times, tags, title, password or query
// forwarding.
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/password_cli.h"

namespace shortlink::cli {
namespace {

struct EditOptions {
    std::string code;
    std::string domain;
    std::string url;
    std::string type;
    std::string expires;
    bool no_expires = false;
    std::string not_before;
    bool no_not_before = false;
    std::vector<std::string> add_tags;
    std::vector<std::string> remove_tags;
    std::optional<std::string> title;  // given, possibly blank
    bool no_title = false;
    std::string password_file;
    bool password_prompt = false;
    bool no_password = false;
    bool forward_query = false;
    bool no_forward_query = false;
    bool default_forward_query = false;
    bool default_type = false;
    bool json = false;
};

void run_edit(const EditOptions& o, const GlobalOptions& globals) {
    store::LinkPatch p;
    if (!o.url.empty()) {
        p.destination = destination_arg(o.url);
    }
    if (!o.type.empty()) {
        p.redirect_type = type_arg(o.type);
    }
    if (o.default_type) {
        p.redirect_type = 0;
    }
    if (!o.expires.empty()) {
        p.expires = time_arg(o.expires, "--expires");
    }
    if (o.no_expires) {
        p.expires = 0;
    }
    if (!o.not_before.empty()) {
        p.not_before = time_arg(o.not_before, "--not-before");
    }
    if (o.no_not_before) {
        p.not_before = 0;
    }
    tags_arg(o.add_tags);
    tags_arg(o.remove_tags);
    p.add_tags = o.add_tags;
    p.remove_tags = o.remove_tags;
    if (o.title) {
        p.title = title_arg(*o.title, "--title");
    }
    if (o.no_title) {
        p.title = std::string();
    }
    if (!o.password_file.empty() || o.password_prompt) {
        p.password_hash = hash_password_arg(o.password_prompt ? prompt_password() : read_password_file(o.password_file));
    }
    if (o.no_password) {
        p.password_hash = std::string();
    }
    if (o.forward_query) {
        p.forward_query = 1;
    } else if (o.no_forward_query) {
        p.forward_query = 0;
    } else if (o.default_forward_query) {
        p.forward_query = -1;
    }
    if (!p.destination && !p.redirect_type && !p.expires && !p.not_before && !p.forward_query &&
        p.add_tags.empty() && p.remove_tags.empty() && !p.title && !p.password_hash) {
        throw Error(k_exit_usage, "nothing to change: give --url, --type, --expires, --add-tag, ...");
    }
    store::Store s = open_store(globals);
    const ShortUrl ref = link_arg(s, o.code, o.domain, globals.default_domain);
    print_changed_link(s, unwrap_link(s, ref, s.edit_link(ref.host, ref.code, p)), o.json, "edited");
}

}  // namespace

void setup_edit(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<EditOptions>();
    CLI::App* sub = add_command(app, "edit");
    add_link_selector(sub, o->code, o->domain);
    sub->add_option("--url", o->url, "New destination URL");
    auto* type = sub->add_option("--type", o->type, "Redirect type 301|302|307|308");
    sub->add_flag("--default-type", o->default_type, "Use the domain's redirect type")->excludes(type);
    auto* expires = sub->add_option("--expires", o->expires, "RFC 3339 time or relative (30m, 12h, 7d)");
    sub->add_flag("--no-expires", o->no_expires, "Remove the expiry")->excludes(expires);
    auto* nb = sub->add_option("--not-before", o->not_before, "RFC 3339 time or relative");
    sub->add_flag("--no-not-before", o->no_not_before, "Remove the not-before time")->excludes(nb);
    sub->add_option("--add-tag", o->add_tags, "Add a tag (repeatable)");
    sub->add_option("--remove-tag", o->remove_tags, "Remove a tag (repeatable)");
    auto* title = sub->add_option("--title", o->title, "New title (UTF-8, one line, at most 512 bytes)");
    sub->add_flag("--no-title", o->no_title, "Remove the title")->excludes(title);
    auto* pw_file = sub->add_option("--password-file", o->password_file,
                                    "New password: the first line of FILE");
    auto* pw_prompt = sub->add_flag("--password-prompt", o->password_prompt, "New password, typed on the terminal");
    sub->add_flag("--no-password", o->no_password, "Remove the password")->excludes(pw_file)->excludes(pw_prompt);
    pw_file->excludes(pw_prompt);
    auto* fq = sub->add_flag("--forward-query", o->forward_query, "Forward the incoming query string");
    auto* nfq = sub->add_flag("--no-forward-query", o->no_forward_query, "Do not forward the query string");
    auto* dfq = sub->add_flag("--default-forward-query", o->default_forward_query, "Follow the domain's setting");
    fq->excludes(nfq)->excludes(dfq);
    nfq->excludes(dfq);
    sub->add_flag("--json", o->json, "Print the link as JSON");
    sub->callback([o, &globals] { run_edit(*o, globals); });
}

}  // namespace shortlink::cli
