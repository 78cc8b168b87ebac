// The client classifier of click events (serve/client_class.h): real User-Agent strings with
// the class each must get, Client Hints over a frozen User-Agent, purpose headers, and the
// Referer host from hostile values.
//
// The User-Agent strings are copied as sent: browsers' own, the published strings of crawlers,
// link previewers and monitors, and strings collected in the test fixtures of the open
// User-Agent parsers (ua-parser's uap-core, Matomo's device-detector, Crawler-Detect,
// crawler-user-agents).
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "serve/client_class.h"
#include "serve/request_target.h"

using namespace shortlink::serve;
using shortlink::formats::clicks::Bot;
using shortlink::formats::clicks::Browser;
using shortlink::formats::clicks::Device;
using shortlink::formats::clicks::k_max_referrer;
using shortlink::formats::clicks::Os;

namespace {

struct Case {
    std::string_view user_agent;
    Device device;
    Os os;
    Browser browser;
    Bot bot;
};

// clang-format off
const Case k_cases[] = {
    // Safari, and the other browsers, on iPhone and iPad. iPadOS 13 and later send the Mac's
    // User-Agent, so the fifth string is Safari on a Mac and on a current iPad alike; a Mac
    // User-Agent with an iOS-only browser token (CriOS, FxiOS, EdgiOS) is an iPad.
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
     Device::mobile, Os::ios, Browser::safari, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
     Device::mobile, Os::ios, Browser::safari, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 7_0_4 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Version/7.0 Mobile/11B554a Safari/9537.53",
     Device::mobile, Os::ios, Browser::safari, Bot::person},
    {"Mozilla/5.0 (iPad; CPU OS 13_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Mobile/15E148 Safari/604.1",
     Device::tablet, Os::ipados, Browser::safari, Bot::person},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
     Device::desktop, Os::macos, Browser::safari, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 13_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/79.0.3945.73 Mobile/15E148 Safari/604.1",
     Device::mobile, Os::ios, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_5) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/102 Version/11.1.1 Safari/605.1.15",
     Device::tablet, Os::ipados, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 8_3 like Mac OS X) AppleWebKit/600.1.4 (KHTML, like Gecko) FxiOS/1.0 Mobile/12F69 Safari/600.1.4",
     Device::mobile, Os::ios, Browser::firefox, Bot::person},
    {"Mozilla/5.0 (iPad; CPU iPhone OS 8_3 like Mac OS X) AppleWebKit/600.1.4 (KHTML, like Gecko) FxiOS/1.0 Mobile/12F69 Safari/600.1.4",
     Device::tablet, Os::ipados, Browser::firefox, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 12_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.1 EdgiOS/44.5.0.10 Mobile/15E148 Safari/604.1",
     Device::mobile, Os::ios, Browser::edge, Bot::person},
    {"Mozilla/5.0 (iPad; CPU OS 12_5_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 EdgiOS/46.3.26 Mobile/15E148 Safari/605.1.15",
     Device::tablet, Os::ipados, Browser::edge, Bot::person},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) EdgiOS/125 Version/13.0.3 Safari/605.1.15",
     Device::tablet, Os::ipados, Browser::edge, Bot::person},
    // Android: phones say "Mobile", tablets do not (Chrome's reduced User-Agent keeps that bit).
    {"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Mobile Safari/537.36",
     Device::mobile, Os::android, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
     Device::tablet, Os::android, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Linux; Android 8.1.0; Pixel Build/OPM4.171019.021.D1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/65.0.3325.109 Mobile Safari/537.36 EdgA/42.0.0.2057",
     Device::mobile, Os::android, Browser::edge, Bot::person},
    {"Mozilla/5.0 (Linux; Android 13; 23046RP50C) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 EdgA/114.0.1823.56",
     Device::tablet, Os::android, Browser::edge, Bot::person},
    {"Mozilla/5.0 (Linux; Android 8.1.0; ZC554KL) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0.4664.104 Mobile Safari/537.36 OPR/67.1.3508.63168",
     Device::mobile, Os::android, Browser::opera, Bot::person},
    {"Opera/9.80 (Android; Opera Mini/7.6.35766/35.5706; U; en) Presto/2.8.119 Version/11.10",
     Device::mobile, Os::android, Browser::opera, Bot::person},
    {"Mozilla/5.0 (Linux; Android 14; SM-F741B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
     Device::mobile, Os::android, Browser::samsung, Bot::person},
    {"Mozilla/5.0 (Android 5.0; Tablet; rv:41.0) Gecko/41.0 Firefox/41.0",
     Device::tablet, Os::android, Browser::firefox, Bot::person},
    {"Mozilla/5.0 (Android 10; Mobile; rv:122.0) Gecko/122.0 Firefox/122.0",
     Device::mobile, Os::android, Browser::firefox, Bot::person},
    {"Mozilla/5.0 (Linux; Android 16; SM-X210 Build/BP2A.250605.031.A3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/144.0.7559.132 Safari/537.36 OPX/3.1",
     Device::tablet, Os::android, Browser::opera, Bot::person},
    // Windows 10 Mobile also says Android. Device models that contain "bot" and "Spider" are
    // phones and tablets, not robots.
    {"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 640 XL LTE) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.79 Mobile Safari/537.36 Edge/14.14393",
     Device::mobile, Os::windows, Browser::edge, Bot::person},
    {"Mozilla/5.0 (Linux; Android 10; CUBOT J9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.152 Mobile Safari/537.36",
     Device::mobile, Os::android, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Linux; U; Android 4.2.2; it-it; S222 Build/CUBOT) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
     Device::mobile, Os::android, Browser::other, Bot::person},
    {"Mozilla/5.0 (Linux; Android 5.1; S550 Pro Build/LMY47D; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/74.0.3729.157 Mobile Safari/537.36 Instagram 94.0.0.22.116 Android (22/5.1; 320dpi; 720x1280; CUBOT; S550 Pro; hct6735_35gu_l1; mt6735; ru_RU; 155374103)",
     Device::mobile, Os::android, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (Linux; Android 7.0; M bot 54) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.96 Mobile Safari/537.36",
     Device::mobile, Os::android, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Linux; Android 13; Spider 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
     Device::tablet, Os::android, Browser::chrome, Bot::person},
    // Desktops.
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36",
     Device::desktop, Os::windows, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
     Device::desktop, Os::macos, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
     Device::desktop, Os::linux, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (X11; CrOS x86_64 14150.90.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0.4606.126 Safari/537.36",
     Device::desktop, Os::chromeos, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/121.0",
     Device::desktop, Os::windows, Browser::firefox, Bot::person},
    {"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:104.0) Gecko/20100101 Firefox/104.0",
     Device::desktop, Os::linux, Browser::firefox, Bot::person},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
     Device::desktop, Os::macos, Browser::firefox, Bot::person},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
     Device::desktop, Os::windows, Browser::edge, Bot::person},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36 Edg/147.0.0.0 Teams/26106.2110.4675.2592 (50)",
     Device::desktop, Os::macos, Browser::edge, Bot::person},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/98.0.4758.82 Safari/537.36 OPR/84.0.4316.19",
     Device::desktop, Os::windows, Browser::opera, Bot::person},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/29.0 Chrome/136.0.0.0 Safari/537.36",
     Device::desktop, Os::windows, Browser::samsung, Bot::person},
    {"Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko",
     Device::desktop, Os::windows, Browser::other, Bot::person},
    // In-app browsers: named apps, Android WebView ("; wv)"), iOS WebKit without "Safari/".
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/20G75 Instagram 296.0.0.18.107 (iPhone14,8; iOS 16_6; en_US; en; scale=3.00; 1284x2778; 505423516)",
     Device::mobile, Os::ios, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (iPad; CPU OS 7_0 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Mobile/11A465 [FBAN/FBIOS;FBAV/8.0.0.28.18;FBBV/1665515;FBDV/iPad2,3;FBMD/iPad;FBSN/iPhone OS;FBSV/7.0;FBSS/1; FBCR/Verizon;FBID/tablet;FBLC/de_DE;FBOP/1]",
     Device::tablet, Os::ipados, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (Linux; Android 5.1; A33w Build/LMY47I; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/80.0.3987.162 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/264.0.0.44.111;]",
     Device::mobile, Os::android, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 11_0 like Mac OS X) AppleWebKit/604.1.38 (KHTML, like Gecko) Mobile/15A372 Safari Line/7.12.0",
     Device::mobile, Os::ios, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (Linux; Android 5.1; FTJ152B Build/LMY47D; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/51.0.2704.81 Mobile Safari/537.36 Line/6.4.1",
     Device::mobile, Os::android, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 11_2_6 like Mac OS X) AppleWebKit/604.5.6 (KHTML, like Gecko) Snapchat/10.38.0.25 (iPhone8,1; iOS 11.2.6; gzip)",
     Device::mobile, Os::ios, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Mobile/15E148 Safari/604.1 musical_ly_34.3.1 JsSdk/2.0 NetType/4G Channel/App Store ByteLocale/en Region/US isDarkMode/1 WKWebView/1 RevealType/Dialog",
     Device::mobile, Os::ios, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 BytedanceWebview/d8a21c6 trill_34.9.0 JsSdk/2.0 NetType/4G Channel/App Store ByteLocale/en Region/MY FalconTag/31CFA6E0-CAE5-4ECF-A13A-ADFCAFC2428F",
     Device::mobile, Os::ios, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (Linux; Android 10; moto g(7) Build/QP6_S30.52-23-13-4; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/108.0.5359.128 Mobile Safari/537.36 musical_ly_2022704050 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/27.4.5 ByteLocale/en ByteFullLocale/en Region/US Spark/1.2.4-alpha.5 AppVersion/27.4.5 PIA/1.5.10 BytedanceWebview/d8a21c6",
     Device::mobile, Os::android, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (Linux; U; Android 4.0; zh-cn; K-Touch W719 Build/IMM76I) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30 MicroMessenger/4.5.1.261",
     Device::mobile, Os::android, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (Linux; Android 15; SM-A146P Build/AP3A.240905.015.A2; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/140.0.7339.207 Mobile Safari/537.36 [LinkedInApp]/2.200.63",
     Device::mobile, Os::android, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 11_0_2 like Mac OS X) AppleWebKit/604.1.34 (KHTML, like Gecko) GSA/36.0.169645775 Mobile/15A421 Safari/604.1",
     Device::mobile, Os::ios, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
     Device::mobile, Os::ios, Browser::in_app, Bot::person},
    // A browser built on the Android WebView is that browser.
    {"Mozilla/5.0 (Linux; U; Android 11; 2201116SG Build/RKQ1.211001.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/94.0.4606.85 Mobile Safari/537.36 OPR/63.0.2254.61370",
     Device::mobile, Os::android, Browser::opera, Bot::person},
    // TVs and consoles. A Tizen watch says "Mobile" and is no TV.
    {"Mozilla/5.0 (SMART-TV; Linux; Tizen 2.3) AppleWebkit/538.1 (KHTML, like Gecko) SamsungBrowser/1.0 TV Safari/538.1",
     Device::tv, Os::other, Browser::samsung, Bot::person},
    {"Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 Safari/537.36 WebAppManager",
     Device::tv, Os::other, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.225 Safari/537.36 CrKey/1.56.500000 DeviceType/Chromecast",
     Device::tv, Os::other, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (Linux; Android 12.0; Build/STTL.240206.002) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/92.0.4515.0 Safari/537.36 CrKey/1.56.500000 DeviceType/AndroidTV",
     Device::tv, Os::android, Browser::chrome, Bot::person},
    {"Roku/DVP-6.2 (096.02E06005A)",
     Device::tv, Os::other, Browser::unknown, Bot::person},
    {"Mozilla/5.0 (QSP; Roku; AP; 6.2.80.2752)",
     Device::tv, Os::other, Browser::unknown, Bot::person},
    {"AppleCoreMedia/1.0.0.18J383 (Apple TV; U; CPU OS 14_0 like Mac OS X; en_us)",
     Device::tv, Os::other, Browser::unknown, Bot::person},
    {"Mozilla/5.0 (Linux; Android 9; KIVI 4K Android TV Build/PTO6.200910.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/94.0.4606.85 Mobile Safari/537.36",
     Device::tv, Os::android, Browser::in_app, Bot::person},
    {"Mozilla/5.0 (Linux; Tizen 5.5; SAMSUNG SM-R855F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/69.0.3497.106 Mobile Safari/537.36",
     Device::mobile, Os::other, Browser::chrome, Bot::person},
    {"Mozilla/5.0 (PlayStation 4 5.00) AppleWebKit/601.2 (KHTML, like Gecko)",
     Device::console, Os::other, Browser::unknown, Bot::person},
    {"Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15",
     Device::console, Os::other, Browser::other, Bot::person},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox Series X) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.82 Safari/537.36 Edge/20.02",
     Device::console, Os::other, Browser::edge, Bot::person},
    {"Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/609.4 (KHTML, like Gecko) NF/6.0.2.23.6 NintendoBrowser/5.1.0.23620",
     Device::console, Os::other, Browser::other, Bot::person},
    // Search, SEO and AI crawlers. Their os and browser are what they claim to be.
    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Googlebot/2.1 (+http://www.google.com/bot.html)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/W.X.Y.Z Mobile Safari/537.36 (compatible; Google-InspectionTool/1.0)",
     Device::bot, Os::android, Browser::chrome, Bot::crawler},
    {"Mozilla/5.0 (compatible; bingbot/2.0;  http://www.bing.com/bingbot.htm)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_1) AppleWebKit/600.2.5 (KHTML, like Gecko) Version/8.0.2 Safari/600.2.5 (Applebot/0.1; +http://www.apple.com/go/applebot)",
     Device::bot, Os::macos, Browser::safari, Bot::crawler},
    {"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (compatible; MJ12bot/v1.2.4; http://www.majestic12.co.uk/bot.php?+)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (compatible;PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"CCBot/2.0 (https://commoncrawl.org/faq/)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 11_0 like Mac OS X) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/43.0.7597.1164 Mobile Safari/537.36; Bytespider;bytespider@bytedance.com",
     Device::bot, Os::ios, Browser::chrome, Bot::crawler},
    {"Mozilla/5.0 (compatible; Qwantbot-prod12345/1.0; +Qwantbot@qwant.com)",
     Device::bot, Os::unknown, Browser::unknown, Bot::crawler},
    // Link previews. iMessage sends the third, LinkedInBot names its HTTP client.
    {"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Facebot/1.0",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
     Device::bot, Os::macos, Browser::safari, Bot::unfurler},
    {"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Slackbot 1.0 (+https://api.slack.com/robots)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Twitterbot/1.0",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"WhatsApp/2.23.20.0 A",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"WhatsApp/0.3.4479 N",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
     Device::bot, Os::unknown, Browser::library, Bot::unfurler},
    {"TelegramBot (like TwitterBot)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
     Device::bot, Os::windows, Browser::unknown, Bot::unfurler},
    {"Iframely/1.3.1 (+https://iframely.com/docs/about) Atlassian",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Pinterest/0.2 (+http://www.pinterest.com/bot.html)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/56.0.2924.87 Safari/537.36 Google-PageRenderer Google (+https://developers.google.com/+/web/snippet/)",
     Device::bot, Os::linux, Browser::chrome, Bot::unfurler},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2272.118 Safari/537.36 (compatible; Google-Read-Aloud; +https://developers.google.com/search/docs/crawling-indexing/overview-google-crawlers)",
     Device::bot, Os::linux, Browser::chrome, Bot::unfurler},
    {"Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots",
     Device::bot, Os::unknown, Browser::unknown, Bot::unfurler},
    {"http.rb/2.2.2 (Mastodon/1.5.1; +https://example-masto-instance.org/)",
     Device::bot, Os::unknown, Browser::library, Bot::unfurler},
    // Office and Outlook checking a link, Barracuda's scanner, Gmail's image proxy.
    {"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; .NET CLR 2.0.50727; .NET CLR 3.0.30729; .NET CLR 3.5.30729; Tablet PC 2.0; MALNJS; Microsoft Outlook 16.0.6001; ms-office; MSOffice 16)",
     Device::bot, Os::windows, Browser::other, Bot::mail_scanner},
    {"Microsoft Office Existence Discovery",
     Device::bot, Os::unknown, Browser::unknown, Bot::mail_scanner},
    {"Microsoft Office Word 2014",
     Device::bot, Os::unknown, Browser::unknown, Bot::mail_scanner},
    {"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Excel 16.0.13231; Pro)",
     Device::bot, Os::windows, Browser::unknown, Bot::mail_scanner},
    {"MacOutlook/16.41.20091302 (Intelx64 Mac OS X 10.14.4 (Build 18E226))",
     Device::bot, Os::macos, Browser::unknown, Bot::mail_scanner},
    {"Outlook-iOS/696.1188109.prod.iphone (2.102.0)",
     Device::bot, Os::ios, Browser::unknown, Bot::mail_scanner},
    {"Barracuda Sentinel (EE)",
     Device::bot, Os::unknown, Browser::unknown, Bot::mail_scanner},
    {"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     Device::bot, Os::windows, Browser::firefox, Bot::mail_scanner},
    // HTTP libraries and automation.
    {"curl/7.47.0",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"curl",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"Wget/1.20.3 (linux-gnu)",
     Device::bot, Os::linux, Browser::library, Bot::library},
    {"python-requests/2.19.1",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"Python-urllib/2.7",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"Python/3.9 aiohttp/3.7.3",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"Go-http-client/1.1",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"okhttp/3.5.0",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"Java/1.8.0_151",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"Apache-HttpClient/4.5.2 (Java/1.8.0_151)",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"axios/0.19.0",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"libwww-perl/6.03",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"HTTPie/3.2.2",
     Device::bot, Os::unknown, Browser::library, Bot::library},
    {"Dalvik/2.1.0 (Linux; U; Android 10; Polestar Build/QA1A.210116.001)",
     Device::bot, Os::android, Browser::library, Bot::library},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/74.0.3729.169 Safari/537.36",
     Device::bot, Os::linux, Browser::chrome, Bot::library},
    // Uptime and synthetic monitoring.
    {"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
     Device::bot, Os::unknown, Browser::unknown, Bot::monitor},
    {"Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
     Device::bot, Os::unknown, Browser::unknown, Bot::monitor},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/61.0.3163.100 Chrome/61.0.3163.100 Safari/537.36 PingdomPageSpeed/1.0 (pingbot/2.0; +http://www.pingdom.com/)",
     Device::bot, Os::linux, Browser::chrome, Bot::monitor},
    {"StatusCake_Uptime_Checker/1.0",
     Device::bot, Os::unknown, Browser::unknown, Bot::monitor},
    {"Site24x7",
     Device::bot, Os::unknown, Browser::unknown, Bot::monitor},
    {"Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36",
     Device::bot, Os::windows, Browser::chrome, Bot::monitor},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.7204.168 Safari/537.36 DatadogSynthetics",
     Device::bot, Os::linux, Browser::chrome, Bot::monitor},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0.4896.60 Safari/537.36 NewRelicSynthetics/1.0",
     Device::bot, Os::linux, Browser::chrome, Bot::monitor},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.6998.35 Safari/537.36 (Checkly, https://www.checklyhq.com)",
     Device::bot, Os::linux, Browser::chrome, Bot::monitor},
    {"Mozilla/5.0 (Linux; Android 7.0; Moto G (4)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/98.0.4695.0 Mobile Safari/537.36 Chrome-Lighthouse",
     Device::bot, Os::android, Browser::chrome, Bot::monitor},
    // A person: Ecosia puts "android@<version>" in its User-Agent, which is no contact address.
    {"Mozilla/5.0 (Linux; Android 11; Action-X5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/88.0.4324.181 Mobile Safari/537.36 (Ecosia android@88.0.4324.181)",
     Device::mobile, Os::android, Browser::other, Bot::person},
};
// clang-format on

