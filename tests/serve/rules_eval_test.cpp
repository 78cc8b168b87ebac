// Rule evaluation (serve/rules_eval.h): the device classes of real User-Agent strings (with
// and without Client Hints), Accept-Language preference with q-values, each condition kind on
// its own and in lists encoded by the real encoder (formats/rules.h), and the split share's
// stability and spread.
//
// The User-Agent strings are copied as browsers, in-app browsers and robots send them (their
// vendors' documentation and the test fixtures of the open User-Agent parsers).
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "formats/rules.h"
#include "serve/rules_eval.h"

using namespace shortlink;
using namespace shortlink::serve;

namespace {

// The classes of a mask as `rule list` spells them, in k_device_classes order.
std::string class_names(std::uint16_t mask) {
    std::string out;
    for (std::size_t i = 0; i < formats::k_device_classes.size(); ++i) {
        if ((mask & (1u << i)) != 0) {
            out += out.empty() ? "" : ",";
            out += formats::k_device_classes[i];
        }
    }
    return out;
}

std::uint16_t classes_of(std::string_view ua, std::string_view ch_mobile = {}, std::string_view ch_platform = {}) {
    return device_classes(classify_client(ua, ch_mobile, ch_platform));
}

struct UaCase {
    std::string_view user_agent;
    std::string_view classes;  // what device= conditions hold, k_device_classes order
};

// clang-format off
const UaCase k_user_agents[] = {
    // iPhone: Safari, the other iOS browsers, iPod.
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "ios,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", "ios,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 7_0_4 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Version/7.0 Mobile/11B554a Safari/9537.53", "ios,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", "ios,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15", "ios,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/125.2535.60 Mobile/15E148 Safari/605.1.15", "ios,mobile"},
    {"Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1", "ios,mobile"},
    // iPad: the iPad token, and iPadOS 13+ as a Mac unless an iOS-only browser gives it away.
    {"Mozilla/5.0 (iPad; CPU OS 13_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Mobile/15E148 Safari/604.1", "ipados,tablet"},
    {"Mozilla/5.0 (iPad; CPU OS 12_5_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 EdgiOS/46.3.26 Mobile/15E148 Safari/605.1.15", "ipados,tablet"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Version/17.5 Safari/605.1.15", "ipados,tablet"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "desktop,macos"},
    // Android phones and tablets.
    {"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "android,tablet"},
    {"Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.113 Mobile Safari/537.36", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 14; SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Safari/537.36", "android,tablet"},
    {"Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", "android,mobile"},
    {"Mozilla/5.0 (Android 5.0; Tablet; rv:41.0) Gecko/41.0 Firefox/41.0", "android,tablet"},
    {"Mozilla/5.0 (Linux; Android 8.1.0; ZC554KL) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.104 Mobile Safari/537.36 OPR/67.1.3508.63168", "android,mobile"},
    {"Opera/9.80 (Android; Opera Mini/7.6.35766/35.5706; U; en) Presto/2.8.119 Version/11.10", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 13; 23046RP50C) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 EdgA/114.0.1823.56", "android,tablet"},
    {"Mozilla/5.0 (Linux; Android 8.1.0; Pixel Build/OPM4.171019.021.D1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/65.0.3325.109 Mobile Safari/537.36 EdgA/42.0.0.2057", "android,mobile"},
    {"Mozilla/5.0 (Linux; U; Android 4.2.2; it-it; S222 Build/CUBOT) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 7.0; M bot 54) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.96 Mobile Safari/537.36", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 like Chrome/124.0.6367.179 Safari/537.36", "android,tablet"},
    // Windows Phone says Android too; it is Windows.
    {"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 640 XL LTE) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.79 Mobile Safari/537.36 Edge/14.14393", "mobile,windows"},
    // Desktops.
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "desktop,windows"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0", "desktop,windows"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "desktop,windows"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/98.0.4758.82 Safari/537.36 OPR/84.0.4316.19", "desktop,windows"},
    {"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", "desktop,windows"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "desktop,macos"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0", "desktop,macos"},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "desktop,linux"},
    {"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "desktop,linux"},
    {"Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0", "desktop,linux"},
    {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "desktop,chromeos"},
    // In-app browsers are the device they run on.
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/20G75 Instagram 296.0.0.18.107 (iPhone14,8; iOS 16_6; en_US; en; scale=3.00; 1284x2778; 505423516)", "ios,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/458.0.0.39.108;FBBV/570311493;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/571736567]", "ios,mobile"},
    {"Mozilla/5.0 (iPad; CPU OS 7_0 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Mobile/11A465 [FBAN/FBIOS;FBAV/8.0.0.28.18;FBBV/1665515;FBDV/iPad2,3;FBMD/iPad;FBSN/iPhone OS;FBSV/7.0;FBSS/1; FBCR/Verizon;FBID/tablet;FBLC/de_DE;FBOP/1]", "ipados,tablet"},
    {"Mozilla/5.0 (Linux; Android 5.1; A33w Build/LMY47I; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/80.0.3987.162 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/264.0.0.44.111;]", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 5.1; FTJ152B Build/LMY47D; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/51.0.2704.81 Mobile Safari/537.36 Line/6.4.1", "android,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 11_2_6 like Mac OS X) AppleWebKit/604.5.6 (KHTML, like Gecko) Snapchat/10.38.0.25 (iPhone8,1; iOS 11.2.6; gzip)", "ios,mobile"},
    {"Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.146 Mobile Safari/537.36 musical_ly_2023405020 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/34.5.2 ByteLocale/en ByteFullLocale/en Region/US", "android,mobile"},
    {"Mozilla/5.0 (Linux; Android 12; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.5481.153 Mobile Safari/537.36 LinkedInApp/9.29.6890", "android,mobile"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Twitter for iPhone/10.20", "ios,mobile"},
    {"Mozilla/5.0 (Linux; Android 11; Redmi Note 8 Pro Build/RP1A.200720.011; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/103.0.5060.129 Mobile Safari/537.36 MicroMessenger/8.0.25.2200(0x28001953) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64", "android,mobile"},
    // Robots keep the operating system they claim, with no form factor.
    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ""},
    {"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "android"},
    {"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", ""},
    {"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", ""},
    {"Twitterbot/1.0", ""},
    {"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", ""},
    {"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", ""},
    {"WhatsApp/2.23.20.0", ""},
    {"TelegramBot (like TwitterBot)", ""},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_1) AppleWebKit/600.2.5 (KHTML, like Gecko) Version/8.0.2 Safari/600.2.5 (Applebot/0.1; +http://www.apple.com/go/applebot)", "macos"},
    {"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", ""},
    {"curl/8.5.0", ""},
    {"python-requests/2.31.0", ""},
    {"Wget/1.21.4", ""},
    {"Go-http-client/1.1", ""},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.6478.126 Safari/537.36", "linux"},
    // TVs and consoles: no form factor a rule knows.
    {"Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 (KHTML, like Gecko) Version/6.0 TV Safari/538.1", ""},
    {"Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)", ""},
    // Nothing to go on.
    {"", ""},
    {"   ", ""},
    {"Mozilla/5.0", ""},
};
// clang-format on

TEST_CASE("device classes of real User-Agent strings", "[rules_eval]") {
    STATIC_REQUIRE(std::size(k_user_agents) >= 60);
    for (const UaCase& c : k_user_agents) {
        INFO(c.user_agent);
        CHECK(class_names(classes_of(c.user_agent)) == c.classes);
    }
}

TEST_CASE("Client Hints settle a frozen Chromium User-Agent", "[rules_eval]") {
    // Chrome's reduced User-Agent on Android is "Android 10; K" whatever the version; the
    // platform hint names the real system and the mobile hint the form factor.
    const std::string_view android_tablet =
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    CHECK(class_names(classes_of(android_tablet, "?1", "\"Android\"")) == "android,mobile");
    CHECK(class_names(classes_of(android_tablet, "?0", "\"Android\"")) == "android,tablet");
    const std::string_view windows =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    CHECK(class_names(classes_of(windows, "?0", "\"Linux\"")) == "desktop,linux");
    CHECK(class_names(classes_of(windows, "?0", "\"Chrome OS\"")) == "desktop,chromeos");
    CHECK(class_names(classes_of(windows, "?0", "\"macOS\"")) == "desktop,macos");
    // A hint that does not parse is ignored.
    CHECK(class_names(classes_of(windows, "maybe", "\"Unknown\"")) == "desktop,windows");
    // A phone asking for the desktop site sends ?0: a tablet here, still Android.
    const std::string_view phone =
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
    CHECK(class_names(classes_of(phone, "?0", "\"Android\"")) == "android,tablet");
}

std::string tag_text(const LanguageTag& t) {
    return t.reg().empty() ? std::string(t.lang()) : std::string(t.lang()) + "-" + std::string(t.reg());
}

TEST_CASE("preferred language honours q-values", "[rules_eval]") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr-CH"},
        {"en-US,en;q=0.9", "en-US"},
        {"de;q=0.5, fr", "fr"},
        {"de;q=0.5, fr;q=0.5", "de"},            // equal: the first
        {"da, en-gb;q=0.8, en;q=0.7", "da"},
        {"en;q=0.1, es-419;q=0.2", "es-419"},
        {"*;q=1, nl;q=0.3", "nl"},               // '*' names no language
        {"fr;q=0, it;q=0.001", "it"},            // q=0: not acceptable
        {"fr;q=0", ""},
        {"zh-Hant-TW, en;q=0.5", "zh-TW"},       // a script before the region
        {"sr-Latn, en;q=0.5", "sr"},
        {"EN-us", "en-US"},
        {"  pt-BR  ;  q=0.8 , pt;q=0.7", "pt-BR"},
        {"de-DE-1996", "de-DE"},
        {"en;q=1.0, fr;q=1.000", "en"},
        {"en;q=1.5, fr;q=0.4", "fr"},            // malformed q-value: the entry is passed over
        {"en;q=0.1234, fr;q=0.4", "fr"},
        {"en;q=, fr;q=0.4", "fr"},
        {"en;level=1, fr;q=0.4", "fr"},          // no other parameter is defined
        {"x-klingon, de;q=0.2", "de"},           // a 1-letter primary subtag is not a language
        {"12, de;q=0.2", "de"},
        {"e\xc3\xa9, de;q=0.2", "de"},
        {"en_US, de;q=0.2", "de"},
        {"", ""},
        {",,, ;q=0.5,", ""},
        {"i-default", ""},
        {"toolongtag-US", ""},
        {"es-ES;q=0.9, es-419", "es-419"},
    };
    for (const auto& [header, want] : cases) {
        INFO(header);
        CHECK(tag_text(preferred_language(header)) == want);
    }
}

TEST_CASE("hostile header values give no language, no country and no device", "[rules_eval]") {
    // What a client may send within the header limits: long, empty, binary, unterminated.
    const std::string commas(8000, ',');
    const std::string semis = "fr" + std::string(8000, ';');
    std::string many;
    for (int i = 0; i < 1000; ++i) {
        many += "x-" + std::to_string(i) + ";q=0.9,";
    }
    many += "it;q=0.001";
    const std::string nul("fr\0CH", 5);
    const std::string long_tag = "en-" + std::string(5000, 'a');
    CHECK(tag_text(preferred_language(commas)).empty());
    CHECK(tag_text(preferred_language(semis)) == "fr");  // empty parameters are ignored
    CHECK(tag_text(preferred_language(many)) == "it");
    CHECK(tag_text(preferred_language(nul)).empty());
    CHECK(tag_text(preferred_language(long_tag)).empty());
    CHECK(tag_text(preferred_language("fr;q=0.5;q=0.9")) == "fr");  // the last q-value read
    CHECK(tag_text(preferred_language("fr;Q=0.5, de;q=0.4")) == "fr");
    CHECK(tag_text(preferred_language("fr;q=-1, de;q=0.4")) == "de");
    CHECK(tag_text(preferred_language("fr;q=0.5x, de;q=0.4")) == "de");
    CHECK(tag_text(preferred_language("abcdefgh-XY")) == "abcdefgh-XY");  // the longest primary subtag
    CHECK(tag_text(preferred_language("abcdefghi-XY")).empty());
    CHECK(tag_text(preferred_language("en--US")).empty());
    CHECK(tag_text(preferred_language("en-")).empty());
    CHECK_FALSE(country_matches(std::string("B\0", 2), "BE"));
    CHECK_FALSE(country_matches(std::string(4000, 'B'), "BE"));
    CHECK(class_names(classes_of(std::string(8000, 'A'))).empty());
    CHECK(class_names(classes_of(std::string("\0\xff\x01iPhone", 9))) == class_names(classes_of("\xff\x01iPhone")));
    CHECK(class_names(classes_of(commas, commas, commas)).empty());
}

TEST_CASE("a language condition matches the language, and the region when it names one", "[rules_eval]") {
    const LanguageTag fr_ch = preferred_language("fr-CH");
    CHECK(language_matches(fr_ch, "fr"));
    CHECK(language_matches(fr_ch, "fr-CH"));
    CHECK_FALSE(language_matches(fr_ch, "fr-FR"));
    CHECK_FALSE(language_matches(fr_ch, "en"));
    const LanguageTag en = preferred_language("en");
    CHECK(language_matches(en, "en"));
    CHECK_FALSE(language_matches(en, "en-US"));  // the visitor named no region
    CHECK(language_matches(preferred_language("es-419"), "es-419"));
    CHECK_FALSE(language_matches(preferred_language("fra"), "fr"));
    CHECK_FALSE(language_matches(LanguageTag{}, "en"));
}

TEST_CASE("country, address and query conditions", "[rules_eval]") {
    CHECK(country_matches("FR", "FR"));
    CHECK(country_matches(" fr ", "FR"));
    CHECK_FALSE(country_matches("FRA", "FR"));
    CHECK_FALSE(country_matches("XX", "FR"));
    CHECK_FALSE(country_matches("", "FR"));

    std::array<std::uint8_t, 16> v4{};
    v4[10] = v4[11] = 0xff;
    v4[12] = 10;
    v4[13] = 1;
    v4[14] = 2;
    v4[15] = 3;
    const auto net = [](std::array<std::uint8_t, 16> a, std::uint8_t prefix) {
        std::array<std::uint8_t, 17> n{};
        std::copy(a.begin(), a.end(), n.begin());
        n[16] = prefix;
        return n;
    };
    std::array<std::uint8_t, 16> ten = v4;
    ten[13] = ten[14] = ten[15] = 0;
    CHECK(address_in(v4, net(ten, 96 + 8).data()));       // 10.0.0.0/8
    CHECK(address_in(v4, net(v4, 128).data()));           // the address itself
    std::array<std::uint8_t, 16> other = v4;
    other[15] = 4;
    CHECK_FALSE(address_in(v4, net(other, 128).data()));
    std::array<std::uint8_t, 16> half = ten;
    half[13] = 0x00;
    CHECK(address_in(v4, net(half, 96 + 12).data()));      // 10.0.0.0/12 holds 10.1.x.x
    half[13] = 0x10;
    CHECK_FALSE(address_in(v4, net(half, 96 + 12).data()));  // 10.16.0.0/12 does not
    CHECK(address_in(v4, net({}, 0).data()));              // ::/0 holds everything
    std::array<std::uint8_t, 16> doc{0x20, 0x01, 0x0d, 0xb8};
    std::array<std::uint8_t, 16> in_doc = doc;
    in_doc[15] = 1;
    CHECK(address_in(in_doc, net(doc, 32).data()));
    CHECK_FALSE(address_in(v4, net(doc, 32).data()));

    CHECK(query_has("a=1&src=qr&b", "src", false, {}));
    CHECK(query_has("a=1&src=qr&b", "src", true, "qr"));
    CHECK_FALSE(query_has("a=1&src=qr&b", "src", true, "QR"));
    CHECK_FALSE(query_has("a=1&src=qrx", "src", true, "qr"));
    CHECK(query_has("a=1&src=qr&b", "b", false, {}));
    CHECK(query_has("b", "b", true, ""));
    CHECK(query_has("b=", "b", true, ""));
    CHECK_FALSE(query_has("bb=1&xb=2", "b", false, {}));
    CHECK_FALSE(query_has("", "b", false, {}));
    CHECK(query_has("src=a&src=qr", "src", true, "qr"));
    CHECK_FALSE(query_has("src%3Dqr", "src", true, "qr"));  // byte for byte, not decoded
}

TEST_CASE("the split share is stable per visitor and link and spread evenly", "[rules_eval]") {
    ClientInput a;
    a.user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0.0.0";
    a.has_address = true;
    a.address = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    const std::uint8_t share = split_share(a, "go.example.com", "promo");
    CHECK(share < 100);
    CHECK(split_share(a, "go.example.com", "promo") == share);
    // Another link gets an independent share: across many links, not always the same.
    int same = 0;
    for (int i = 0; i < 100; ++i) {
        same += split_share(a, "go.example.com", "promo" + std::to_string(i)) == share ? 1 : 0;
    }
    CHECK(same < 10);

    std::mt19937_64 rng(20261203);
    std::cout << "split spread seed 20261203\n";
    std::array<int, 100> counts{};
    constexpr int k_visitors = 100'000;
    for (int i = 0; i < k_visitors; ++i) {
        ClientInput c;
        const std::string ua = "Mozilla/5.0 visitor " + std::to_string(rng());
        c.user_agent = ua;
        c.has_address = (i % 2) == 0;
        for (auto& b : c.address) {
            b = static_cast<std::uint8_t>(rng());
        }
        ++counts[split_share(c, "*", "promo")];
    }
    for (int n : counts) {
        // 1000 expected per share; 5 standard deviations is about 160.
        CHECK(n > 840);
        CHECK(n < 1160);
    }
    // The address counts: the same User-Agent from two addresses differs somewhere.
    ClientInput b = a;
    int differ = 0;
    for (int i = 0; i < 50; ++i) {
        b.address[15] = static_cast<std::uint8_t>(i);
        differ += split_share(b, "*", "x") != split_share(a, "*", "x") ? 1 : 0;
    }
    CHECK(differ > 40);
}

// A list encoded by the compiler's encoder; the view reads it in place.
struct EncodedList {
    std::string bytes;
    explicit EncodedList(const std::vector<formats::RuleInput>& rules) {
        auto encoded = formats::encode_rule_list(rules);
        REQUIRE(encoded.is_ok());
        bytes = *encoded;
    }
    formats::RuleListView view() const { return formats::RuleListView(reinterpret_cast<const std::uint8_t*>(bytes.data())); }
};

formats::RuleConditionInput device(std::uint16_t mask) {
    formats::RuleConditionInput c;
    c.kind = formats::RuleKind::device;
    c.device_mask = mask;
    return c;
}
formats::RuleConditionInput values(formats::RuleKind kind, std::vector<std::string> v) {
    formats::RuleConditionInput c;
    c.kind = kind;
    c.values = std::move(v);
    return c;
}
formats::RuleConditionInput at(formats::RuleKind kind, std::int64_t t) {
    formats::RuleConditionInput c;
    c.kind = kind;
    c.time = t;
    return c;
}
formats::RuleConditionInput split(std::uint8_t from, std::uint8_t to) {
    formats::RuleConditionInput c;
    c.kind = formats::RuleKind::split;
    c.split_from = from;
    c.split_to = to;
    return c;
}
formats::RuleConditionInput query(std::string name, std::optional<std::string> value = std::nullopt) {
    formats::RuleConditionInput c;
    c.kind = formats::RuleKind::query;
    c.query_name = std::move(name);
    c.has_query_value = value.has_value();
    c.query_value = value.value_or("");
    return c;
}
formats::RuleConditionInput network(std::array<std::uint8_t, 17> n) {
    formats::RuleConditionInput c;
    c.kind = formats::RuleKind::ip;
    c.networks.push_back(n);
    return c;
}
formats::RuleInput rule(std::string to, std::vector<formats::RuleConditionInput> conditions, std::uint16_t type = 0) {
    formats::RuleInput r;
    r.destination = std::move(to);
    r.conditions = std::move(conditions);
    r.redirect_type = type;
    return r;
}

constexpr std::uint16_t k_ios_bit = 1u << 0;
constexpr std::uint16_t k_android_bit = 1u << 1;
constexpr std::int64_t k_now = 1'800'000'000;

RuleOutcome run(const EncodedList& list, const ClientInput& client, std::string_view q = {}, std::int64_t now = k_now) {
    RuleContext context;
    context.client = &client;
    context.query = q;
    context.now = now;
    context.domain = "*";
    context.code = "x";
    return evaluate_rules(list.view(), context);
}

const std::string_view k_iphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const std::string_view k_pixel =
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.113 Mobile Safari/537.36";

TEST_CASE("the first rule whose conditions all hold answers", "[rules_eval]") {
    const EncodedList list({rule("https://apple.example/", {device(k_ios_bit)}, 301),
                            rule("https://play.example/", {device(k_android_bit)}),
                            rule("https://fr-android.example/", {device(k_android_bit), values(formats::RuleKind::lang, {"fr"})})});
    ClientInput c;
    c.user_agent = k_iphone;
    RuleOutcome o = run(list, c);
    CHECK(o.matched);
    CHECK(o.index == 0);
    CHECK(o.redirect_type == 301);
    CHECK(o.destination == "https://apple.example/");
    c.user_agent = k_pixel;
    c.accept_language = "fr";
    o = run(list, c);
    CHECK(o.index == 1);  // the second holds before the third is tried
    CHECK(o.redirect_type == 0);
    CHECK(o.destination == "https://play.example/");
    c.user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
    CHECK_FALSE(run(list, c).matched);
    CHECK(run(list, c).changes_at == 0);
}

TEST_CASE("every condition must hold", "[rules_eval]") {
    const EncodedList list({rule("https://both.example/", {values(formats::RuleKind::lang, {"de", "fr-CA"}),
                                                           values(formats::RuleKind::country, {"CA", "FR"})})});
    ClientInput c;
    c.accept_language = "fr-CA,en;q=0.5";
    CHECK_FALSE(run(list, c).matched);  // no country known
    c.country = "ca";
    CHECK(run(list, c).matched);
    c.accept_language = "fr-FR";
    CHECK_FALSE(run(list, c).matched);
    c.accept_language = "de-AT";
    CHECK(run(list, c).matched);
    c.country = "BE";
    CHECK_FALSE(run(list, c).matched);
}

TEST_CASE("ip conditions need the client's address", "[rules_eval]") {
    std::array<std::uint8_t, 17> ten{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 104};
    const EncodedList list({rule("https://inside.example/", {network(ten)})});
    ClientInput c;
    CHECK_FALSE(run(list, c).matched);
    c.has_address = true;
    c.address = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 20, 30, 40};
    CHECK(run(list, c).matched);
    c.address[12] = 11;
    CHECK_FALSE(run(list, c).matched);
}

TEST_CASE("query conditions read the request's query", "[rules_eval]") {
    const EncodedList list({rule("https://qr.example/", {query("src", "qr")}), rule("https://any.example/", {query("promo")})});
    const ClientInput c;
    CHECK(run(list, c, "a=1&src=qr").index == 0);
    CHECK(run(list, c, "promo&src=sms").index == 1);
    CHECK_FALSE(run(list, c, "src=sms").matched);
    CHECK_FALSE(run(list, c, "").matched);
}

TEST_CASE("time windows hold between after and before, and say when the answer changes", "[rules_eval]") {
    const EncodedList list({rule("https://sale.example/", {at(formats::RuleKind::after, k_now + 100), at(formats::RuleKind::before, k_now + 200)}),
                            rule("https://early.example/", {at(formats::RuleKind::before, k_now + 50)})});
    const ClientInput c;
    RuleOutcome o = run(list, c, {}, k_now);
    CHECK(o.index == 1);
    CHECK(o.changes_at == k_now + 50);
    o = run(list, c, {}, k_now + 50);
    CHECK_FALSE(o.matched);
    CHECK(o.changes_at == k_now + 100);
    o = run(list, c, {}, k_now + 100);
    CHECK(o.index == 0);
    CHECK(o.changes_at == k_now + 200);  // the second rule is never reached
    o = run(list, c, {}, k_now + 200);
    CHECK_FALSE(o.matched);
    CHECK(o.changes_at == 0);
}

TEST_CASE("splits divide visitors by their share", "[rules_eval]") {
    const EncodedList list({rule("https://a.example/", {split(0, 30)}), rule("https://b.example/", {split(30, 100)})});
    int a = 0;
    for (int i = 0; i < 2000; ++i) {
        ClientInput c;
        const std::string ua = "agent " + std::to_string(i);
        c.user_agent = ua;
        const RuleOutcome o = run(list, c);
        REQUIRE(o.matched);
        CHECK(o.index == (split_share(c, "*", "x") < 30 ? 0 : 1));
        a += o.index == 0 ? 1 : 0;
    }
    CHECK(a > 600 - 60);
    CHECK(a < 600 + 60);
}

}  // namespace

// A country source that answers from a fixed table and counts how often it is asked.
class CountingCountries final : public CountrySource {
public:
    mutable int asked = 0;
    bool country_of(const std::array<std::uint8_t, 16>& address, std::array<char, 2>& code) const override {
        ++asked;
        if (address[12] == 192) {
            code = {'F', 'R'};
            return true;
        }
        return false;
    }
};

TEST_CASE("a country from the address is looked up once, only without the trusted header", "[rules_eval]") {
    const EncodedList list({rule("https://fr.example/", {values(formats::RuleKind::country, {"FR"})}),
                            rule("https://fr-or-de.example/", {values(formats::RuleKind::country, {"DE", "FR"})})});
    CountingCountries countries;
    ClientInput c;
    c.country_source = &countries;
    CHECK_FALSE(run(list, c).matched);  // no address: nothing to look up
    CHECK(countries.asked == 0);
    c.has_address = true;
    c.address = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    RuleOutcome o = run(list, c);
    CHECK(o.matched);
    CHECK(o.index == 0);
    CHECK(countries.asked == 1);
    c.address[12] = 10;  // unknown to the source: neither rule holds, and one lookup for both
    countries.asked = 0;
    CHECK_FALSE(run(list, c).matched);
    CHECK(countries.asked == 1);
    c.country = "DE";  // the trusted header wins over the database
    countries.asked = 0;
    o = run(list, c);
    CHECK(o.index == 1);
    CHECK(countries.asked == 0);
    const EncodedList no_country({rule("https://q.example/", {query("x")})});
    c.country = {};
    CHECK_FALSE(run(no_country, c).matched);
    CHECK(countries.asked == 0);  // a list that reads no country never asks
}
