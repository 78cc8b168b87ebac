#include "serve/metrics.h"

#include <cstdio>

#include "serve/click_log.h"
#include "serve/geoip.h"
#include "serve/listen_socket.h"
#include "serve/miss_budget.h"

namespace shortlink::serve {

std::size_t status_slot(std::uint16_t status) {
    for (std::size_t i = 0; i + 1 < k_counted_statuses.size(); ++i) {
        if (k_counted_statuses[i] == status) {
            return i;
        }
    }
    return k_counted_statuses.size() - 1;
}

void WorkerMetrics::observe_latency_ns(std::uint64_t ns, std::uint64_t requests_in_batch) {
    const std::uint64_t us = ns / 1000;
    std::size_t i = 0;
    while (i < k_latency_bounds_us.size() && us > k_latency_bounds_us[i]) {
        ++i;
    }
    latency[i].add(requests_in_batch);
    latency_sum_ns.add(ns * requests_in_batch);
}

namespace {

void line(std::string& out, const std::string& name, std::uint64_t value) {
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

template <class F>
std::uint64_t sum(const std::vector<const WorkerMetrics*>& workers, F field) {
    std::uint64_t total = 0;
    for (const WorkerMetrics* w : workers) {
        total += field(*w);
    }
    return total;
}

void render_tls(std::string& out, const std::vector<const WorkerMetrics*>& workers,
                const CertificateReport& c, std::int64_t now) {
    header(out, "shortlink_tls_handshakes_total", "counter",
           "TLS handshakes by result (resumed ones are counted in completed too).");
    line(out, "shortlink_tls_handshakes_total{result=\"completed\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.tls_handshakes_completed.get(); }));
    line(out, "shortlink_tls_handshakes_total{result=\"resumed\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.tls_handshakes_resumed.get(); }));
    line(out, "shortlink_tls_handshakes_total{result=\"failed\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.tls_handshakes_failed.get(); }));
    line(out, "shortlink_tls_handshakes_total{result=\"timeout\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.tls_handshakes_timeout.get(); }));
    line(out, "shortlink_tls_handshakes_total{result=\"rejected\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.tls_handshakes_rejected.get(); }));
    header(out, "shortlink_tls_certificate_expiry_days", "gauge",
           "Days until the certificate served for a host name expires (the earliest notAfter of its chain).");
    const auto certs = c.table ? c.table->certificates() : std::vector<std::shared_ptr<const Certificate>>{};
    for (const auto& cert : certs) {
        char days[32];
        std::snprintf(days, sizeof(days), "%.2f", static_cast<double>(cert->not_after - now) / 86400.0);
        std::string labeled = "shortlink_tls_certificate_expiry_days{host=\"";
        labeled += cert->host;  // a host name: letters, digits, '-', '.', '*'; nothing to escape
        labeled += "\"} ";
        labeled += days;
        labeled += '\n';
        out += labeled;
    }
    header(out, "shortlink_tls_certificates", "gauge", "Certificates being served.");
    line(out, "shortlink_tls_certificates", certs.size());
    header(out, "shortlink_tls_certificate_swaps_total", "counter",
           "Certificate tables published (a certificate added, renewed or removed).");
    line(out, "shortlink_tls_certificate_swaps_total", c.swaps);
    header(out, "shortlink_tls_certificates_refused_total", "counter",
           "Certificate files refused, by reason (the previous certificate keeps serving).");
    for (std::size_t i = 0; i < k_cert_refusal_kinds; ++i) {
        line(out, "shortlink_tls_certificates_refused_total{reason=\"" +
                      std::string(cert_refusal_name(static_cast<CertRefusal>(i))) + "\"}",
             c.refused[i]);
    }
}

}  // namespace

std::string render_prometheus(const std::vector<const WorkerMetrics*>& workers,
                              const SnapshotMetrics& s, const OverlayMetrics& overlay,
                              const PatchMetrics& patch, const CertificateReport* certificates,
                              std::int64_t now, const ClickLogMetrics* clicks, std::uint64_t password_queue) {
    std::string out;
    header(out, "shortlink_requests_total", "counter", "Requests answered, by HTTP status.");
    for (std::size_t i = 0; i < k_counted_statuses.size(); ++i) {
        const std::uint64_t n = sum(workers, [i](const WorkerMetrics& w) { return w.requests[i].get(); });
        const std::string code =
            k_counted_statuses[i] == 0 ? "other" : std::to_string(k_counted_statuses[i]);
        line(out, "shortlink_requests_total{status=\"" + code + "\"}", n);
    }
    header(out, "shortlink_misses_limited_total", "counter",
           "Misses (404s) answered 429 because the client was past its miss budget.");
    line(out, "shortlink_misses_limited_total",
         sum(workers, [](const WorkerMetrics& w) { return w.misses_limited.get(); }));
    header(out, "shortlink_forwarded_requests_total", "counter",
           "Requests from a trusted proxy by how X-Forwarded-For was read: the client came from it "
           "(forwarded), the walk stopped at an entry that is no address (malformed) or after too many "
           "addresses (too_long).");
    line(out, "shortlink_forwarded_requests_total{result=\"forwarded\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.forwarded_clients.get(); }));
    line(out, "shortlink_forwarded_requests_total{result=\"malformed\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.forwarded_malformed.get(); }));
    line(out, "shortlink_forwarded_requests_total{result=\"too_long\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.forwarded_too_long.get(); }));
    header(out, "shortlink_request_duration_seconds", "histogram",
           "Time from reading a batch of requests to queueing their responses.");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= k_latency_bounds_us.size(); ++i) {
        cumulative += sum(workers, [i](const WorkerMetrics& w) { return w.latency[i].get(); });
        std::string le = "+Inf";
        if (i < k_latency_bounds_us.size()) {
            char buf[32];
            std::snprintf(buf, sizeof(buf), "%g", k_latency_bounds_us[i] / 1e6);
            le = buf;
        }
        line(out, "shortlink_request_duration_seconds_bucket{le=\"" + le + "\"}", cumulative);
    }
    const std::uint64_t sum_ns = sum(workers, [](const WorkerMetrics& w) { return w.latency_sum_ns.get(); });
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.9f", static_cast<double>(sum_ns) / 1e9);
    out += "shortlink_request_duration_seconds_sum ";
    out += buf;
    out += '\n';
    line(out, "shortlink_request_duration_seconds_count", cumulative);

    const std::uint64_t opened = sum(workers, [](const WorkerMetrics& w) { return w.connections_opened.get(); });
    const std::uint64_t closed = sum(workers, [](const WorkerMetrics& w) { return w.connections_closed.get(); });
    header(out, "shortlink_open_connections", "gauge", "Client connections currently open.");
    line(out, "shortlink_open_connections", opened >= closed ? opened - closed : 0);
    header(out, "shortlink_connections_total", "counter", "Client connections accepted.");
    line(out, "shortlink_connections_total", opened);
    header(out, "shortlink_connections_rejected_total", "counter",
           "Connections closed at accept: --max-connections reached and every connection busy.");
    line(out, "shortlink_connections_rejected_total",
         sum(workers, [](const WorkerMetrics& w) { return w.connections_rejected.get(); }));
    header(out, "shortlink_connections_evicted_total", "counter",
           "Waiting connections (idle, or slow to send a header) closed at --max-connections "
           "to make room for a new one.");
    line(out, "shortlink_connections_evicted_total",
         sum(workers, [](const WorkerMetrics& w) { return w.connections_evicted.get(); }));
    static_assert(std::tuple_size_v<decltype(WorkerMetrics::accept_errors)> == k_accept_error_kinds);
    header(out, "shortlink_accept_errors_total", "counter",
           "accept() failures on the public and admin listeners, by errno (each pauses accepting).");
    for (std::size_t i = 0; i < k_accept_error_kinds; ++i) {
        line(out, "shortlink_accept_errors_total{errno=\"" +
                      std::string(accept_error_name(static_cast<AcceptError>(i))) + "\"}",
             sum(workers, [i](const WorkerMetrics& w) { return w.accept_errors[i].get(); }));
    }
    header(out, "shortlink_timeouts_total", "counter", "Connections closed by a timeout, by kind.");
    line(out, "shortlink_timeouts_total{kind=\"header\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.timeouts_header.get(); }));
    line(out, "shortlink_timeouts_total{kind=\"idle\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.timeouts_idle.get(); }));
    line(out, "shortlink_timeouts_total{kind=\"send\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.timeouts_send.get(); }));
    header(out, "shortlink_unsafe_location_total", "counter",
           "Location values refused by the response writer (CR, LF or NUL).");
    line(out, "shortlink_unsafe_location_total",
         sum(workers, [](const WorkerMetrics& w) { return w.unsafe_location.get(); }));

    header(out, "shortlink_acme_challenges_total", "counter",
           "ACME challenge requests on the plain listeners (--acme-webroot), by answer.");
    line(out, "shortlink_acme_challenges_total{result=\"served\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.acme_challenges[0].get(); }));
    line(out, "shortlink_acme_challenges_total{result=\"not_found\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.acme_challenges[1].get(); }));

    header(out, "shortlink_snapshot_loaded", "gauge", "1 when a snapshot is being served.");
    line(out, "shortlink_snapshot_loaded", s.loaded ? 1 : 0);
    header(out, "shortlink_snapshot_serial", "gauge", "Serial of the snapshot being served.");
    line(out, "shortlink_snapshot_serial", s.serial);
    header(out, "shortlink_snapshot_links", "gauge", "Links in the snapshot being served.");
    line(out, "shortlink_snapshot_links", s.links);
    header(out, "shortlink_snapshot_age_seconds", "gauge",
           "Seconds since the snapshot being served was compiled.");
    line(out, "shortlink_snapshot_age_seconds",
         s.loaded && now > s.created_at ? static_cast<std::uint64_t>(now - s.created_at) : 0);
    header(out, "shortlink_snapshot_verified", "gauge",
           "1 once every byte of the serving snapshot is verified; 0 while a cold start's background pass runs");
    line(out, "shortlink_snapshot_verified", s.verified ? 1 : 0);
    header(out, "shortlink_snapshot_expired", "gauge",
           "1 when the snapshot being served is past its not-after time (still served).");
    line(out, "shortlink_snapshot_expired", s.expired ? 1 : 0);
    header(out, "shortlink_snapshot_swaps_total", "counter", "Snapshots published.");
    line(out, "shortlink_snapshot_swaps_total", s.swaps);
    header(out, "shortlink_snapshot_refused_total", "counter", "Candidate snapshots refused, by reason.");
    line(out, "shortlink_snapshot_refused_total{reason=\"rollback\"}", s.refused_rollback);
    line(out, "shortlink_snapshot_refused_total{reason=\"signature\"}", s.refused_signature);
    line(out, "shortlink_snapshot_refused_total{reason=\"corrupt\"}", s.refused_corrupt);
    line(out, "shortlink_snapshot_refused_total{reason=\"io\"}", s.refused_io);
    header(out, "shortlink_snapshot_deny_entries", "gauge",
           "Entries of the deny set baked into the serving snapshot.");
    line(out, "shortlink_snapshot_deny_entries", s.deny_entries);

    const PatchMetrics& p = patch;
    header(out, "shortlink_patch_loaded", "gauge", "1 when a patch is applied on the serving snapshot.");
    line(out, "shortlink_patch_loaded", p.loaded ? 1 : 0);
    header(out, "shortlink_patch_serial", "gauge", "Serial of the applied patch.");
    line(out, "shortlink_patch_serial", p.serial);
    header(out, "shortlink_patch_base_serial", "gauge", "Serial of the snapshot the applied patch is for.");
    line(out, "shortlink_patch_base_serial", p.base);
    header(out, "shortlink_patch_links", "gauge", "Links in the applied patch.");
    line(out, "shortlink_patch_links", p.links);
    header(out, "shortlink_patch_bytes", "gauge", "Size of the applied patch file.");
    line(out, "shortlink_patch_bytes", p.bytes);
    header(out, "shortlink_patch_swaps_total", "counter", "Patches applied.");
    line(out, "shortlink_patch_swaps_total", p.swaps);
    header(out, "shortlink_patch_refused_total", "counter", "Candidate patches refused, by reason.");
    line(out, "shortlink_patch_refused_total{reason=\"rollback\"}", p.refused_rollback);
    line(out, "shortlink_patch_refused_total{reason=\"signature\"}", p.refused_signature);
    line(out, "shortlink_patch_refused_total{reason=\"corrupt\"}", p.refused_corrupt);
    line(out, "shortlink_patch_refused_total{reason=\"io\"}", p.refused_io);

    const OverlayMetrics& o = overlay;
    header(out, "shortlink_overlay_loaded", "gauge", "1 when a deny overlay is loaded.");
    line(out, "shortlink_overlay_loaded", o.loaded ? 1 : 0);
    header(out, "shortlink_overlay_active", "gauge",
           "1 when the loaded deny overlay is newer than the snapshot and its deny set is in force.");
    line(out, "shortlink_overlay_active", o.active ? 1 : 0);
    header(out, "shortlink_overlay_serial", "gauge", "Serial of the loaded deny overlay.");
    line(out, "shortlink_overlay_serial", o.serial);
    header(out, "shortlink_overlay_age_seconds", "gauge",
           "Seconds since the loaded deny overlay was written.");
    line(out, "shortlink_overlay_age_seconds",
         o.loaded && now > o.created_at ? static_cast<std::uint64_t>(now - o.created_at) : 0);
    header(out, "shortlink_overlay_entries", "gauge", "Entries of the loaded deny overlay, by kind.");
    line(out, "shortlink_overlay_entries{kind=\"link\"}", o.links);
    line(out, "shortlink_overlay_entries{kind=\"domain\"}", o.domains);
    line(out, "shortlink_overlay_entries{kind=\"destination\"}", o.destinations);
    header(out, "shortlink_overlay_swaps_total", "counter", "Deny overlays loaded.");
    line(out, "shortlink_overlay_swaps_total", o.swaps);
    header(out, "shortlink_overlay_refused_total", "counter", "Candidate deny overlays refused, by reason.");
    line(out, "shortlink_overlay_refused_total{reason=\"rollback\"}", o.refused_rollback);
    line(out, "shortlink_overlay_refused_total{reason=\"signature\"}", o.refused_signature);
    line(out, "shortlink_overlay_refused_total{reason=\"corrupt\"}", o.refused_corrupt);
    line(out, "shortlink_overlay_refused_total{reason=\"io\"}", o.refused_io);
    if (certificates != nullptr) {
        render_tls(out, workers, *certificates, now);
    }
    header(out, "shortlink_password_checks_total", "counter", "Password form submissions checked, by result.");
    line(out, "shortlink_password_checks_total{result=\"ok\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.password_checks_ok.get(); }));
    line(out, "shortlink_password_checks_total{result=\"failed\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.password_checks_failed.get(); }));
    header(out, "shortlink_password_refused_total", "counter",
           "Password form submissions not checked, by reason: too many failed attempts (429), a full queue (503).");
    line(out, "shortlink_password_refused_total{reason=\"rate_limited\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.password_rate_limited.get(); }));
    line(out, "shortlink_password_refused_total{reason=\"busy\"}",
         sum(workers, [](const WorkerMetrics& w) { return w.password_busy.get(); }));
    header(out, "shortlink_password_queue_depth", "gauge", "Password checks waiting for a pool thread.");
    line(out, "shortlink_password_queue_depth", password_queue);
    if (clicks != nullptr) {
        header(out, "shortlink_clicks_recorded_total", "counter", "Click events written into a segment.");
        line(out, "shortlink_clicks_recorded_total", clicks->recorded);
        header(out, "shortlink_clicks_dropped_total", "counter",
               "Click events dropped, by reason: a full buffer on the request path, a failing write.");
        line(out, "shortlink_clicks_dropped_total{reason=\"buffer_full\"}",
             sum(workers, [](const WorkerMetrics& w) { return w.clicks_dropped.get(); }));
        line(out, "shortlink_clicks_dropped_total{reason=\"write_error\"}", clicks->dropped_write);
        header(out, "shortlink_click_write_errors_total", "counter",
               "Failures creating, writing or sealing a click segment.");
        line(out, "shortlink_click_write_errors_total", clicks->write_errors);
        header(out, "shortlink_click_segments_sealed_total", "counter", "Click segments sealed.");
        line(out, "shortlink_click_segments_sealed_total", clicks->segments_sealed);
        header(out, "shortlink_click_bytes_written_total", "counter", "Compressed click block bytes written.");
        line(out, "shortlink_click_bytes_written_total", clicks->bytes_written);
        header(out, "shortlink_click_last_write_timestamp_seconds", "gauge",
               "When the last click block was written (Unix time); 0: none yet.");
        line(out, "shortlink_click_last_write_timestamp_seconds",
             static_cast<std::uint64_t>(clicks->last_write_ms / 1000));
    }
    return out;
}

std::string render_miss_budget_metrics(const MissBudget& table, std::uint32_t budget, std::int64_t now) {
    std::string out;
    header(out, "shortlink_miss_budget_per_minute", "gauge",
           "Misses a client address may have a minute before its misses are answered 429.");
    line(out, "shortlink_miss_budget_per_minute", budget);
    header(out, "shortlink_miss_budget_slots", "gauge", "Client addresses the miss budget table can hold (fixed).");
    line(out, "shortlink_miss_budget_slots", MissBudget::k_slots);
    header(out, "shortlink_miss_budget_clients", "gauge", "Client addresses with misses in the current minute.");
    line(out, "shortlink_miss_budget_clients", table.tracked(now));
    header(out, "shortlink_miss_budget_evictions_total", "counter",
           "Clients of the current minute pushed out of the table by others (its bucket was full).");
    line(out, "shortlink_miss_budget_evictions_total", table.evictions());
    return out;
}

std::string render_geoip_metrics(const GeoIpReport& geoip) {
    std::string out;
    header(out, "shortlink_geoip_build_timestamp_seconds", "gauge",
           "Build time of the GeoIP database being served (its metadata's build_epoch).");
    line(out, "shortlink_geoip_build_timestamp_seconds", geoip.build_epoch);
    header(out, "shortlink_geoip_loaded_timestamp_seconds", "gauge", "When the GeoIP database being served was loaded.");
    line(out, "shortlink_geoip_loaded_timestamp_seconds", static_cast<std::uint64_t>(geoip.loaded_at));
    header(out, "shortlink_geoip_reloads_total", "counter", "New versions of the GeoIP database file published.");
    line(out, "shortlink_geoip_reloads_total", geoip.reloads);
    header(out, "shortlink_geoip_refused_total", "counter",
           "New versions of the GeoIP database file refused (the previous one keeps answering).");
    line(out, "shortlink_geoip_refused_total", geoip.refused);
    return out;
}

}  // namespace shortlink::serve