ClientClass classify(std::string_view ua) {
    return classify_client(ua, {}, {});
}

// The host referrer_host() writes, or "" when it returns 0. The buffer is poisoned past
// k_max_referrer so a write beyond the documented room shows.
std::string host_of(std::string_view referer) {
    std::vector<char> out(k_max_referrer + 64, '#');
    const std::size_t n = referrer_host(referer, out.data());
    REQUIRE(n <= k_max_referrer);
    for (std::size_t i = k_max_referrer; i < out.size(); ++i) {
        REQUIRE(out[i] == '#');
    }
    return std::string(out.data(), n);
}

}  // namespace

TEST_CASE("RealUserAgentsGetTheirClasses", "[client_class]") {
    for (const Case& c : k_cases) {
        CAPTURE(c.user_agent);
        const ClientClass got = classify(c.user_agent);
        CHECK(got.device == c.device);
        CHECK(got.os == c.os);
        CHECK(got.browser == c.browser);
        CHECK(got.bot == c.bot);
    }
}

TEST_CASE("AbsentUserAgentIsNoUserAgent", "[client_class]") {
    for (std::string_view ua :
         {std::string_view(""), std::string_view("   "), std::string_view("\t")}) {
        CAPTURE(ua);
        const ClientClass got = classify(ua);
        CHECK(got.bot == Bot::no_user_agent);
        CHECK(got.device == Device::bot);
        CHECK(got.browser == Browser::unknown);
        CHECK(got.os == Os::unknown);
    }
}

