// shortlink add URL: create a short link; prints it.
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/password_cli.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

struct AddOptions {
    std::string url;
    std::optional<std::string> code;  // given, possibly empty
    std::string domain;
    std::string type;
    std::string expires;
    std::string not_before;
    std::vector<std::string> tags;
    std::optional<std::string> title;  // given, possibly blank
    std::string expired_url;
    bool reserve = false;
    std::string password_file;
    bool password_prompt = false;
    bool no_forward_query = false;
    bool forward_query = false;
    bool json = false;
};

void run_add(const AddOptions& o, const GlobalOptions& globals) {
    store::LinkInput in;
    in.destination = destination_arg(o.url);
    if (o.code) {
        if (o.code->empty()) {
            throw Error(k_exit_usage, "--code is empty; leave it out for a random code");
        }
        code_arg(*o.code);
        in.code = *o.code;
    }
    in.host = domain_or_default(o.domain, globals);
    if (!o.type.empty()) {
        in.redirect_type = type_arg(o.type);
    }
    if (!o.expires.empty()) {
        in.expires = time_arg(o.expires, "--expires");
    }
    if (!o.not_before.empty()) {
        in.not_before = time_arg(o.not_before, "--not-before");
    }
    if (in.expires != 0 && in.not_before != 0 && in.expires <= in.not_before) {
        throw Error(k_exit_usage, "--expires must be after --not-before");
    }
    tags_arg(o.tags);
    in.tags = o.tags;
    if (o.title) {
        in.title = title_arg(*o.title, "--title");
    }
    if (!o.expired_url.empty()) {
        in.expired_url = expired_url_arg(o.expired_url);
    }
    in.reserved = o.reserve;
    in.forward_query = o.no_forward_query ? 0 : (o.forward_query ? 1 : -1);
    if (!o.password_file.empty() || o.password_prompt) {
        in.password_hash =
            hash_password_arg(o.password_prompt ? prompt_password() : read_password_file(o.password_file));
    }
    store::Store s = open_store(globals);
    store::Link link = unwrap(s.add_link(in, [] { return validate::generate_code(); }));
    print_changed_link(s, link, o.json, "");
}

}  // namespace

void setup_add(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<AddOptions>();
    CLI::App* sub = add_command(app, "add");
    sub->add_option("URL", o->url, "Destination: an absolute http(s) URL")->required();
    sub->add_option("--code", o->code, "Code to use (default: 7 random characters)");
    sub->add_option("--domain", o->domain, "Domain of the link (default: the default domain)");
    sub->add_option("--type", o->type, "Redirect type 301|302|307|308 (default: the domain's)");
    sub->add_option("--expires", o->expires, "RFC 3339 time or relative (30m, 12h, 7d)");
    auto* nb = sub->add_option("--not-before", o->not_before, "RFC 3339 time or relative (30m, 12h, 7d)");
    sub->add_flag("--reserve", o->reserve,
                  "Create the link without a start time: it answers 404 until edit gives it one")
        ->excludes(nb);
    sub->add_option("--expired-url", o->expired_url,
                    "Where the link goes once it has expired or ended (default: the domain's, else 410)");
    sub->add_option("--tag", o->tags, "Tag (repeatable)");
    sub->add_option("--title", o->title, "A human-readable name (UTF-8, one line, at most 512 bytes)");
    auto* pw_file = sub->add_option("--password-file", o->password_file,
                                    "Protect the link with the password on the first line of FILE");
    sub->add_flag("--password-prompt", o->password_prompt, "Protect the link with a password typed on the terminal")
        ->excludes(pw_file);
    sub->add_flag("--no-forward-query", o->no_forward_query, "Do not forward the incoming query string");
    sub->add_flag("--forward-query", o->forward_query, "Forward the incoming query string")
        ->excludes("--no-forward-query");
    sub->add_flag("--json", o->json, "Print the link as JSON");
    sub->callback([o, &globals] { run_add(*o, globals); });
}

}  // namespace shortlink::cli
