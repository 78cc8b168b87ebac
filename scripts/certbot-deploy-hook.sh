#!/bin/sh
# certbot --deploy-hook for `shortlink serve --certs DIR` (see shortlink-serve(1), ACME).
#
# certbot runs it after each certificate it obtains or renews, with RENEWED_LINEAGE set to the
# lineage directory (/etc/letsencrypt/live/NAME) and RENEWED_DOMAINS to its names. For every
# name it copies fullchain.pem to DIR/HOST.crt and privkey.pem to DIR/HOST.key ("*.example.com"
# becomes _.example.com.*). Each file is written under a dot name (the server ignores those),
# made private, flushed and renamed into place, the key first: the server, which watches DIR,
# never reads a half-written file, and between the two renames it waits for the second file
# (up to 2 seconds) and keeps serving the old pair.
#
# The directory comes from SHORTLINK_CERTS, else /etc/shortlink/certs. Names that are not DNS
# names are refused. Exit status: 0 when every file was installed, 1 otherwise.
set -eu

certs=${SHORTLINK_CERTS:-/etc/shortlink/certs}
lineage=${RENEWED_LINEAGE:?RENEWED_LINEAGE is not set: run this as certbot --deploy-hook}
domains=${RENEWED_DOMAINS:?RENEWED_DOMAINS is not set: run this as certbot --deploy-hook}

[ -d "$certs" ] || { echo "certbot-deploy-hook: $certs is not a directory" >&2; exit 1; }
for f in fullchain.pem privkey.pem; do
    [ -r "$lineage/$f" ] || { echo "certbot-deploy-hook: cannot read $lineage/$f" >&2; exit 1; }
done

# install SOURCE DEST: copy to a temporary dot file in DIR, then rename over DEST.
install_file() {
    tmp="$certs/.$(basename "$2").$$.tmp"
    trap 'rm -f "$tmp"' EXIT
    (umask 077 && cp "$1" "$tmp")
    sync "$tmp" 2>/dev/null || sync
    mv -f "$tmp" "$2"
    trap - EXIT
}

for domain in $domains; do
    case $domain in
        *[!A-Za-z0-9.*-]* | "" | .* | *..* | *.) echo "certbot-deploy-hook: '$domain' is not a host name" >&2; exit 1 ;;
    esac
    case $domain in
        \*.*) host="_.${domain#\*.}" ;;
        *\**) echo "certbot-deploy-hook: '$domain' is not a host name" >&2; exit 1 ;;
        *) host=$domain ;;
    esac
    host=$(printf '%s' "$host" | tr 'A-Z' 'a-z')
    install_file "$lineage/privkey.pem" "$certs/$host.key"
    install_file "$lineage/fullchain.pem" "$certs/$host.crt"
    echo "certbot-deploy-hook: installed $certs/$host.crt and $host.key"
done