TEST_CASE("ClientHintsDecideOsAndPhoneOverAFrozenUserAgent", "[client_class]") {
    // Chrome's reduced User-Agent on Android: the model is always "K", the version always 10.
    const std::string_view phone =
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/114.0.0.0 Mobile Safari/537.36";
    const std::string_view tablet =
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/121.0.0.0 Safari/537.36";
    CHECK(classify_client(phone, "?1", "\"Android\"").device == Device::mobile);
    CHECK(classify_client(tablet, "?1", "\"Android\"").device == Device::mobile);
    CHECK(classify_client(phone, "?0", "\"Android\"").device == Device::tablet);
    CHECK(classify_client(phone, "?0", "\"Android\"").os == Os::android);

    // Chrome on Windows that claims a Mac, and the other way round: the hint wins.
    const std::string_view mac =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_2) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/96.0.6167.5881 Safari/537.36";
    const ClientClass windows = classify_client(mac, "?0", "\"Windows\"");
    CHECK(windows.os == Os::windows);
    CHECK(windows.device == Device::desktop);
    CHECK(windows.browser == Browser::chrome);
    const std::string_view win =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/132.0.0.0 Safari/537.36";
    CHECK(classify_client(win, "?0", "\"macOS\"").os == Os::macos);
    CHECK(classify_client(win, "?0", "\"Linux\"").os == Os::linux);
    CHECK(classify_client(win, "?0", "\"Chrome OS\"").os == Os::chromeos);
    CHECK(classify_client(win, "?0", "\"Chromium OS\"").os == Os::chromeos);
    CHECK(classify_client(win, "?0", "\"Fuchsia\"").os == Os::other);
    // An Android phone asking for the desktop site sends a Linux desktop User-Agent.
    const std::string_view linux_desktop =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36";
    const ClientClass desktop_mode = classify_client(linux_desktop, "?0", "\"Android\"");
    CHECK(desktop_mode.os == Os::android);
    CHECK(desktop_mode.device == Device::tablet);
    CHECK(classify_client(linux_desktop, "?1", "\"Android\"").device == Device::mobile);

    // Quotes are optional, case and surrounding spaces do not matter.
    CHECK(classify_client(win, " ?1 ", " android ").os == Os::android);
    CHECK(classify_client(win, " ?1 ", " android ").device == Device::mobile);
}

