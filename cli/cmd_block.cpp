// shortlink block|unblock link|domain|destination TARGET, and shortlink blocks: the deny set in
// the store. A server learns of a change from a deny overlay or the next snapshot; with
// --publish DIR --key KEY, block and unblock write that overlay themselves once the store holds
// the change.
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/output.h"
#include "cli/publish_cli.h"
#include "cli/snapshot_cli.h"
#include "store/validate.h"

namespace shortlink::cli {
namespace {

struct BlockOptions {
    std::string target;  // link: CODE or short URL; domain, destination: HOST
    std::string domain;  // link: --domain
    std::string reason;  // block only
    std::string publish; // --publish DIR: write the deny overlay there afterwards
    std::string key;     // --key: the secret key that signs it
    bool json = false;
};

struct BlocksOptions {
    bool json = false;
};

// The (host, code) a store call takes for TARGET: a link's domain host ("" for the default) and
// code; a domain's host; a destination host as typed, since the store normalizes it and says
// precisely what is wrong with it.
struct StoreTarget {
    std::string host;
    std::string code;
};

StoreTarget link_target(store::Store& s, const BlockOptions& o, const GlobalOptions& globals) {
    ShortUrl link = link_arg(s, o.target, o.domain, globals.default_domain);
    code_arg(link.code);
    return {link.host, link.code};
}

StoreTarget resolve_target(store::Store& s, store::BlockKind kind, const BlockOptions& o,
                           const GlobalOptions& globals) {
    switch (kind) {
    case store::BlockKind::link: return link_target(s, o, globals);
    case store::BlockKind::domain:
        if (o.target.empty()) {
            // host_arg() reads "" as the default domain; a domain block names it outright.
            throw Error(k_exit_usage, "HOST is empty (the default domain is '*')");
        }
        return {host_arg(o.target), ""};
    case store::BlockKind::destination: return {o.target, ""};
    }
    throw Error(k_exit_usage, "unknown block kind");
}

void print_block_change(const store::BlockRecord& b, bool json, std::string_view verb) {
    if (json) {
        std::cout << block_json(b) << '\n';
    } else {
        std::cout << verb << ' ' << store::block_kind_name(b.kind) << ' ' << block_target(b)
                  << '\n';
    }
}

// The signing key of --publish, loaded before the store changes: a key that cannot sign must
// leave the store as it was.
std::optional<formats::SigningKey> publish_key(const BlockOptions& o) {
    if (o.publish.empty() != o.key.empty()) {
        throw Error(k_exit_usage, "--publish and --key go together");
    }
    if (o.publish.empty()) {
        return std::nullopt;
    }
    return load_secret_key(o.key);
}

// After the store changed: the whole deny set as a new overlay in --publish. A failure here
// leaves the change in the store (it is audited) and says how to publish it.
void publish_change(store::Store& s, const std::optional<formats::SigningKey>& key,
                    const BlockOptions& o) {
    if (!key) {
        return;
    }
    try {
        print_overlay(publish_overlay(s, *key, o.publish, k_default_keep), o.json);
    } catch (const Error& e) {
        throw Error(e.exit_code(), std::string(e.what()) +
                                       " (the store holds the change; publish it with "
                                       "'shortlink overlay --key KEY --out " + o.publish + "')");
    }
}

void run_block(store::BlockKind kind, const BlockOptions& o, const GlobalOptions& globals) {
    const std::optional<formats::SigningKey> key = publish_key(o);
    store::Store s = open_store(globals);
    const StoreTarget target = resolve_target(s, kind, o, globals);
    const store::BlockRecord block = unwrap(s.add_block(kind, target.host, target.code, o.reason));
    print_block_change(block, o.json, "blocked");
    // Only now, once the store holds it: a server must never deny what the store and its audit
    // log do not show.
    publish_change(s, key, o);
}

void run_unblock(store::BlockKind kind, const BlockOptions& o, const GlobalOptions& globals) {
    const std::optional<formats::SigningKey> key = publish_key(o);
    store::Store s = open_store(globals);
    const StoreTarget target = resolve_target(s, kind, o, globals);
    const store::BlockRecord block = unwrap(s.remove_block(kind, target.host, target.code));
    print_block_change(block, o.json, "unblocked");
    publish_change(s, key, o);
}

void run_blocks(const BlocksOptions& o, const GlobalOptions& globals) {
    store::Store s = open_store(globals);
    const std::vector<store::BlockRecord> blocks = unwrap(s.list_blocks());
    OutputSink out(stdout);
    if (o.json) {
        for (const store::BlockRecord& b : blocks) {
            out.line(block_json(b));
        }
    } else {
        std::ostringstream table;
        print_block_table(table, blocks);
        out.raw(table.str());
    }
    out.flush();
}

// `block` and `unblock`: one subcommand per kind, with the same targets; `reason` adds --reason.
void setup_block_command(CLI::App& app, const GlobalOptions& globals, std::string_view name,
                         bool reason,
                         void (*run)(store::BlockKind, const BlockOptions&, const GlobalOptions&)) {
    CLI::App* command = add_command(app, name);
    command->require_subcommand(1);
    struct Kind {
        store::BlockKind kind;
        const char* summary;
        const char* target;
        const char* target_help;
    };
    const Kind kinds[] = {
        {store::BlockKind::link, "One link", "CODE_OR_SHORT_URL",
         "The link's code, or its short URL (https://HOST/CODE)"},
        {store::BlockKind::domain, "Every link of a served domain", "HOST",
         "The domain ('*': the default domain)"},
        {store::BlockKind::destination, "Every link to a destination host or its subdomains",
         "HOST", "The destination host (no scheme, port or path)"},
    };
    for (const Kind& k : kinds) {
        auto o = std::make_shared<BlockOptions>();
        CLI::App* sub =
            command->add_subcommand(std::string(store::block_kind_name(k.kind)), k.summary);
        sub->add_option(k.target, o->target, k.target_help)->required();
        if (k.kind == store::BlockKind::link) {
            sub->add_option("--domain", o->domain, "Domain of CODE (default: the default domain)");
        }
        if (reason) {
            sub->add_option("--reason", o->reason,
                            "Why, recorded with the block and in the audit log");
        }
        sub->add_option("--publish", o->publish,
                        "Then write the deny overlay into this directory (with --key)");
        sub->add_option("--key", o->key, "Secret key that signs the overlay of --publish");
        sub->add_flag("--json", o->json, "Print the block (and the overlay) as JSON");
        sub->callback([o, &globals, kind = k.kind, run] { run(kind, *o, globals); });
    }
}

}  // namespace

void setup_block(CLI::App& app, const GlobalOptions& globals) {
    setup_block_command(app, globals, "block", true, run_block);
}

void setup_unblock(CLI::App& app, const GlobalOptions& globals) {
    setup_block_command(app, globals, "unblock", false, run_unblock);
}

void setup_blocks(CLI::App& app, const GlobalOptions& globals) {
    auto o = std::make_shared<BlocksOptions>();
    CLI::App* sub = add_command(app, "blocks");
    sub->add_flag("--json", o->json, "One JSON object per line");
    sub->callback([o, &globals] { run_blocks(*o, globals); });
}

}  // namespace shortlink::cli
