// shortlink edit CODE: change a link's destination, type, times, tags, title, password or query
// forwarding.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "cli/password_cli.h"
#include "formats/clock.h"

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
    std::string expired_url;
    bool no_expired_url = false;
    bool reserve = false;
    bool no_reserve = false;
    std::string password_file;
    bool password_prompt = false;
    bool no_password = false;
    bool forward_query = false;
    bool no_forward_query = false;
    bool default_forward_query = false;
    bool default_type = false;
    bool json = false;
};

// Above this, a permanent redirect that changes is worth a warning: browsers keep a 301 or 308
// as long as its max-age says and never ask again meanwhile, so some visitors keep going to the
// old destination for that long whatever the new snapshot says.
constexpr std::uint32_t k_long_permanent_max_age_s = 3600;

// "1 day", "3 hours", "45 minutes": how long that is, to the unit a person plans with.
std::string duration_text(std::uint32_t seconds) {
    const auto unit = [](std::uint32_t n, const char* name) {
        return std::to_string(n) + " " + name + (n == 1 ? "" : "s");
    };
    if (seconds >= 86400) {
        return unit((seconds + 43200) / 86400, "day");
    }
    if (seconds >= 3600) {
        return unit((seconds + 1800) / 3600, "hour");
    }
    return unit((seconds + 30) / 60, "minute");
}

// Warns on stderr when an edit changes where a link that was answered as a long-lived permanent
// redirect (301 or 308, max-age above k_long_permanent_max_age_s) goes, or how: caches and
// browsers may answer with the old redirect until that max-age has passed.
void warn_if_cached_permanently(store::Store& s, const store::Link& before, const store::Link& after) {
    if (before.destination == after.destination && before.redirect_type == after.redirect_type &&
        before.status == after.status && before.expires == after.expires && before.reserved == after.reserved) {
        return;
    }
    const store::DomainRecord domain = unwrap(s.find_domain(before.host));
    const std::uint16_t type = before.redirect_type != 0 ? before.redirect_type : domain.default_redirect;
    const std::int64_t now = clock::unix_seconds();
    if ((type != 301 && type != 308) || before.reserved ||
        store::effective_state(before.status, before.not_before, before.expires, now) != store::EffectiveState::active) {
        return;
    }
    const std::uint32_t max_age = std::min(domain.cache_max_age_s, domain.permanent_max_age_s);
    if (max_age <= k_long_permanent_max_age_s) {
        return;
    }
    std::fprintf(stderr,
                 "warning: %s was answered %u with max-age=%u: browsers and caches may keep sending visitors to %s "
                 "for up to %s after the next compile\n",
                 short_url(before).c_str(), static_cast<unsigned>(type), static_cast<unsigned>(max_age),
                 before.destination.c_str(), duration_text(max_age).c_str());
}

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
    if (!o.expired_url.empty()) {
        p.expired_url = expired_url_arg(o.expired_url);
    }
    if (o.no_expired_url) {
        p.expired_url = std::string();
    }
    if (o.reserve || o.no_reserve) {
        p.reserved = o.reserve;
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
        p.add_tags.empty() && p.remove_tags.empty() && !p.title && !p.expired_url && !p.reserved &&
        !p.password_hash) {
        throw Error(k_exit_usage, "nothing to change: give --url, --type, --expires, --add-tag, ...");
    }
    store::Store s = open_store(globals);
    const ShortUrl ref = link_arg(s, o.code, o.domain, globals.default_domain);
    const store::Link before = unwrap_link(s, ref, s.get_link(ref.host, ref.code));
    const store::Link after = unwrap_link(s, ref, s.edit_link(ref.host, ref.code, p));
    warn_if_cached_permanently(s, before, after);
    print_changed_link(s, after, o.json, "edited");
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
    auto* eu = sub->add_option("--expired-url", o->expired_url, "Where the link goes once it has expired or ended");
    sub->add_flag("--no-expired-url", o->no_expired_url, "Use the domain's expired URL (or 410) again")->excludes(eu);
    auto* reserve = sub->add_flag("--reserve", o->reserve, "Take the start time away: answer 404 until given one");
    sub->add_flag("--no-reserve", o->no_reserve, "Make a reserved link live now (--not-before: from then on)")
        ->excludes(reserve);
    reserve->excludes(nb);
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