TEST_CASE("ClientHintsThatDoNotParseAreIgnored", "[client_class]") {
    const std::string_view phone =
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/114.0.0.0 Mobile Safari/537.36";
    for (std::string_view platform :
         {"\"Unknown\"", "\"\"", "\"", "Lindows", "\"Android", "Android\"", "\"Windows\" x", ""}) {
        for (std::string_view mobile : {"?2", "1", "?", "?10", "true", ""}) {
            CAPTURE(platform, mobile);
            const ClientClass got = classify_client(phone, mobile, platform);
            CHECK(got.os == Os::android);
            CHECK(got.device == Device::mobile);
        }
    }
}

TEST_CASE("ClientHintsDoNotMakeARobotAPerson", "[client_class]") {
    const ClientClass got =
        classify_client("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                        "?1", "\"Android\"");
    CHECK(got.bot == Bot::crawler);
    CHECK(got.device == Device::bot);
    CHECK(got.os == Os::android);
    CHECK(classify_client("", "?0", "\"Windows\"").bot == Bot::no_user_agent);
}

TEST_CASE("TokensAreFoundAtEveryOffsetAndInAnyCase", "[client_class]") {
    // The scan reads 64 bytes at a time: a token or a word straddling a boundary must be found.
    for (std::size_t pad = 0; pad < 140; ++pad) {
        CAPTURE(pad);
        const std::string before(pad, '.');
        CHECK(classify(before + "Googlebot/2.1").bot == Bot::crawler);
        CHECK(classify(before + "Mozilla/5.0 (compatible; Qwantbot-prod12345/1.0)").bot ==
              Bot::crawler);
        CHECK(classify(before + "curl/8.5.0").browser == Browser::library);
        CHECK(classify(before + "curl").bot == Bot::library);
        // Inside a longer word a token is no token.
        CHECK(classify(std::string(pad, 'a') + "xcurl/8.5.0").bot == Bot::person);
    }
    CHECK(classify("GOOGLEBOT/2.1").bot == Bot::crawler);
    CHECK(classify("mozilla/5.0 (iphone; cpu iphone os 17_5 like mac os x) applewebkit/605.1.15 "
                   "(khtml, like gecko) version/17.5 mobile/15e148 safari/604.1")
              .browser == Browser::safari);
    // Whole-word tokens: "CrOS" is not "Cross", "curl" is not "Curlew".
    CHECK(classify("Mozilla/5.0 (X11; Cross x86_64) Chrome/120.0.0.0").os == Os::unknown);
    CHECK(classify("Curlew/1.0").bot == Bot::person);
}

