// The client classes of a click event (formats/SPEC.md "Click segments"): device, operating
// system, browser and bot verdict from a request's User-Agent, Client Hints and purpose headers,
// and the host of its Referer.
//
// These run once per recorded request on the click writer thread, so they are single passes over
// the header bytes: no allocation, no regular expression, nothing kept between calls. A
// User-Agent is matched against a fixed table of lowercase tokens anchored at word starts (see
// client_class.cpp for the table and the reasons behind each verdict); what cannot be told from
// the headers (a mail gateway sending a browser's User-Agent, a script copying one) is a person
// here, and only the visitor's behaviour (Bot::repeat) or its network can tell it apart.
//
// Thread-safety: pure functions; call from any number of threads at once.
#pragma once

#include <cstddef>
#include <string_view>

#include "formats/clicks.h"

namespace shortlink::serve {

// A header value or list element without the optional whitespace (spaces and tabs, RFC 9110
// "OWS") around it.
inline std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// Equal sizes, and equal bytes once ASCII letters are folded to lowercase (header names, language
// tags, country codes).
inline bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
        const char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
        if (x != y) {
            return false;
        }
    }
    return true;
}

struct ClientClass {
    formats::clicks::Device device = formats::clicks::Device::unknown;
    formats::clicks::Os os = formats::clicks::Os::unknown;
    formats::clicks::Browser browser = formats::clicks::Browser::unknown;
    // person unless the User-Agent, or its absence, says otherwise; any other verdict comes with
    // Device::bot. A robot's os and browser still say what its User-Agent claims (a crawler that
    // renders as Chrome on Android keeps both, a headless Chrome is Browser::chrome), except that
    // an HTTP library is Browser::library and a robot named after an app is not its in-app
    // browser. A User-Agent naming several robots gets the most specific verdict: mail_scanner,
    // monitor, unfurler, crawler, library; the generic signs of a robot (a URL, a contact
    // address, a "...bot/" product name) give crawler when nothing is named.
    formats::clicks::Bot bot = formats::clicks::Bot::person;

    bool operator==(const ClientClass&) const = default;
};

// `user_agent`: the User-Agent value as received, empty when absent (no_user_agent, as is one of
// only spaces). `ch_mobile` and `ch_platform`: the Sec-CH-UA-Mobile ("?1"/"?0") and
// Sec-CH-UA-Platform ("\"Android\"", quotes optional) values, empty when absent. A Chromium
// browser freezes the platform in its reduced User-Agent, so a hint that parses decides the
// operating system and whether the device is a phone; one that does not ("Unknown", garbage) is
// ignored.
//
// Choices the User-Agent alone cannot settle:
// - iPadOS 13 and later send the macOS desktop User-Agent: that is macos/desktop, unless an
//   iOS-only browser token (CriOS, FxiOS, EdgiOS, OPiOS) says the Mac is an iPad.
// - Android without "Mobile" is a tablet; with Sec-CH-UA-Mobile ?0 so is an Android phone that
//   asks for desktop sites.
// - Android WebView ("; wv)") and iOS WebKit without "Safari" are in-app browsers.
// - Smart TVs and consoles have os other, unless a TV runs Android.
ClientClass classify_client(std::string_view user_agent, std::string_view ch_mobile,
                            std::string_view ch_platform);

// The verdict of a request's purpose headers: `sec_purpose` is Sec-Purpose, `purpose` the first
// present of Purpose, X-Purpose and X-Moz (empty when absent). A token "prefetch" or "prerender"
// (Sec-Purpose: prefetch;prerender) is Bot::prefetch, else "preview" (Safari's X-Purpose) is
// Bot::preview, else Bot::person. Tokens are matched without regard to case.
formats::clicks::Bot classify_purpose(std::string_view sec_purpose, std::string_view purpose);

// Writes the host of a Referer value into `out` (room for formats::clicks::k_max_referrer bytes),
// lowercased, without userinfo, port or a trailing dot, and returns its length; 0 when there is
// none: no scheme (a relative reference or "//host"), an empty authority ("file:///x",
// "about:blank"), a host that is not URI syntax (spaces, control bytes, percent-escapes) or is
// longer than k_max_referrer. An IPv6 literal keeps its brackets ("[2001:db8::1]"). Any scheme
// with an authority counts: android-app://com.google.android.gm/ gives "com.google.android.gm",
// the app the click came from. Never allocates.
std::size_t referrer_host(std::string_view referer, char* out);

}  // namespace shortlink::serve
