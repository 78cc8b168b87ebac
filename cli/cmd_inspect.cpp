// shortlink inspect: the header, sections, counts and index size of a snapshot, or the header and
// entries of a deny overlay. The file is fully checked except for its signature (inspect is for
// looking at files you may not trust yet; `verify` checks the signature).
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/origin_cli.h"
#include "cli/output.h"
#include "cli/snapshot_cli.h"
#include "formats/clock.h"
#include "store/timefmt.h"
#include "formats/bytes.h"
#include "formats/container.h"
#include "formats/origin_index.h"

namespace shortlink::cli {

namespace {

struct InspectOptions {
    std::string file;
    bool json = false;
    bool links = false;
};

std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

double bits_per_key(const formats::Snapshot& s) {
    const auto& p = s.index_params();
    if (p.key_count == 0) {
        return 0.0;
    }
    // The pilots: what a query reads. The fixed 64-byte index header is left out (it is not
    // per key); empty slots are counted in the slot table, not here.
    return static_cast<double>(p.bucket_count) * 8.0 / static_cast<double>(p.key_count);
}

void write_deny_entries(rapidjson::Writer<rapidjson::StringBuffer>& w, const formats::DenySet& deny) {
    w.StartArray();
    deny.for_each([&](formats::DenyKind kind, std::string_view host, std::string_view code) {
        w.StartObject();
        w.Key("kind");
        w.String(std::string(formats::deny_kind_name(kind)).c_str());
        w.Key("host");
        w.String(host.data(), static_cast<rapidjson::SizeType>(host.size()));
        if (kind == formats::DenyKind::link) {
            w.Key("code");
            w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
        }
        w.EndObject();
    });
    w.EndArray();
}

void print_deny_entries(const formats::DenySet& deny) {
    deny.for_each([](formats::DenyKind kind, std::string_view host, std::string_view code) {
        std::printf("  %-11s %s%s%s\n", std::string(formats::deny_kind_name(kind)).c_str(),
                    std::string(host).c_str(), code.empty() ? "" : "/", std::string(code).c_str());
    });
}

void print_json(const formats::Snapshot& s, bool links) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    const auto& p = s.index_params();
    w.StartObject();
    w.Key("file");
    w.String(s.path().c_str());
    w.Key("format_version");
    w.Uint(s.format_version());
    w.Key("serial");
    w.Uint64(s.serial());
    w.Key("kind");
    w.String(s.is_patch() ? "patch" : "snapshot");
    w.Key("base");
    if (s.is_patch()) {
        w.Uint64(s.base_serial());
    } else {
        w.Null();
    }
    w.Key("created_at");
    w.String(timefmt::format_time(s.created_at()).c_str());
    w.Key("not_after");
    if (s.not_after() == 0) {
        w.Null();
    } else {
        w.String(timefmt::format_time(s.not_after()).c_str());
    }
    w.Key("key_id");
    w.String(std::string(s.key_id()).c_str());
    w.Key("digest");
    w.String(s.digest_hex().c_str());
    w.Key("signature_checked");
    w.Bool(false);
    w.Key("hash_function");
    w.String("slhash128-v1");
    w.Key("hash_seed");
    w.String(hex64(s.hash_seed()).c_str());
    w.Key("link_count");
    w.Uint64(s.link_count());
    w.Key("domain_count");
    w.Uint(s.domain_count());
    w.Key("bytes");
    w.Uint64(s.file_size());
    w.Key("slot_count");
    w.Uint64(p.slot_count);
    w.Key("bucket_count");
    w.Uint64(p.bucket_count);
    w.Key("bits_per_key");
    w.Double(bits_per_key(s));
    w.Key("sections");
    w.StartArray();
    for (const auto& sec : s.sections()) {
        w.StartObject();
        w.Key("type");
        w.Uint(sec.type);
        w.Key("name");
        w.String(std::string(sec.name).c_str());
        w.Key("offset");
        w.Uint64(sec.offset);
        w.Key("length");
        w.Uint64(sec.length);
        w.Key("checksum");
        w.String(hex64(sec.checksum).c_str());
        w.EndObject();
    }
    w.EndArray();
    w.Key("domains");
    w.StartArray();
    for (std::uint32_t i = 0; i < s.domain_count(); ++i) {
        const formats::DomainView d = s.domain(i);
        const std::string domain = domain_json(domain_record(d), s.is_patch() ? std::optional<bool>(d.complete)
                                                                             : std::nullopt);
        w.RawValue(domain.c_str(), domain.size(), rapidjson::kObjectType);
    }
    w.EndArray();
    if (links) {
        const std::int64_t now = clock::unix_seconds();
        w.Key("links");
        w.StartArray();
        check(s.for_each_link([&](const formats::LinkView& l) {
            const std::string link = link_json(link_fields(s, l, now));
            w.RawValue(link.c_str(), link.size(), rapidjson::kObjectType);
        }));
        w.EndArray();
    }
    w.Key("deny");
    write_deny_entries(w, s.deny());
    w.EndObject();
    std::cout << buf.GetString() << "\n";
}

void print_human(const formats::Snapshot& s, bool links) {
    const auto& p = s.index_params();
    std::printf("file          %s\n", s.path().c_str());
    std::printf("format        version %u, hash slhash128-v1, seed %s\n", s.format_version(),
                hex64(s.hash_seed()).c_str());
    std::printf("serial        %llu\n", static_cast<unsigned long long>(s.serial()));
    if (s.is_patch()) {
        std::printf("patch of      serial %llu (the links changed since it; domains marked complete "
                    "hold all of theirs)\n",
                    static_cast<unsigned long long>(s.base_serial()));
    }
    std::printf("created       %s\n", timefmt::format_time(s.created_at()).c_str());
    std::printf("not after     %s\n",
                s.not_after() == 0 ? "none" : timefmt::format_time(s.not_after()).c_str());
    std::printf("key id        %s (signature not checked; use verify)\n",
                std::string(s.key_id()).c_str());
    std::printf("digest        %s (what the signature signs)\n", s.digest_hex().c_str());
    std::printf("links         %llu in %u domains\n",
                static_cast<unsigned long long>(s.link_count()), s.domain_count());
    std::printf("size          %llu bytes (%s)", static_cast<unsigned long long>(s.file_size()),
                human_bytes(s.file_size()).c_str());
    if (s.link_count() > 0) {
        std::printf(", %.1f bytes/link", static_cast<double>(s.file_size()) /
                                             static_cast<double>(s.link_count()));
    }
    std::printf("\nindex         %llu slots, %llu buckets, %.2f bits/key\n",
                static_cast<unsigned long long>(p.slot_count),
                static_cast<unsigned long long>(p.bucket_count), bits_per_key(s));
    std::printf("sections\n  %-3s %-8s %12s %12s  %s\n", "#", "name", "offset", "length",
                "checksum");
    for (const auto& sec : s.sections()) {
        std::printf("  %-3u %-8s %12llu %12llu  %s\n", sec.type, std::string(sec.name).c_str(),
                    static_cast<unsigned long long>(sec.offset),
                    static_cast<unsigned long long>(sec.length), hex64(sec.checksum).c_str());
    }
    if (s.domain_count() > 0) {
        std::printf("domains\n");
    }
    for (std::uint32_t i = 0; i < s.domain_count(); ++i) {
        const formats::DomainView d = s.domain(i);
        const std::string hsts = d.hsts_max_age_s == 0
                                     ? std::string()
                                     : ", hsts " + std::to_string(d.hsts_max_age_s) +
                                           (d.hsts_include_subdomains ? " includeSubDomains" : "");
        std::printf("  %s%s%s: %u, max-age %u/%u, %s, %s query%s%s%s%s\n", std::string(d.host).c_str(),
                    d.is_default ? " (default)" : "", d.complete ? " (complete)" : "",
                    d.default_redirect, d.cache_max_age_s,
                    d.negative_max_age_s, d.case_insensitive ? "case-insensitive" : "case-sensitive",
                    d.forward_query ? "forwards" : "drops", d.https_redirect ? ", https redirect" : "",
                    hsts.c_str(), d.root_url.empty() ? "" : ", root ", std::string(d.root_url).c_str());
        // Section 8, when the domain's policy is not the default a file without it means.
        std::string policy;
        const auto add = [&](const std::string& part) { policy += (policy.empty() ? "" : ", ") + part; };
        if (d.permanent_max_age_s != formats::format::k_no_permanent_cap) {
            add("permanent max-age " + std::to_string(d.permanent_max_age_s));
        }
        if (d.stale_while_revalidate_s != 0) {
            add("stale-while-revalidate " + std::to_string(d.stale_while_revalidate_s));
        }
        if (d.stale_if_error_s != 0) {
            add("stale-if-error " + std::to_string(d.stale_if_error_s));
        }
        if (d.cache_scope != formats::format::k_cache_scope_none) {
            add(d.cache_scope == formats::format::k_cache_scope_public ? "public" : "private");
        }
        if (d.miss_budget != 0) {
            add("miss budget " + std::to_string(d.miss_budget) + "/min");
        }
        if (!d.country_header.empty()) {
            add("country from " + std::string(d.country_header));
        }
        if (!d.not_found_url.empty()) {
            add("not found -> " + std::string(d.not_found_url));
        }
        if (!d.expired_url.empty()) {
            add("expired -> " + std::string(d.expired_url));
        }
        if (!d.not_found_text.empty() || !d.gone_text.empty()) {
            add("own 404/410 texts");
        }
        if (!policy.empty()) {
            std::printf("    policy: %s\n", policy.c_str());
        }
    }
    if (!s.deny().empty()) {
        std::printf("deny set      %s\n", deny_summary(s.deny()).c_str());
        print_deny_entries(s.deny());
    }
    if (links) {
        const std::int64_t now = clock::unix_seconds();
        OutputSink out(stdout);
        std::ostringstream table;
        print_link_table_header(table);
        out.raw(table.str());
        check(s.for_each_link([&](const formats::LinkView& l) {
            std::ostringstream row;
            print_link_table_row(row, link_fields(s, l, now));
            if (!l.rules.empty()) {
                l.rules.for_each([&](std::size_t i, const formats::RuleView& r) {
                    row << "    rule " << (i + 1) << ": if";
                    r.all_conditions([&](const formats::RuleConditionView& c) {
                        row << ' ' << formats::condition_text(c);
                        return true;
                    });
                    row << " -> " << r.destination;
                    if (r.redirect_type != 0) {
                        row << " (" << r.redirect_type << ')';
                    }
                    row << '\n';
                    return true;
                });
            }
            out.raw(row.str());
        }));
        out.flush();
    }
}

void inspect_overlay(const InspectOptions& opt) {
    const auto overlay = open_overlay(opt.file, {}, false);
    const formats::Container& f = overlay->file();
    if (opt.json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("file");
        w.String(f.path().c_str());
        w.Key("kind");
        w.String("deny overlay");
        w.Key("format_version");
        w.Uint(f.version());
        w.Key("serial");
        w.Uint64(f.serial());
        w.Key("created_at");
        w.String(timefmt::format_time(f.created_at()).c_str());
        w.Key("key_id");
        w.String(f.key_id().c_str());
        w.Key("digest");
        w.String(f.digest_hex().c_str());
        w.Key("bytes");
        w.Uint64(f.size());
        w.Key("entries");
        write_deny_entries(w, overlay->deny());
        w.EndObject();
        std::cout << buf.GetString() << "\n";
        return;
    }
    std::printf("file          %s\n", f.path().c_str());
    std::printf("kind          deny overlay, format version %u\n", f.version());
    std::printf("serial        %llu\n", static_cast<unsigned long long>(f.serial()));
    std::printf("created       %s\n", timefmt::format_time(f.created_at()).c_str());
    std::printf("key id        %s (signature not checked; use verify)\n", f.key_id().c_str());
    std::printf("digest        %s (what the signature signs)\n", f.digest_hex().c_str());
    std::printf("size          %llu bytes (%s)\n", static_cast<unsigned long long>(f.size()),
                human_bytes(f.size()).c_str());
    std::printf("deny set      %s\n", deny_summary(overlay->deny()).c_str());
    print_deny_entries(overlay->deny());
}

void inspect_index(const InspectOptions& opt) {
    const formats::OriginIndex index = unwrap(formats::OriginIndex::open(opt.file, {}, false));
    const formats::OriginIndex::Contents& c = index.contents();
    const bool expired = c.expires_at <= clock::unix_seconds();
    if (opt.json) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("file");
        w.String(opt.file.c_str());
        w.Key("kind");
        w.String("origin index");
        w.Key("channel");
        w.String(c.channel.c_str());
        w.Key("serial");
        w.Uint64(c.serial);
        w.Key("created_at");
        w.String(timefmt::format_time(c.created_at).c_str());
        w.Key("expires_at");
        w.String(timefmt::format_time(c.expires_at).c_str());
        w.Key("expired");
        w.Bool(expired);
        w.Key("key_id");
        w.String(index.key_id().c_str());
        w.Key("bytes");
        w.Uint64(index.bytes());
        w.Key("files");
        write_indexed_files(w, c.files());
        w.EndObject();
        std::cout << buf.GetString() << "\n";
        return;
    }
    std::printf("file          %s\n", opt.file.c_str());
    std::printf("kind          origin index, channel %s\n", c.channel.c_str());
    std::printf("serial        %llu\n", static_cast<unsigned long long>(c.serial));
    std::printf("created       %s\n", timefmt::format_time(c.created_at).c_str());
    std::printf("expires       %s%s\n", timefmt::format_time(c.expires_at).c_str(), expired ? " (expired)" : "");
    std::printf("key id        %s (signature not checked; use verify)\n", index.key_id().c_str());
    std::printf("files\n");
    for (const formats::IndexedFile& f : c.files()) {
        std::printf("  %-40s %12llu bytes  sha256 %s\n", f.name().c_str(), static_cast<unsigned long long>(f.size),
                    formats::bytes::hex_encode(f.sha256.data(), f.sha256.size()).c_str());
        if (f.zstd_size != 0) {
            std::printf("  %-40s %12llu bytes  sha256 %s\n", f.zstd_name().c_str(),
                        static_cast<unsigned long long>(f.zstd_size),
                        formats::bytes::hex_encode(f.zstd_sha256.data(), f.zstd_sha256.size()).c_str());
        }
    }
}

void run_inspect(const InspectOptions& opt) {
    const formats::format::FileKind kind = unwrap(formats::peek_file_kind(opt.file));
    if (kind == formats::format::FileKind::deny) {
        inspect_overlay(opt);
        return;
    }
    if (kind == formats::format::FileKind::index) {
        inspect_index(opt);
        return;
    }
    const auto snap = open_snapshot(opt.file, {}, false);
    if (opt.json) {
        print_json(*snap, opt.links);
    } else {
        print_human(*snap, opt.links);
    }
}

}  // namespace

void setup_inspect(CLI::App& app, const GlobalOptions& /*globals*/) {
    auto opt = std::make_shared<InspectOptions>();
    CLI::App* sub = add_command(app, "inspect");
    sub->add_option("FILE", opt->file, "Snapshot, patch, deny overlay or origin index file")
        ->required();
    sub->add_flag("--json", opt->json, "One JSON object instead of text");
    sub->add_flag("--links", opt->links, "Also every link of a snapshot or patch, as list prints them");
    sub->callback([opt]() { run_inspect(*opt); });
}

}  // namespace shortlink::cli