TEST_CASE("HostileUserAgentBytes", "[client_class]") {
    const std::string nul("curl\0/7.0", 9);
    CHECK(classify(nul).bot == Bot::library);
    CHECK(classify(std::string(8192, 'A')).bot == Bot::person);
    CHECK(classify(std::string(8192, '/')).bot == Bot::person);
    CHECK(classify(std::string(8192, '\xff')).device == Device::unknown);
    // Bytes above 0x7f are neither letters nor capitals: 0xc5 is no 'E' (0x45) to lowercase
    // into "chrome/", 0xc1 no 'A' to start "android".
    CHECK(classify("Mozilla/5.0 Chrom\xc5/120.0").browser == Browser::unknown);
    CHECK(classify("Mozilla/5.0 Chrome/120.0").browser == Browser::chrome);
    CHECK(classify("\xc1ndroid 14; Mobile").os == Os::unknown);
    // Control bytes are separators, as spaces are.
    CHECK(classify("x\x01Googlebot/2.1").bot == Bot::crawler);
    // A User-Agent cut in the middle of a token.
    CHECK(classify("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                   "Gecko) Chr")
              .browser == Browser::unknown);
    CHECK(classify("G").bot == Bot::person);
    CHECK(classify("@").bot == Bot::person);
    CHECK(classify("a@b.c").bot == Bot::crawler);
    CHECK(classify("a@b.").bot == Bot::person);
}

