// The link set as other redirect servers load it: an nginx map, an HAProxy map or a Cloudflare
// Bulk Redirects CSV (`shortlink export --format nginx-map|haproxy-map|cloudflare-csv`), so an
// operator can leave shortlink or run a fallback on a plain web server.
//
// What is written is what `shortlink serve` would answer at the time of the export: every active
// link that redirects now and every domain root URL, with the redirect type and query forwarding
// resolved against the domain's defaults. What the target cannot express is never written as a
// wrong redirect: it is left out, dropped or escaped, and said so in the report (one line per
// reason, with a count). docs/fallback-servers.md shows the server configurations that consume
// the maps; tests/e2e/export_servers.py loads them into Debian's nginx and HAProxy.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace shortlink::cli {

enum class ServerFormat { nginx_map, haproxy_map, cloudflare_csv };

// "nginx-map", "haproxy-map", "cloudflare-csv"; nullopt for anything else.
std::optional<ServerFormat> parse_server_format(std::string_view name);

struct ServerExport {
    ServerFormat format = ServerFormat::nginx_map;
    std::string host;        // empty: every domain; else one domain's host ("*": the default)
    std::string source;      // named in a map's header comment (the database path)
    std::int64_t now = 0;    // Unix seconds: which links redirect (expiry, not-before)
};

// Writes the export to `out` and appends to `report` one line per thing left out, dropped,
// escaped or not expressible. Throws cli::Error on a store or write failure.
void write_server_export(store::Store& store, const ServerExport& options, std::FILE* out,
                         std::vector<std::string>& report);

}  // namespace shortlink::cli
