// gen_clicks: writes click segments of synthetic but realistic events, the same for the same seed,
// with formats::clicks::SegmentWriter (the writer `shortlink serve --clicks` uses). For the stats
// tests (tests/e2e/stats_*.py) and the ingest benchmark (bench/stats/run.py).
//
//   gen_clicks --out DIR --events N [--seed S] [--links L] [--domains D] [--start UNIX_MS]
//              [--days D] [--segment-events M] [--block-events B] [--part] [--truth FILE]
//   gen_clicks --seal PART   seals an orphaned .part as the next server would (seal_orphan)
//
// Events are spread evenly over the days with jitter, in time order. Link popularity is Zipf
// (s = 1.1) over L random codes on D domains; 4% of requests are misses for codes nobody made
// (scanners' paths among them), 1% are for expired links. People come from a pool with a country,
// device, system and browser each (a visitor key is per person and day, as the server's is per
// address, User-Agent and day); 12% of events are bots with a verdict; 8% are QR scans; referrers
// are skewed over a few hosts. With --part the last segment is left unsealed (a .part, as while
// a server writes it). --truth writes every event as a JSON line for tests to count from. Prints
// {"events": N, "segments": K, "bytes": B} on stdout.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "formats/clicks.h"

namespace clicks = shortlink::formats::clicks;

namespace {

struct Options {
    std::string out;
    std::uint64_t events = 10000;
    std::uint64_t seed = 1;
    std::uint32_t links = 1000;
    std::uint32_t domains = 2;
    std::int64_t start_ms = 1764547200000;  // 2025-12-01T00:00:00Z
    std::uint32_t days = 7;
    std::uint64_t segment_events = 100000;
    std::uint32_t block_events = 1000;
    bool part = false;
    std::string truth;
};

// xoshiro256** seeded through splitmix64: fast, and the same sequence on every host.
class Rng {
public:
    explicit Rng(std::uint64_t seed) {
        for (auto& s : m_s) {
            seed += 0x9e3779b97f4a7c15ULL;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            s = z ^ (z >> 31);
        }
    }
    std::uint64_t next() {
        const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
        const std::uint64_t t = m_s[1] << 17;
        m_s[2] ^= m_s[0];
        m_s[3] ^= m_s[1];
        m_s[1] ^= m_s[2];
        m_s[0] ^= m_s[3];
        m_s[2] ^= t;
        m_s[3] = rotl(m_s[3], 45);
        return result;
    }
    std::uint64_t below(std::uint64_t n) { return next() % n; }
    double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::array<std::uint64_t, 4> m_s{};
};

std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

// Picks an index by weight.
class Weighted {
public:
    explicit Weighted(const std::vector<double>& weights) {
        double sum = 0;
        for (double w : weights) {
            sum += w;
            m_cdf.push_back(sum);
        }
        for (double& c : m_cdf) {
            c /= sum;
        }
    }
    std::size_t pick(double u) const {
        return static_cast<std::size_t>(std::lower_bound(m_cdf.begin(), m_cdf.end(), u) - m_cdf.begin());
    }

private:
    std::vector<double> m_cdf;
};

constexpr const char* k_countries[] = {"US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES",
                                       "IT", "PL", "SE", "AU", "MX", "KR", "TR", "CH", "AT", "BE"};
constexpr const char* k_referrers[] = {"t.co", "www.google.com", "news.ycombinator.com", "www.reddit.com",
                                       "www.linkedin.com", "l.facebook.com", "mail.google.com",
                                       "duckduckgo.com", "lobste.rs", "www.bing.com"};
constexpr const char* k_scanner_paths[] = {"wp-login.php", ".env", "admin", "favicon.ico", "robots.txt",
                                           "xmlrpc.php", ".git/config", "phpmyadmin"};

std::string random_code(Rng& rng, std::size_t length) {
    static constexpr char k_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string code;
    for (std::size_t i = 0; i < length; ++i) {
        code.push_back(k_alphabet[rng.below(62)]);
    }
    return code;
}

// The attributes of one person: where they are and what they use. A person is a visitor key a
// day (the server hashes the address and User-Agent with the day's key).
struct Person {
    std::array<char, 2> country{};
    std::uint8_t device = 0;
    std::uint8_t os = 0;
    std::uint8_t browser = 0;
};

Person person_of(std::uint64_t seed, std::uint64_t id, const Weighted& countries) {
    Rng rng(mix(seed ^ mix(id + 1)));
    Person p;
    if (rng.unit() >= 0.03) {
        const char* c = k_countries[countries.pick(rng.unit())];
        p.country = {c[0], c[1]};
    }
    const double d = rng.unit();
    if (d < 0.55) {
        p.device = static_cast<std::uint8_t>(clicks::Device::mobile);
        const bool ios = rng.unit() < 0.45;
        p.os = static_cast<std::uint8_t>(ios ? clicks::Os::ios : clicks::Os::android);
        const double b = rng.unit();
        p.browser = static_cast<std::uint8_t>(b < 0.2 ? clicks::Browser::in_app
                                              : ios   ? clicks::Browser::safari
                                              : b < 0.85 ? clicks::Browser::chrome
                                                         : clicks::Browser::samsung);
    } else if (d < 0.95) {
        p.device = static_cast<std::uint8_t>(clicks::Device::desktop);
        const double o = rng.unit();
        p.os = static_cast<std::uint8_t>(o < 0.6 ? clicks::Os::windows : o < 0.9 ? clicks::Os::macos : clicks::Os::linux);
        const double b = rng.unit();
        p.browser = static_cast<std::uint8_t>(b < 0.65 ? clicks::Browser::chrome
                                              : b < 0.8 ? clicks::Browser::edge
                                              : b < 0.92 ? clicks::Browser::firefox
                                                         : clicks::Browser::safari);
    } else if (d < 0.99) {
        p.device = static_cast<std::uint8_t>(clicks::Device::tablet);
        p.os = static_cast<std::uint8_t>(clicks::Os::ipados);
        p.browser = static_cast<std::uint8_t>(clicks::Browser::safari);
    } else {
        p.device = static_cast<std::uint8_t>(clicks::Device::unknown);
    }
    return p;
}

bool parse_u64(const char* text, std::uint64_t& out) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        return false;
    }
    out = v;
    return true;
}