TEST_CASE("PurposeHeadersMarkPrefetchAndPreview", "[client_class]") {
    CHECK(classify_purpose("prefetch", "") == Bot::prefetch);
    CHECK(classify_purpose("prefetch;prerender", "") == Bot::prefetch);
    CHECK(classify_purpose("prefetch;anonymous-client-ip-when-cross-origin", "") == Bot::prefetch);
    CHECK(classify_purpose("", "prefetch") == Bot::prefetch);  // Purpose, X-Moz
    CHECK(classify_purpose("", "preview") == Bot::preview);    // Safari's X-Purpose
    CHECK(classify_purpose("", "Preview") == Bot::preview);
    CHECK(classify_purpose(" PREFETCH ", "") == Bot::prefetch);
    CHECK(classify_purpose("prefetch", "preview") == Bot::prefetch);
    CHECK(classify_purpose("", "") == Bot::person);
    CHECK(classify_purpose("prefetcher", "previews") == Bot::person);
    CHECK(classify_purpose("no-prefetch", "x-preview") == Bot::person);
    CHECK(classify_purpose("\"prefetch\"", "") == Bot::prefetch);
    CHECK(classify_purpose(std::string(4096, ';'), std::string(4096, 'p')) == Bot::person);
}

TEST_CASE("ReferrerHostIsTheLowercaseHost", "[client_class]") {
    CHECK(host_of("https://www.example.com/some/page?q=1#top") == "www.example.com");
    CHECK(host_of("HTTPS://WWW.Example.COM:8443/X") == "www.example.com");
    CHECK(host_of("http://user:secret@host.example:80/") == "host.example");
    CHECK(host_of("http://a@b@evil.example/") == "evil.example");
    CHECK(host_of("http://example.com./") == "example.com");
    CHECK(host_of("http://example.com?q") == "example.com");
    CHECK(host_of("http://example.com#f") == "example.com");
    CHECK(host_of("http://example.com") == "example.com");
    CHECK(host_of("http://192.0.2.1:8080/") == "192.0.2.1");
    CHECK(host_of("http://[2001:DB8::1]:8080/x") == "[2001:db8::1]");
    CHECK(host_of("http://evil.example\\@good.example/") == "evil.example");
    CHECK(host_of("android-app://com.google.android.gm/") == "com.google.android.gm");
    const std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                std::string(63, 'c') + "." + std::string(61, 'd');
    REQUIRE(longest.size() == k_max_referrer);
    CHECK(host_of("https://" + longest + "/") == longest);
}

