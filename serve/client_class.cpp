#include "serve/client_class.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "serve/request_target.h"

namespace shortlink::serve {

namespace {

using formats::clicks::Bot;
using formats::clicks::Browser;
using formats::clicks::Device;
using formats::clicks::Os;

// What one token of a User-Agent says. A User-Agent holds several (Chrome's names AppleWebKit,
// Chrome and Safari, Edge's adds Edg), so the scan collects them as bits and os_of(),
// device_of() and browser_of() weigh them.
enum class Fact : std::uint8_t {
    none,
    windows,
    windows_phone,
    macintosh,
    mac_os_x,  // also in every iPhone's "like Mac OS X"
    iphone,    // iPhone or iPod
    ipad,
    android,
    linux_os,
    chromeos,
    other_os,
    mobile,
    tablet,
    tv,
    tizen,  // Samsung's TVs, and its watches and phones, which say "Mobile"
    console,
    webkit,
    edge,
    opera,
    samsung,
    other_browser,
    firefox,
    chrome,
    safari,
    version,  // Safari's "Version/": without it "Safari" is only a compatibility token
    in_app,
    webview,      // Android System WebView: an app, or a browser built on the WebView
    ios_browser,  // a browser that exists only on iOS
    library,
};

constexpr std::uint64_t bit(Fact f) {
    return std::uint64_t{1} << static_cast<unsigned>(f);
}

// A token: lowercase text matched without regard to case at the start of a word (after a byte
// that is not a letter or digit), so "chrome/" does not match inside "HeadlessChrome/". `whole`:
// the match must also end a word ("cros" is not "Cross"). `bot` is the verdict the token gives
// by itself; a `weak` verdict counts only when no other token gives one.
struct Token {
    std::string_view text;
    Fact fact = Fact::none;
    Bot bot = Bot::person;
    bool whole = false;
    bool weak = false;
};

constexpr Token fact(std::string_view text, Fact f, bool whole = false) {
    return {text, f, Bot::person, whole, false};
}
constexpr Token verdict(std::string_view text, Bot b) {
    return {text, Fact::none, b, false, false};
}
constexpr Token library(std::string_view text, bool whole = false) {
    return {text, Fact::library, Bot::library, whole, false};
}
constexpr Token weak_verdict(std::string_view text, Bot b) {
    return {text, Fact::none, b, false, true};
}

// Bot names come from the agents' own documentation pages and the User-Agent strings they are
// seen sending; the test table (tests/serve/client_class_test.cpp) holds real strings of each
// kind.
//
// Mail scanners: most gateways cannot be told by User-Agent. Microsoft Defender Safe Links
// fetches links from Microsoft's networks with an ordinary Windows Chrome User-Agent, or with
// none (no_user_agent), as reports of consumed one-time links show. Proofpoint URL Defense,
// Mimecast URL Protect, Barracuda Email Security Service, Cisco Secure Email (IronPort), Symantec
// (Broadcom), Trend Micro and Sophos publish no User-Agent of their own, and their vendors and
// the mail senders who meet them tell administrators to recognise them by sender allow-lists or
// network ranges instead. What does name itself is Microsoft Office checking a link before it
// opens a browser (ms-office, "Microsoft Office Word 2014", "Microsoft Office Existence
// Discovery"), Outlook's own fetches and Barracuda Sentinel. The rest shows as a person from a
// datacenter network and is left to Bot::repeat and to a network block list.
constexpr Token k_tokens[] = {
    // Platforms and device kinds.
    fact("windows", Fact::windows),
    fact("windows phone", Fact::windows_phone),
    fact("macintosh", Fact::macintosh),
    fact("mac os x", Fact::mac_os_x),
    fact("iphone", Fact::iphone),
    fact("ipod", Fact::iphone),
    fact("ipad", Fact::ipad),
    fact("android", Fact::android),
    fact("linux", Fact::linux_os),
    fact("cros", Fact::chromeos, true),
    fact("freebsd", Fact::other_os),
    fact("openbsd", Fact::other_os),
    fact("netbsd", Fact::other_os),
    fact("sunos", Fact::other_os),
    fact("fuchsia", Fact::other_os),
    fact("kaios", Fact::other_os),
    fact("blackberry", Fact::other_os),
    fact("bb10", Fact::other_os),
    fact("webos", Fact::other_os),  // Palm's; LG's TVs spell it Web0S
    fact("mobile", Fact::mobile),
    fact("opera mini", Fact::mobile),
    fact("opera mobi", Fact::mobile),
    fact("tablet", Fact::tablet),  // Firefox on Android tablets; Windows' "Tablet PC" is ignored
    fact("smart-tv", Fact::tv),
    fact("smarttv", Fact::tv),
    fact("hbbtv", Fact::tv),
    fact("web0s", Fact::tv),
    fact("roku", Fact::tv),
    fact("crkey", Fact::tv),  // Chromecast
    fact("appletv", Fact::tv),
    fact("apple tv", Fact::tv),
    fact("android tv", Fact::tv),
    fact("googletv", Fact::tv),
    fact("google tv", Fact::tv),
    fact("viera", Fact::tv),
    fact("netcast", Fact::tv),
    fact("bravia", Fact::tv),
    fact("vidaa", Fact::tv),
    fact("tv safari", Fact::tv),
    fact("nettv", Fact::tv),
    fact("opera tv", Fact::tv),
    fact("tizen", Fact::tizen),
    fact("playstation", Fact::console),
    fact("xbox", Fact::console),
    fact("nintendo", Fact::console),
    fact("applewebkit", Fact::webkit),

    // Browsers. Edge, Opera, Samsung Internet and the other Chromium browsers also say "Chrome/".
    fact("edg/", Fact::edge),
    fact("edga/", Fact::edge),
    fact("edgios/", Fact::edge),
    fact("edge/", Fact::edge),
    fact("opr/", Fact::opera),
    fact("opios/", Fact::opera),
    fact("opt/", Fact::opera),
    fact("opx/", Fact::opera),  // Opera GX
    fact("opera", Fact::opera),
    fact("samsungbrowser/", Fact::samsung),
    // Besides these, any "...Browser/" (YaBrowser, UCBrowser, MiuiBrowser): check_word().
    fact("vivaldi/", Fact::other_browser),
    fact("ucweb", Fact::other_browser),
    fact("silk/", Fact::other_browser),
    fact("whale/", Fact::other_browser),
    fact("duckduckgo/", Fact::other_browser),
    fact("ecosia", Fact::other_browser),
    fact("msie", Fact::other_browser),
    fact("trident/", Fact::other_browser),
    fact("seamonkey/", Fact::other_browser),
    fact("palemoon/", Fact::other_browser),
    fact("waterfox/", Fact::other_browser),
    fact("puffin/", Fact::other_browser),
    fact("maxthon", Fact::other_browser),
    fact("coc_coc_browser", Fact::other_browser),
    fact("electron/", Fact::other_browser),
    fact("qtwebengine/", Fact::other_browser),
    fact("firefox/", Fact::firefox),
    fact("fxios/", Fact::firefox),
    fact("chrome/", Fact::chrome),
    fact("crios/", Fact::chrome),
    fact("chromium/", Fact::chrome),
    fact("headlesschrome/", Fact::chrome),
    fact("safari/", Fact::safari),
    fact("version/", Fact::version),
    fact("crios/", Fact::ios_browser),
    fact("fxios/", Fact::ios_browser),
    fact("edgios/", Fact::ios_browser),
    fact("opios/", Fact::ios_browser),

    // In-app browsers: a social or messaging app's own web view.
    fact("fban/", Fact::in_app),
    fact("fbav/", Fact::in_app),
    fact("fb_iab", Fact::in_app),
    fact("fbios", Fact::in_app),
    fact("instagram", Fact::in_app),
    fact("line/", Fact::in_app),
    fact("snapchat", Fact::in_app),
    fact("musical_ly", Fact::in_app),  // TikTok
    fact("bytedancewebview", Fact::in_app),
    fact("micromessenger", Fact::in_app),  // WeChat
    fact("linkedinapp", Fact::in_app),
    fact("gsa/", Fact::in_app),  // the Google app
    fact("twitterandroid", Fact::in_app),
    fact("pinterest/", Fact::in_app),
    fact("kakaotalk", Fact::in_app),
    fact("naver(inapp", Fact::in_app),
    fact("wv)", Fact::webview),  // "Build/...; wv)"

    // HTTP libraries and automation: Bot::library.
    library("curl", true),
    library("libcurl"),
    library("pycurl"),
    library("wget"),
    library("python-requests"),
    library("python-urllib"),
    library("python-httpx"),
    library("python/"),
    library("aiohttp"),
    library("go-http-client"),
    library("okhttp"),
    library("java/"),
    library("apache-httpclient"),
    library("jakarta commons-httpclient"),
    library("node-fetch"),
    library("axios/"),
    library("undici"),
    library("libwww-perl"),
    library("postmanruntime"),
    library("httpie"),
    library("guzzlehttp"),
    library("faraday"),
    library("http.rb"),
    library("dalvik/"),     // Android's HttpURLConnection
    library("cfnetwork/"),  // an iOS or macOS app's URLSession
    library("windowspowershell"),
    library("phantomjs"),
    library("apachebench"),
    library("ahc/"),  // Java's AsyncHttpClient
    library("request-promise"),
    verdict("headlesschrome", Bot::library),  // Puppeteer, Playwright: still Browser::chrome

    // Search, SEO and AI crawlers.
    verdict("googlebot", Bot::crawler),
    verdict("google-", Bot::crawler),  // Google-InspectionTool, Google-Extended, Google-AMPHTML...
    verdict("duplexweb-google", Bot::crawler),
    verdict("google favicon", Bot::crawler),
    verdict("google search console", Bot::crawler),
    verdict("googleother", Bot::crawler),
    verdict("storebot-google", Bot::crawler),
    verdict("adsbot-google", Bot::crawler),
    verdict("mediapartners-google", Bot::crawler),
    verdict("feedfetcher-google", Bot::crawler),
    verdict("apis-google", Bot::crawler),
    verdict("bingbot", Bot::crawler),
    verdict("msnbot", Bot::crawler),
    verdict("adidxbot", Bot::crawler),
    verdict("yandexbot", Bot::crawler),
    verdict("baiduspider", Bot::crawler),
    verdict("duckduckbot", Bot::crawler),
    verdict("applebot", Bot::crawler),
    verdict("ahrefsbot", Bot::crawler),
    verdict("ahrefssiteaudit", Bot::crawler),
    verdict("semrushbot", Bot::crawler),
    verdict("mj12bot", Bot::crawler),
    verdict("petalbot", Bot::crawler),
    verdict("gptbot", Bot::crawler),
    verdict("chatgpt-user", Bot::crawler),
    verdict("oai-searchbot", Bot::crawler),
    verdict("claudebot", Bot::crawler),
    verdict("claude-user", Bot::crawler),
    verdict("claude-searchbot", Bot::crawler),
    verdict("claude-web", Bot::crawler),
    verdict("anthropic-ai", Bot::crawler),
    verdict("ccbot", Bot::crawler),
    verdict("bytespider", Bot::crawler),
    verdict("amazonbot", Bot::crawler),
    verdict("perplexitybot", Bot::crawler),
    verdict("perplexity-user", Bot::crawler),
    verdict("meta-externalagent", Bot::crawler),
    verdict("meta-externalfetcher", Bot::crawler),
    verdict("slurp", Bot::crawler),
    verdict("seznambot", Bot::crawler),
    verdict("exabot", Bot::crawler),
    verdict("ia_archiver", Bot::crawler),
    verdict("archive.org_bot", Bot::crawler),
    verdict("dotbot", Bot::crawler),
    verdict("rogerbot", Bot::crawler),
    verdict("blexbot", Bot::crawler),
    verdict("dataforseobot", Bot::crawler),
    verdict("screaming frog", Bot::crawler),
    verdict("sitebulb", Bot::crawler),
    verdict("serpstatbot", Bot::crawler),
    verdict("barkrowler", Bot::crawler),
    verdict("linespider", Bot::crawler),
    verdict("qwantify", Bot::crawler),
    verdict("yeti/", Bot::crawler),  // Naver
    verdict("mail.ru_bot", Bot::crawler),
    verdict("coccocbot", Bot::crawler),
    verdict("scrapy", Bot::crawler),
    verdict("nutch", Bot::crawler),
    verdict("heritrix", Bot::crawler),
    verdict("cloudflare-alwaysonline", Bot::crawler),
    verdict("netcraft", Bot::crawler),
    verdict("siteimprove", Bot::crawler),
    verdict("datanyze", Bot::crawler),

    // Link previews for chats and social networks. Google-PageRenderer (a shared link's snippet)
    // and Google-Read-Aloud (a page read out on request) fetch a page to show it somewhere else,
    // never to open it in a browser, so they are unfurlers too. Signal fetches previews as
    // "WhatsApp", iMessage as "facebookexternalhit ... Twitterbot".
    verdict("facebookexternal", Bot::unfurler),  // facebookexternalhit, facebookexternalua
    verdict("facebot", Bot::unfurler),
    verdict("slackbot", Bot::unfurler),
    verdict("slack-imgproxy", Bot::unfurler),
    verdict("twitterbot", Bot::unfurler),
    verdict("whatsapp", Bot::unfurler),
    verdict("discordbot", Bot::unfurler),
    verdict("linkedinbot", Bot::unfurler),
    verdict("telegrambot", Bot::unfurler),
    verdict("skypeuripreview", Bot::unfurler),
    verdict("iframely", Bot::unfurler),
    verdict("redditbot", Bot::unfurler),
    verdict("pinterestbot", Bot::unfurler),
    verdict("pinterest.com/bot", Bot::unfurler),
    verdict("embedly", Bot::unfurler),
    verdict("vkshare", Bot::unfurler),
    verdict("snap url preview", Bot::unfurler),
    verdict("snapurlpreview", Bot::unfurler),
    verdict("google-pagerenderer", Bot::unfurler),
    verdict("google web preview", Bot::unfurler),
    verdict("google-read-aloud", Bot::unfurler),
    verdict("yahoo link preview", Bot::unfurler),
    verdict("bingpreview", Bot::unfurler),
    verdict("microsoftpreview", Bot::unfurler),
    verdict("mastodon/", Bot::unfurler),
    verdict("flipboardproxy", Bot::unfurler),
    verdict("bitlybot", Bot::unfurler),
    verdict("keybasebot", Bot::unfurler),
    verdict("mattermost-bot", Bot::unfurler),

    // Uptime and synthetic monitoring.
    verdict("uptimerobot", Bot::monitor),
    verdict("pingdom", Bot::monitor),
    verdict("pingbot", Bot::monitor),
    verdict("statuscake", Bot::monitor),
    verdict("site24x7", Bot::monitor),
    verdict("better uptime", Bot::monitor),
    verdict("betteruptime", Bot::monitor),
    verdict("datadog", Bot::monitor),
    verdict("newrelic", Bot::monitor),
    verdict("ruxitsynthetic", Bot::monitor),
    verdict("checkly", Bot::monitor),
    verdict("chrome-lighthouse", Bot::monitor),
    verdict("gtmetrix", Bot::monitor),
    verdict("uptime-kuma", Bot::monitor),
    verdict("uptimebot", Bot::monitor),
    verdict("freshpingbot", Bot::monitor),
    verdict("hetrixtools", Bot::monitor),
    verdict("googlestackdrivermonitoring", Bot::monitor),
    verdict("check_http", Bot::monitor),
    verdict("nagios", Bot::monitor),
    verdict("zabbix", Bot::monitor),
    verdict("prtg", Bot::monitor),
    verdict("sentryuptimebot", Bot::monitor),
    verdict("catchpoint", Bot::monitor),
    verdict("onlineornot", Bot::monitor),
    verdict("montastic", Bot::monitor),
    verdict("google page speed", Bot::monitor),
    verdict("ptst/", Bot::monitor),  // WebPageTest
    verdict("elb-healthchecker", Bot::monitor),
    verdict("blackbox exporter", Bot::monitor),
    verdict("nodeping", Bot::monitor),
    verdict("websitepulse", Bot::monitor),
    verdict("w3c_validator", Bot::monitor),
    verdict("w3c-checklink", Bot::monitor),

    // Mail clients and gateways checking a link (see above for those that cannot be seen).
    verdict("ms-office", Bot::mail_scanner),
    verdict("microsoft office", Bot::mail_scanner),
    verdict("microsoft outlook", Bot::mail_scanner),
    verdict("macoutlook", Bot::mail_scanner),
    verdict("outlook-", Bot::mail_scanner),  // Outlook-iOS/, Outlook-Android/, Outlook-Express/
    verdict("barracuda", Bot::mail_scanner),
    // Webmail image proxies: fetching for a reader who opened a message, not for a click.
    verdict("googleimageproxy", Bot::mail_scanner),
    verdict("yahoomailproxy", Bot::mail_scanner),
    verdict("seznamemailproxy", Bot::mail_scanner),

    // A URL in a User-Agent ("+http://example.com/bot.html") is a robot's signature: no browser
    // sends one (feed readers and podcast apps do, and are no people clicking either). Weak: a
    // named agent above says which kind.
    weak_verdict("http:", Bot::crawler),
    weak_verdict("https:", Bot::crawler),
};

constexpr std::size_t k_token_count = std::size(k_tokens);

// Which verdict wins when a User-Agent names several (LinkedInBot says it runs on
// Apache-HttpClient; iMessage's preview names two unfurlers): the more specific purpose.
constexpr int rank(Bot b) {
    switch (b) {
        case Bot::mail_scanner:
            return 6;
        case Bot::monitor:
            return 5;
        case Bot::unfurler:
            return 4;
        case Bot::crawler:
            return 3;
        case Bot::library:
            return 2;
        default:
            return 0;
    }
}

// Tokens are bucketed by the class of their first two bytes: letters (either case), digits,
// and everything else, so a word start costs one table read and a compare or two.
constexpr std::size_t k_classes = 37;

constexpr std::uint8_t char_class(unsigned char c) {
    if (c >= 'a' && c <= 'z') {
        return static_cast<std::uint8_t>(c - 'a');
    }
    if (c >= 'A' && c <= 'Z') {
        return static_cast<std::uint8_t>(c - 'A');
    }
    if (c >= '0' && c <= '9') {
        return static_cast<std::uint8_t>(26 + (c - '0'));
    }
    return 36;
}

constexpr auto k_class = [] {
    std::array<std::uint8_t, 256> t{};
    for (unsigned c = 0; c < 256; ++c) {
        t[c] = char_class(static_cast<unsigned char>(c));
    }
    return t;
}();

constexpr auto k_lower = [] {
    std::array<unsigned char, 256> t{};
    for (unsigned c = 0; c < 256; ++c) {
        t[c] = static_cast<unsigned char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    return t;
}();

constexpr bool is_alnum(unsigned char c) {
    return k_class[c] < 36;
}

constexpr std::size_t bucket_of(unsigned char c0, unsigned char c1) {
    return k_class[c0] * k_classes + k_class[c1];
}

// A token's first eight bytes as a little-endian word, and the mask of the bytes it has: one
// compare against eight lowercased bytes of the User-Agent rejects or accepts a candidate, and
// only a longer token has more bytes to compare.
struct Probe {
    std::uint64_t prefix = 0;
    std::uint64_t mask = 0;
    std::uint16_t token = 0;
};

struct TokenIndex {
    std::array<std::uint16_t, k_classes * k_classes + 1> begin{};
    std::array<Probe, k_token_count> probes{};  // in bucket order
};

constexpr std::size_t bucket_of(const Token& t) {
    return bucket_of(static_cast<unsigned char>(t.text[0]), static_cast<unsigned char>(t.text[1]));
}

constexpr TokenIndex build_index() {
    TokenIndex index;
    for (const Token& t : k_tokens) {
        ++index.begin[bucket_of(t) + 1];
    }
    for (std::size_t b = 1; b < index.begin.size(); ++b) {
        index.begin[b] = static_cast<std::uint16_t>(index.begin[b] + index.begin[b - 1]);
    }
    std::array<std::uint16_t, k_classes * k_classes> next{};
    for (std::size_t b = 0; b < next.size(); ++b) {
        next[b] = index.begin[b];
    }
    for (std::size_t i = 0; i < k_token_count; ++i) {
        const Token& t = k_tokens[i];
        Probe& probe = index.probes[next[bucket_of(t)]++];
        probe.token = static_cast<std::uint16_t>(i);
        for (std::size_t k = 0; k < t.text.size() && k < 8; ++k) {
            probe.prefix |= std::uint64_t{static_cast<unsigned char>(t.text[k])} << (8 * k);
            probe.mask |= std::uint64_t{0xff} << (8 * k);
        }
    }
    return index;
}

constexpr TokenIndex k_index = build_index();
static_assert(std::endian::native == std::endian::little, "Probe prefixes are little-endian");

// Eight bytes at a time (SWAR): the bytes of a word are lanes, and a lane's top bit says whether
// its byte is in a range. Only ASCII lanes are tested (the top bit cleared first, so no lane
// carries into the next) and bytes above 0x7f are in no range.
constexpr std::uint64_t k_lanes = 0x0101010101010101;
constexpr std::uint64_t k_top = 0x8080808080808080;

constexpr std::uint64_t lanes_of(unsigned char b) {
    return k_lanes * b;
}

// Lanes of `ascii` (top bits clear) holding a byte from lo to hi: the top bit of each.
constexpr std::uint64_t in_range(std::uint64_t ascii, unsigned char lo, unsigned char hi) {
    return (ascii + lanes_of(static_cast<unsigned char>(0x80 - lo))) &
           ~(ascii + lanes_of(static_cast<unsigned char>(0x7f - hi))) & k_top;
}

// The bytes of a User-Agent from `start`, eight or fewer (zero bytes past its end).
std::uint64_t load_word(const unsigned char* p, std::size_t n, std::size_t start) {
    std::uint64_t w = 0;
    if (n - start >= 8) {
        std::memcpy(&w, p + start, 8);
    } else {
        for (std::size_t k = 0; start + k < n; ++k) {
            w |= std::uint64_t{p[start + k]} << (8 * k);
        }
    }
    return w;
}

// `w` with its ASCII capitals lowercased.
constexpr std::uint64_t lowercase(std::uint64_t w) {
    const std::uint64_t upper = in_range(w & ~k_top, 'A', 'Z') & ~w;
    return w | (upper >> 2);
}

// One bit per byte of `w`, in byte order: set for an ASCII letter or digit.
constexpr std::uint64_t alnum_bits(std::uint64_t w) {
    const std::uint64_t ascii = w & ~k_top;
    const std::uint64_t lanes =
        (in_range(ascii, '0', '9') | in_range(ascii | lanes_of(0x20), 'a', 'z')) & ~w;
    return ((lanes >> 7) * 0x0102040810204080) >> 56;
}

static_assert(lowercase(0x2f5a41617a7b4060) == 0x2f7a61617a7b4060);
static_assert(alnum_bits(0xff2f39305a41617a) == 0x3f);
static_assert(alnum_bits(0x7b602f3a5b404040) == 0);

// Every token must be reachable: lowercase (the scan lowercases the User-Agent, never the
// token), at least two bytes, starting a word.
constexpr bool tokens_are_well_formed() {
    for (const Token& t : k_tokens) {
        if (t.text.size() < 2 || !is_alnum(static_cast<unsigned char>(t.text[0]))) {
            return false;
        }
        for (char c : t.text) {
            if (c >= 'A' && c <= 'Z') {
                return false;
            }
        }
        if (t.fact == Fact::none && t.bot == Bot::person) {
            return false;
        }
    }
    return k_token_count < 65536 && static_cast<unsigned>(Fact::library) < 64;
}
static_assert(tokens_are_well_formed());

struct Scan {
    std::uint64_t facts = 0;
    Bot bot = Bot::person;
    int bot_rank = 0;  // 1: a weak verdict; rank(bot) otherwise

    bool has(Fact f) const { return (facts & bit(f)) != 0; }
    void give(Bot b, int r) {
        if (r > bot_rank) {
            bot = b;
            bot_rank = r;
        }
    }
};

bool ends_with_lower(const unsigned char* word, std::size_t size, std::string_view suffix) {
    if (size < suffix.size()) {
        return false;
    }
    const unsigned char* tail = word + size - suffix.size();
    for (std::size_t i = 0; i < suffix.size(); ++i) {
        if (k_lower[tail[i]] != static_cast<unsigned char>(suffix[i])) {
            return false;
        }
    }
    return true;
}

// Words that name a kind rather than a product. One ending in "bot", "spider" or "crawler" and
// standing as a product name ("FooBot/1.0", "FooBot;", "FooBot-Mobile", "FooBot (") is an
// unnamed robot; elsewhere such words are device models: the phones "CUBOT J9", "M bot 54",
// "XBot Junior" and the tablet "Spider 8" say "Android 7.0; M bot 54)", with a space after the
// word. One ending in "browser" and followed by '/' is a browser without a token of its own
// (YaBrowser/, UCBrowser/, MiuiBrowser/, HuaweiBrowser/).
void check_word(const unsigned char* p, std::size_t n, std::size_t start, std::size_t end,
                Scan& scan) {
    const unsigned char* word = p + start;
    const std::size_t size = end - start;
    const unsigned char last = k_lower[word[size - 1]];
    if (last == 'r' && end < n && p[end] == '/' && ends_with_lower(word, size, "browser")) {
        scan.facts |= bit(Fact::other_browser);
        return;
    }
    if (last != 't' && last != 'r') {
        return;
    }
    if (!ends_with_lower(word, size, "bot") && !ends_with_lower(word, size, "spider") &&
        !ends_with_lower(word, size, "crawler")) {
        return;
    }
    if (size == 5 && ends_with_lower(word, size, "cubot")) {
        return;  // the phone maker, which also ends Android builds ("Build/CUBOT)")
    }
    const bool product = end == n || p[end] == '/' || p[end] == ';' || p[end] == ')' ||
                         p[end] == '(' || p[end] == ',' || p[end] == '-' ||
                         (p[end] == ' ' && end + 1 < n && p[end + 1] == '(');
    if (product) {
        scan.give(Bot::crawler, 1);
    }
}

// A contact address ("help@moz.com") is a robot's signature too. Ecosia's "android@88.0" and a
// locale's "th-TH@calendar=gregorian" are not addresses.
void check_address(const unsigned char* p, std::size_t n, std::size_t at, Scan& scan) {
    if (at == 0 || !is_alnum(p[at - 1]) || at + 1 >= n || k_class[p[at + 1]] >= 26) {
        return;
    }
    std::size_t i = at + 1;
    while (i < n && (is_alnum(p[i]) || p[i] == '-')) {
        ++i;
    }
    if (i + 1 < n && p[i] == '.' && k_class[p[i + 1]] < 26) {
        scan.give(Bot::crawler, 1);
    }
}

void match_tokens(const unsigned char* p, std::size_t n, std::size_t start, Scan& scan) {
    const unsigned char second = start + 1 < n ? p[start + 1] : 0;
    const std::size_t bucket = bucket_of(p[start], second);
    const std::size_t first = k_index.begin[bucket];
    const std::size_t last = k_index.begin[bucket + 1];
    if (first == last) {
        return;
    }
    const std::uint64_t word = lowercase(load_word(p, n, start));
    for (std::size_t k = first; k < last; ++k) {
        const Probe& probe = k_index.probes[k];
        if ((word & probe.mask) != probe.prefix) {
            continue;
        }
        const Token& t = k_tokens[probe.token];
        const std::size_t size = t.text.size();
        if (size > 8) {
            if (n - start < size) {
                continue;
            }
            std::size_t i = 8;
            while (i < size && k_lower[p[start + i]] == static_cast<unsigned char>(t.text[i])) {
                ++i;
            }
            if (i < size) {
                continue;
            }
        }
        if (t.whole && start + size < n && is_alnum(p[start + size])) {
            continue;
        }
        scan.facts |= bit(t.fact);
        if (t.bot != Bot::person) {
            scan.give(t.bot, t.weak ? 1 : rank(t.bot));
        }
    }
}

// Word boundaries are found 64 bytes at a time: a mask of the letters and digits, built eight
// bytes at a time without a branch, gives the starts and ends of words as bits, and the loop
// visits only those (a byte-at-a-time scan mispredicts a branch at most boundaries, of which a
// browser's User-Agent has about fifty).
Scan scan_user_agent(std::string_view ua) {
    Scan scan;
    const auto* p = reinterpret_cast<const unsigned char*>(ua.data());
    const std::size_t n = ua.size();
    if (n == 0) {
        return scan;
    }
    std::size_t start = 0;  // of the word being read
    bool in_word = false;   // the byte before the chunk was a letter or digit
    for (std::size_t base = 0; base < n; base += 64) {
        const std::size_t size = n - base < 64 ? n - base : 64;
        std::uint64_t alnum = 0;
        for (std::size_t k = 0; k < size; k += 8) {
            alnum |= alnum_bits(load_word(p, n, base + k)) << k;
        }
        const std::uint64_t before = (alnum << 1) | std::uint64_t{in_word};
        std::uint64_t edges = alnum ^ before;  // word starts and the bytes that end words
        if (size < 64) {
            edges &= (std::uint64_t{1} << size) - 1;
        }
        while (edges != 0) {
            const std::size_t at = base + static_cast<std::size_t>(std::countr_zero(edges));
            edges &= edges - 1;
            if (is_alnum(p[at])) {
                start = at;
                match_tokens(p, n, start, scan);
            } else {
                check_word(p, n, start, at, scan);
            }
        }
        in_word = (alnum >> (size - 1)) & 1;
    }
    if (in_word) {
        check_word(p, n, start, n, scan);
    }
    // A contact address is rare enough to look for apart.
    for (const void* at = std::memchr(p, '@', n); at != nullptr;) {
        const std::size_t i = static_cast<std::size_t>(static_cast<const unsigned char*>(at) - p);
        check_address(p, n, i, scan);
        at = i + 1 < n ? std::memchr(p + i + 1, '@', n - i - 1) : nullptr;
    }
    scan.facts &= ~bit(Fact::none);
    return scan;
}

bool iequals_ascii(std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (k_lower[static_cast<unsigned char>(a[i])] != static_cast<unsigned char>(lower[i])) {
            return false;
        }
    }
    return true;
}

std::string_view trim_ows(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

// Sec-CH-UA-Platform is a structured-field string ("\"Android\""); a bare value is accepted too.
// Values from the Client Hints specification; anything else, "Unknown" included, says nothing.
bool platform_hint(std::string_view value, Os& os) {
    value = trim_ows(value);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
    }
    if (iequals_ascii(value, "android")) {
        os = Os::android;
    } else if (iequals_ascii(value, "windows")) {
        os = Os::windows;
    } else if (iequals_ascii(value, "macos")) {
        os = Os::macos;
    } else if (iequals_ascii(value, "linux")) {
        os = Os::linux;
    } else if (iequals_ascii(value, "chrome os") || iequals_ascii(value, "chromium os")) {
        os = Os::chromeos;
    } else if (iequals_ascii(value, "ios")) {
        os = Os::ios;
    } else if (iequals_ascii(value, "fuchsia")) {
        os = Os::other;
    } else {
        return false;
    }
    return true;
}

// Sec-CH-UA-Mobile is a structured-field boolean: ?1 or ?0.
bool mobile_hint(std::string_view value, bool& mobile) {
    value = trim_ows(value);
    if (value == "?1") {
        mobile = true;
    } else if (value == "?0") {
        mobile = false;
    } else {
        return false;
    }
    return true;
}

Os os_of(const Scan& s) {
    if (s.has(Fact::console) || s.has(Fact::tizen)) {
        return Os::other;  // an Xbox says "Windows NT", a Tizen phone "like Android"
    }
    if (s.has(Fact::windows_phone)) {
        return Os::windows;  // Windows 10 Mobile also says "Android"
    }
    if (s.has(Fact::android)) {
        return Os::android;
    }
    if (s.has(Fact::tv)) {
        return Os::other;  // an Apple TV says "iPhone OS", webOS and Chromecast "Linux"
    }
    if (s.has(Fact::ipad)) {
        return Os::ipados;  // before iPhone: Firefox on an iPad says "iPad; CPU iPhone OS"
    }
    if (s.has(Fact::iphone)) {
        return Os::ios;
    }
    if (s.has(Fact::macintosh) && s.has(Fact::ios_browser)) {
        return Os::ipados;
    }
    if (s.has(Fact::chromeos)) {
        return Os::chromeos;
    }
    if (s.has(Fact::windows)) {
        return Os::windows;
    }
    if (s.has(Fact::macintosh) || s.has(Fact::mac_os_x)) {
        return Os::macos;
    }
    if (s.has(Fact::other_os)) {
        return Os::other;
    }
    if (s.has(Fact::linux_os)) {
        return Os::linux;
    }
    return Os::unknown;
}

Device device_of(const Scan& s, Os os, bool mobile) {
    if (s.has(Fact::console)) {
        return Device::console;
    }
    if (s.has(Fact::tv) || (s.has(Fact::tizen) && !s.has(Fact::mobile))) {
        return Device::tv;
    }
    switch (os) {
        case Os::ios:
            return Device::mobile;
        case Os::ipados:
            return Device::tablet;
        case Os::android:
            return mobile ? Device::mobile : Device::tablet;
        case Os::windows:
        case Os::macos:
        case Os::linux:
        case Os::chromeos:
            return mobile ? Device::mobile : Device::desktop;
        default:
            if (mobile) {
                return Device::mobile;
            }
            return s.has(Fact::tablet) ? Device::tablet : Device::unknown;
    }
}

Browser browser_of(const Scan& s) {
    // A robot named after an app ("Pinterest/0.2 (+http://www.pinterest.com/bot.html)", "Snap URL
    // Preview Service; bot; snapchat") is not that app's browser.
    const bool person = s.bot == Bot::person;
    if (s.has(Fact::in_app) && person) {
        return Browser::in_app;
    }
    if (s.has(Fact::edge)) {
        return Browser::edge;
    }
    if (s.has(Fact::opera)) {
        return Browser::opera;
    }
    if (s.has(Fact::samsung)) {
        return Browser::samsung;
    }
    if (s.has(Fact::other_browser)) {
        return Browser::other;
    }
    if (s.has(Fact::webview) && person) {
        return Browser::in_app;
    }
    if (s.has(Fact::firefox)) {
        return Browser::firefox;
    }
    if (s.has(Fact::chrome)) {
        return Browser::chrome;
    }
    const bool apple = s.has(Fact::iphone) || s.has(Fact::ipad) || s.has(Fact::macintosh);
    if (s.has(Fact::safari)) {
        return apple && s.has(Fact::version) ? Browser::safari : Browser::other;
    }
    // An iOS app's WKWebView sends Safari's User-Agent without "Safari/" (and Version/).
    if ((s.has(Fact::iphone) || s.has(Fact::ipad)) && s.has(Fact::webkit) && person) {
        return Browser::in_app;
    }
    if (s.has(Fact::library)) {
        return Browser::library;
    }
    return Browser::unknown;
}

bool is_blank(std::string_view v) {
    return trim_ows(v).empty();
}

enum class Purpose : std::uint8_t { none, preview, prefetch };

Purpose purpose_of(std::string_view value) {
    Purpose found = Purpose::none;
    std::size_t i = 0;
    while (i < value.size()) {
        const auto c = static_cast<unsigned char>(value[i]);
        if (!is_alnum(c) && c != '-' && c != '_') {
            ++i;
            continue;
        }
        const std::size_t start = i;
        while (i < value.size() && (is_alnum(static_cast<unsigned char>(value[i])) ||
                                    value[i] == '-' || value[i] == '_')) {
            ++i;
        }
        const std::string_view token = value.substr(start, i - start);
        if (iequals_ascii(token, "prefetch") || iequals_ascii(token, "prerender")) {
            return Purpose::prefetch;
        }
        if (iequals_ascii(token, "preview")) {
            found = Purpose::preview;
        }
    }
    return found;
}

bool is_scheme_byte(char c) {
    return is_alnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// The size of the host of an authority that is a plain name (letters, digits, '-' and '.')
// with an optional port (':' and digits), or npos for any other authority. Such an authority is
// what nearly every Referer holds, and it needs no URI grammar: it is valid as it stands, so
// lowercasing it and dropping the port and one trailing dot gives what normalize_host() gives
// (the test compares the two), for a tenth of Boost.URL's time.
std::size_t plain_host_size(std::string_view authority) {
    std::size_t i = 0;
    while (i < authority.size() && (is_alnum(static_cast<unsigned char>(authority[i])) ||
                                    authority[i] == '-' || authority[i] == '.')) {
        ++i;
    }
    const std::size_t host = i;
    if (i < authority.size()) {
        if (authority[i] != ':') {
            return std::string_view::npos;
        }
        for (++i; i < authority.size(); ++i) {
            if (authority[i] < '0' || authority[i] > '9') {
                return std::string_view::npos;
            }
        }
    }
    return host;
}

}  // namespace

ClientClass classify_client(std::string_view user_agent, std::string_view ch_mobile,
                            std::string_view ch_platform) {
    ClientClass out;
    const Scan scan = scan_user_agent(user_agent);
    out.os = os_of(scan);
    platform_hint(ch_platform, out.os);
    bool mobile = scan.has(Fact::mobile) || scan.has(Fact::iphone) || scan.has(Fact::windows_phone);
    mobile_hint(ch_mobile, mobile);
    if (is_blank(user_agent)) {
        out.bot = Bot::no_user_agent;
    } else {
        out.bot = scan.bot;
        out.browser = browser_of(scan);
    }
    out.device = out.bot == Bot::person ? device_of(scan, out.os, mobile) : Device::bot;
    return out;
}

Bot classify_purpose(std::string_view sec_purpose, std::string_view purpose) {
    const Purpose a = purpose_of(sec_purpose);
    const Purpose b = purpose_of(purpose);
    const Purpose p = a > b ? a : b;
    switch (p) {
        case Purpose::prefetch:
            return Bot::prefetch;
        case Purpose::preview:
            return Bot::preview;
        default:
            return Bot::person;
    }
}

std::size_t referrer_host(std::string_view referer, char* out) {
    // scheme "://" authority: RFC 3986's scheme grammar, then an authority up to the path,
    // query or fragment.
    std::size_t i = 0;
    if (referer.empty() || k_class[static_cast<unsigned char>(referer[0])] >= 26) {
        return 0;
    }
    while (i < referer.size() && is_scheme_byte(referer[i])) {
        ++i;
    }
    if (referer.substr(i, 3) != "://") {
        return 0;
    }
    std::string_view authority = referer.substr(i + 3);
    // WHATWG URL parsers end the authority of http and https at '\\' as well.
    authority = authority.substr(0, authority.find_first_of("/?#\\"));
    const std::size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
        authority.remove_prefix(at + 1);
    }
    if (authority.empty()) {
        return 0;
    }
    std::string_view host;
    std::array<char, k_max_host_bytes> buffer;
    if (const std::size_t plain = plain_host_size(authority); plain != std::string_view::npos) {
        host = authority.substr(0, plain);
        if (host.size() > 1 && host.back() == '.') {
            host.remove_suffix(1);
        }
    } else if (!normalize_host(authority, buffer, host)) {
        return 0;
    }
    if (host.empty() || host.size() > formats::clicks::k_max_referrer) {
        return 0;
    }
    for (std::size_t k = 0; k < host.size(); ++k) {
        out[k] = static_cast<char>(k_lower[static_cast<unsigned char>(host[k])]);
    }
    return host.size();
}

}  // namespace shortlink::serve