int usage(const char* why) {
    std::fprintf(stderr,
                 "gen_clicks: %s\nusage: gen_clicks --out DIR --events N [--seed S] [--links L] [--domains D] "
                 "[--start UNIX_MS] [--days D] [--segment-events M] [--block-events B] [--part] [--truth FILE]\n",
                 why);
    return 2;
}

void json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('"');
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--seal") {
        auto sealed = clicks::seal_orphan(argv[2]);
        if (!sealed) {
            std::fprintf(stderr, "gen_clicks: %s\n", sealed.status().message().c_str());
            return 1;
        }
        std::printf("%s\n", sealed->c_str());
        return 0;
    }
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--part") {
            o.part = true;
            continue;
        }
        if (i + 1 >= argc) {
            return usage(("missing value of " + arg).c_str());
        }
        const char* value = argv[++i];
        std::uint64_t n = 0;
        if (arg == "--out") {
            o.out = value;
        } else if (arg == "--truth") {
            o.truth = value;
        } else if (!parse_u64(value, n)) {
            return usage(("not a number: " + arg + " " + value).c_str());
        } else if (arg == "--events") {
            o.events = n;
        } else if (arg == "--seed") {
            o.seed = n;
        } else if (arg == "--links" && n > 0) {
            o.links = static_cast<std::uint32_t>(n);
        } else if (arg == "--domains" && n > 0) {
            o.domains = static_cast<std::uint32_t>(n);
        } else if (arg == "--start") {
            o.start_ms = static_cast<std::int64_t>(n);
        } else if (arg == "--days" && n > 0) {
            o.days = static_cast<std::uint32_t>(n);
        } else if (arg == "--segment-events" && n > 0) {
            o.segment_events = n;
        } else if (arg == "--block-events" && n > 0 && n <= clicks::k_max_block_events) {
            o.block_events = static_cast<std::uint32_t>(n);
        } else {
            return usage(("bad option " + arg).c_str());
        }
    }
    if (o.out.empty()) {
        return usage("--out is required");
    }

    Rng rng(o.seed);
    std::vector<std::string> domains;
    for (std::uint32_t d = 0; d < o.domains; ++d) {
        domains.push_back(d == 0 ? "go.example.com" : "s" + std::to_string(d) + ".example.org");
    }
    struct LinkDef {
        std::uint32_t domain;
        std::string code;
    };
    std::vector<LinkDef> links;
    std::vector<double> popularity;
    for (std::uint32_t l = 0; l < o.links; ++l) {
        links.push_back(LinkDef{static_cast<std::uint32_t>(rng.below(o.domains)), random_code(rng, 7)});
        popularity.push_back(1.0 / std::pow(static_cast<double>(l + 1), 1.1));
    }
    const Weighted link_pick(popularity);
    std::vector<double> country_weights;
    for (std::size_t c = 0; c < std::size(k_countries); ++c) {
        country_weights.push_back(1.0 / static_cast<double>(c + 1));
    }
    const Weighted countries(country_weights);
    std::vector<double> referrer_weights;
    for (std::size_t r = 0; r < std::size(k_referrers); ++r) {
        referrer_weights.push_back(1.0 / static_cast<double>(r + 1));
    }
    const Weighted referrers(referrer_weights);
    // Bot verdicts by share of bot traffic: crawlers and unfurlers lead, then HEAD checks.
    const Weighted bot_pick({0, 0.15, 0.05, 0.05, 0.3, 0.2, 0.08, 0.02, 0.1, 0.03, 0.02});
    const std::uint64_t people = std::max<std::uint64_t>(50, o.events / 4);
    // People are Zipf-ish too: a few return often.
    const auto pick_person = [&](Rng& r) {
        const double u = r.unit();
        return static_cast<std::uint64_t>(static_cast<double>(people) * u * u * u);
    };

    std::unique_ptr<std::ofstream> truth;
    if (!o.truth.empty()) {
        truth = std::make_unique<std::ofstream>(o.truth, std::ios::trunc);
        if (!*truth) {
            std::fprintf(stderr, "gen_clicks: cannot write %s\n", o.truth.c_str());
            return 1;
        }
    }

    const std::int64_t span_ms = static_cast<std::int64_t>(o.days) * 86'400'000;
    const double gap = static_cast<double>(span_ms) / static_cast<double>(std::max<std::uint64_t>(o.events, 1));
    std::unique_ptr<clicks::SegmentWriter> writer;
    std::string block;
    std::uint32_t in_block = 0;
    std::uint64_t in_segment = 0;
    std::uint64_t segments = 0;
    std::uint64_t bytes = 0;
    std::string line;
    std::string miss_code;
    const auto fail = [](const shortlink::Status& st) {
        std::fprintf(stderr, "gen_clicks: %s\n", st.message().c_str());
        return 1;
    };
    const auto close_segment = [&](bool seal) -> shortlink::Status {
        if (!writer) {
            return shortlink::Status::ok();
        }
        if (in_block > 0) {
            if (auto st = writer->append_block(block, in_block); !st) {
                return st;
            }
            block.clear();
            in_block = 0;
        }
        bytes += writer->payload_bytes();
        if (seal) {
            if (auto st = writer->seal(); !st) {
                return st;
            }
        }
        writer.reset();
        in_segment = 0;
        return shortlink::Status::ok();
    };

    for (std::uint64_t i = 0; i < o.events; ++i) {
        clicks::Event e;
        e.time_ms = o.start_ms + static_cast<std::int64_t>((static_cast<double>(i) + rng.unit() * 0.9) * gap);
        if (!writer) {
            auto w = clicks::SegmentWriter::create(o.out, e.time_ms, 0);
            if (!w) {
                return fail(w.status());
            }
            writer = std::move(*w);
            ++segments;
        }
        const std::int64_t day = e.time_ms / 86'400'000;
        const LinkDef& link = links[link_pick.pick(rng.unit())];
        e.domain = domains[link.domain];
        e.code = link.code;
        e.serial = 1000 + static_cast<std::uint64_t>(day % 1000);
        e.method = static_cast<std::uint8_t>(clicks::Method::get);
        e.outcome = static_cast<std::uint8_t>(clicks::Outcome::redirect);
        e.status = 302;
        const double kind = rng.unit();
        if (kind < 0.04) {
            e.outcome = static_cast<std::uint8_t>(clicks::Outcome::miss);
            e.status = 404;
            if (rng.unit() < 0.5) {
                e.code = k_scanner_paths[rng.below(std::size(k_scanner_paths))];
            } else {
                miss_code = random_code(rng, 7);
                e.code = miss_code;
            }
        } else if (kind < 0.05) {
            e.outcome = static_cast<std::uint8_t>(clicks::Outcome::expired);
            e.status = 410;
        }
        const std::uint64_t person_id = pick_person(rng);
        const Person person = person_of(o.seed, person_id, countries);
        e.country = person.country;
        e.device = person.device;
        e.os = person.os;
        e.browser = person.browser;
        e.visitor = mix(o.seed ^ mix(person_id * 1000003 + static_cast<std::uint64_t>(day)) ^ link.domain);
        if (rng.unit() < 0.12) {
            e.bot = static_cast<std::uint8_t>(bot_pick.pick(rng.unit()));
            if (e.bot == static_cast<std::uint8_t>(clicks::Bot::person)) {
                e.bot = static_cast<std::uint8_t>(clicks::Bot::crawler);
            }
            if (e.bot == static_cast<std::uint8_t>(clicks::Bot::head)) {
                e.method = static_cast<std::uint8_t>(clicks::Method::head);
            } else if (e.bot == static_cast<std::uint8_t>(clicks::Bot::crawler) ||
                       e.bot == static_cast<std::uint8_t>(clicks::Bot::unfurler)) {
                e.device = static_cast<std::uint8_t>(clicks::Device::bot);
                e.os = static_cast<std::uint8_t>(clicks::Os::unknown);
                e.browser = static_cast<std::uint8_t>(clicks::Browser::other);
                e.country = {'U', 'S'};
            } else if (e.bot == static_cast<std::uint8_t>(clicks::Bot::library)) {
                e.browser = static_cast<std::uint8_t>(clicks::Browser::library);
            }
        }
        if (rng.unit() < 0.6) {
            e.referrer = k_referrers[referrers.pick(rng.unit())];
        }
        e.flags = static_cast<std::uint8_t>((rng.unit() < 0.08 ? clicks::k_event_qr : 0) |
                                            (rng.unit() < 0.9 ? clicks::k_event_tls : 0));

        clicks::append_event(block, e);
        ++in_block;
        ++in_segment;
        if (truth) {
            line = "{\"time_ms\":" + std::to_string(e.time_ms) + ",\"domain\":";
            json_string(line, e.domain);
            line += ",\"code\":";
            json_string(line, e.code);
            line += ",\"outcome\":" + std::to_string(e.outcome) + ",\"bot\":" + std::to_string(e.bot) +
                    ",\"device\":" + std::to_string(e.device) + ",\"os\":" + std::to_string(e.os) +
                    ",\"browser\":" + std::to_string(e.browser) + ",\"flags\":" + std::to_string(e.flags) +
                    ",\"status\":" + std::to_string(e.status) + ",\"method\":" + std::to_string(e.method) +
                    ",\"serial\":" + std::to_string(e.serial) + ",\"country\":";
            json_string(line, e.country[0] == 0 ? std::string_view() : std::string_view(e.country.data(), 2));
            line += ",\"referrer\":";
            json_string(line, e.referrer);
            line += ",\"visitor\":\"" + std::to_string(e.visitor) + "\"}\n";
            *truth << line;
        }
        if (in_block == o.block_events) {
            if (auto st = writer->append_block(block, in_block); !st) {
                return fail(st);
            }
            block.clear();
            in_block = 0;
        }
        if (in_segment == o.segment_events) {
            if (auto st = close_segment(!(o.part && i + 1 == o.events)); !st) {
                return fail(st);
            }
        }
    }
    if (auto st = close_segment(!o.part); !st) {
        return fail(st);
    }
    if (truth) {
        truth->flush();
        if (!*truth) {
            std::fprintf(stderr, "gen_clicks: cannot write %s\n", o.truth.c_str());
            return 1;
        }
    }
    std::printf("{\"events\": %llu, \"segments\": %llu, \"bytes\": %llu}\n", static_cast<unsigned long long>(o.events),
                static_cast<unsigned long long>(segments), static_cast<unsigned long long>(bytes));
    return 0;
}