TEST_CASE("ReferrerWithoutAHostGivesNothing", "[client_class]") {
    const std::vector<std::string> none = {
        "",
        "://",
        "http://",
        "http:///path",
        "http://:80/",
        "http://user@/",
        "https://?q",
        "example.com/page",
        "//example.com/page",
        "/relative/path",
        "about:blank",
        "file:///etc/passwd",
        "data:text/html,<b>x</b>",
        "http:/example.com",
        "1http://example.com/",
        " http://example.com/",
        "http://exa mple.com/",
        std::string("http://exa\x01mple.com/"),
        std::string("http://exa\0mple.com/", 20),
        "http://exa\xc3\xa9mple.com/",
        "http://a%2eb.example/",
        "http://host.example:abc/",
        "http://[2001:db8::1/",
        "http://[not-an-address]/",
        "https://" + std::string(300, 'a') + ".example/",
        "https://" + std::string(254, 'a') + "/",
        std::string(10000, 'h'),
    };
    for (const std::string& referer : none) {
        CAPTURE(referer);
        CHECK(host_of(referer).empty());
    }
}

TEST_CASE("ReferrerHostAgreesWithNormalizeHost", "[client_class]") {
    // Plain names take a path of their own; every authority must give what the server's own
    // host normalization gives.
    const std::vector<std::string> authorities = {
        "example.com",
        "EXAMPLE.com:443",
        "example.com:",
        "example.com:99999999999999999999",
        "example.com.",
        "example.com..",
        ".",
        "..",
        "-",
        "a..b",
        "1.2.3.4",
        "999.1.1.1",
        "1.2.3.4:8080",
        "xn--bcher-kva.example",
        "a_b.example",
        "a~b.example",
        "a!b.example",
        "[::1]",
        "[::1]:80",
        "[v1.x]",
        "host:1:2",
        "host:-1",
        "host: 80",
        "ho%41st",
        std::string(253, 'a'),
        std::string(254, 'a'),
        std::string(255, 'a'),
        std::string(256, 'a'),
        std::string(252, 'a') + ".",
        std::string(253, 'a') + ".",
    };
    for (const std::string& authority : authorities) {
        CAPTURE(authority);
        std::array<char, k_max_host_bytes> buffer;
        std::string_view host;
        const bool ok = normalize_host(authority, buffer, host);
        const std::string expected =
            ok && host.size() <= k_max_referrer ? std::string(host) : std::string();
        CHECK(host_of("http://" + authority + "/") == expected);
        CHECK(host_of("https://user@" + authority) == expected);
    }
}

// A timing, not a test: `serve_tests "[.bench]"` prints what one classification costs over the
// table above (each User-Agent hot in cache, as a request's headers are).
TEST_CASE("ClassificationCost", "[.bench]") {
    constexpr int k_rounds = 20000;
    std::size_t sink = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < k_rounds; ++r) {
        for (const Case& c : k_cases) {
            sink += static_cast<std::size_t>(classify(c.user_agent).bot);
        }
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const double per = std::chrono::duration<double, std::nano>(elapsed).count() /
                       (static_cast<double>(k_rounds) * static_cast<double>(std::size(k_cases)));
    std::cout << "classify_client: " << per << " ns per User-Agent over " << std::size(k_cases)
              << " strings (checksum " << sink << ")\n";
    CHECK(sink > 0);
}
