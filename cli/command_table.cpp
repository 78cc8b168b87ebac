#include "cli/command_table.h"

#include "cli/commands.h"

namespace shortlink::cli {

const std::vector<Command>& command_table() {
    static const std::vector<Command> k_table = {
        // control plane (the link store)
        {"init", "Create the database (refuses to overwrite one)", setup_init},
        {"domain", "Add, list, change or remove domains and their defaults", setup_domain},
        {"add", "Create a short link", setup_add},
        {"show", "Show one link", setup_show},
        {"list", "List links (table, JSON Lines or CSV; streams)", setup_list},
        {"edit", "Change a link's URL, type, times, tags, title, password or query forwarding", setup_edit},
        {"rule", "Add, list, remove or reorder a link's redirect rules (device, language, country, ...)", setup_rule},
        {"disable", "Disable a link (answers 410 until enabled)", setup_disable},
        {"enable", "Enable a disabled link", setup_enable},
        {"delete", "Soft-delete a link (answers 410; restorable)", setup_delete},
        {"restore", "Restore a deleted link, or the database from a backup (--backup)", setup_restore},
        {"history", "Show the audit trail, newest first", setup_history},
        {"import", "Import links from CSV, JSON Lines or another shortener's export in one transaction", setup_import},
        {"export", "Export links as CSV, JSON Lines or YAML (for apply), or as nginx/HAProxy maps and Cloudflare CSV", setup_export},
        {"apply", "Make the store match a links file (YAML, kept in git) in one transaction; --plan previews", setup_apply},
        {"backup", "Write a consistent, compressed, checksummed copy of the database", setup_backup},
        {"qr", "Draw a link's QR code (SVG, PNG or terminal text), marked so scans are counted", setup_qr},
        // the safety plane (blocks)
        {"block", "Block a link, a served domain or a destination host (answers 410, never cached)", setup_block},
        {"unblock", "Lift a block", setup_unblock},
        {"blocks", "List the blocks in force", setup_blocks},
        // snapshots and keys
        {"resolve", "Print what a server would answer for a URL, offline", setup_resolve},
        {"keygen", "Create an Ed25519 key pair for signing snapshots", setup_keygen},
        {"compile", "Compile the database into a signed snapshot, published atomically", setup_compile},
        {"verify", "Check a snapshot's or deny overlay's structure, checksums and signature", setup_verify},
        {"inspect", "Show a snapshot's or deny overlay's header, sections and entries", setup_inspect},
        {"diff", "Domains and links added, removed and changed between two snapshots", setup_diff},
        {"overlay", "Publish the current deny set as a signed deny overlay, without a compile", setup_overlay},
        {"rollback", "Publish an older snapshot's content again under a new serial", setup_rollback},
        {"publish", "Lay a directory out as a static origin: the newest files and a signed index naming them", setup_publish},
        {"promote", "Point one channel of an origin at what another serves, after checks on its hosts pass", setup_promote},
        // redirect plane
        {"serve", "Answer HTTP redirects from the newest valid snapshot; hot-swaps new ones", setup_serve},
        {"probe", "Check servers' answers (status, Location, latency) and HTTPS certificates", setup_probe},
        // click analytics
        {"stats", "Click analytics: ingest click segments, totals, series, top links, report, export", setup_stats},
    };
    return k_table;
}

}  // namespace shortlink::cli
