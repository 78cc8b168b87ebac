# bash completion for shortlink. Install as /usr/share/bash-completion/completions/shortlink.
#
# To add a command: one `_shortlink_commands+=" NAME "` line in the list below (keep the spaces)
# and, if it has options, one `NAME) opts="..." ;;` line in the case statement.

_shortlink_commands=""
_shortlink_commands+=" init "
_shortlink_commands+=" domain "
_shortlink_commands+=" add "
_shortlink_commands+=" show "
_shortlink_commands+=" list "
_shortlink_commands+=" edit "
_shortlink_commands+=" rule "
_shortlink_commands+=" disable "
_shortlink_commands+=" enable "
_shortlink_commands+=" delete "
_shortlink_commands+=" restore "
_shortlink_commands+=" history "
_shortlink_commands+=" import "
_shortlink_commands+=" export "
_shortlink_commands+=" apply "
_shortlink_commands+=" backup "
_shortlink_commands+=" qr "
_shortlink_commands+=" block "
_shortlink_commands+=" unblock "
_shortlink_commands+=" blocks "
_shortlink_commands+=" keygen "
_shortlink_commands+=" compile "
_shortlink_commands+=" verify "
_shortlink_commands+=" inspect "
_shortlink_commands+=" diff "
_shortlink_commands+=" overlay "
_shortlink_commands+=" rollback "
_shortlink_commands+=" publish "
_shortlink_commands+=" promote "
_shortlink_commands+=" resolve "
_shortlink_commands+=" serve "
_shortlink_commands+=" probe "
_shortlink_commands+=" stats "

# Files (those matching the glob when one is given) and the directories that may hold them, with
# -o filenames so names with spaces are quoted and directories get their '/'.
_shortlink_files() {
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    if [ -n "$1" ]; then
        COMPREPLY+=($(compgen -f -X "!$1" -- "$cur") $(compgen -d -- "$cur"))
    else
        COMPREPLY+=($(compgen -f -- "$cur"))
    fi
}
_shortlink_dirs() {
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY+=($(compgen -d -- "$cur"))
}

_shortlink() {
    local cur prev cmd opts i
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --db|--actor|--default-domain|--config) ((i++)) ;;
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    case "$prev" in
        --db|-o|--output) _shortlink_files; return ;;
        --config|--geoip) _shortlink_files; return ;;
        --type|--default-type) COMPREPLY=($(compgen -W "301 302 307 308" -- "$cur")); return ;;
        --format)
            case "$cmd ${COMP_WORDS[*]} " in stats*" export "*) COMPREPLY=($(compgen -W "jsonl csv" -- "$cur")); return ;; esac
            case "$cmd" in
                qr) COMPREPLY=($(compgen -W "svg png txt" -- "$cur")) ;;
                export) COMPREPLY=($(compgen -W "csv json jsonl yaml nginx-map haproxy-map cloudflare-csv" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -W "table json csv" -- "$cur")) ;;
            esac
            return ;;
        --status) COMPREPLY=($(compgen -W "active disabled deleted" -- "$cur")); return ;;
        --state) COMPREPLY=($(compgen -W "active disabled deleted not_yet_valid expired" -- "$cur")); return ;;
        --on-conflict) COMPREPLY=($(compgen -W "fail skip update" -- "$cur")); return ;;
        --query-params) COMPREPLY=($(compgen -W "replace keep-both" -- "$cur")); return ;;
    esac
    if [ -z "$cmd" ]; then
        COMPREPLY=($(compgen -W "$_shortlink_commands --db --actor --default-domain --config --version --help" -- "$cur"))
        return
    fi
    opts="--help --db --actor --default-domain --config"
    case "$cmd" in
        init) ;;
        domain) opts+=" add show list set remove --default-type --root-url --case-insensitive --case-sensitive --no-forward-query --forward-query --cache-max-age --negative-max-age --https-redirect --no-https-redirect --hsts --hsts-include-subdomains --no-hsts-include-subdomains --not-found-url --no-not-found-url --expired-url --no-expired-url --not-found-text --no-not-found-text --gone-text --no-gone-text --permanent-max-age --stale-while-revalidate --stale-if-error --cache-scope --miss-budget --country-header --no-country-header --force --json" ;;
        add) opts+=" --code --domain --type --expires --not-before --reserve --expired-url --tag --title --password-file --password-prompt --no-forward-query --forward-query --json" ;;
        show) opts+=" --domain --json" ;;
        list) opts+=" --domain --status --state --tag --search --limit --format --json --titles" ;;
        edit) opts+=" --domain --url --type --default-type --expires --no-expires --not-before --no-not-before --add-tag --remove-tag --title --no-title --expired-url --no-expired-url --reserve --no-reserve --password-file --password-prompt --no-password --forward-query --no-forward-query --default-forward-query --json" ;;
        rule) opts+=" add list remove move --domain --if --to --type --at --json"
            case "$prev" in --if) COMPREPLY=($(compgen -W "device=ios device=android device=ipados device=mobile device=tablet device=desktop device=windows device=macos device=linux device=chromeos lang= country= ip= query= after= before= split=" -- "$cur")); return ;;
                --type) COMPREPLY=($(compgen -W "301 302 307 308" -- "$cur")); return ;; esac ;;
        disable|enable|delete) opts+=" --domain --json" ;;
        restore) opts+=" --domain --json --backup --force"
            [ "$prev" = --backup ] && { _shortlink_files; return; } ;;
        backup) opts+=" --force --json"; _shortlink_files ;;
        history) opts+=" --domain --limit --json --verify" ;;
        import) opts+=" --from --format --map --ignore-unknown-columns --domain --dry-run --skip-invalid --create-domains --on-conflict --json"
            case "$prev" in --from) COMPREPLY=($(compgen -W "csv jsonl bitly yourls shlink kutt cloudflare" -- "$cur")); return ;;
                --map) COMPREPLY=($(compgen -W "COLUMN=domain COLUMN=code COLUMN=url COLUMN=type COLUMN=expires COLUMN=not_before COLUMN=tags COLUMN=status COLUMN=forward_query COLUMN=short_url COLUMN=created_at COLUMN=title COLUMN=-" -- "$cur")); return ;; esac
            _shortlink_files ;;
        export) opts+=" --format -o --output --domain" ;;
        apply) opts+=" --plan --prune --json"; COMPREPLY=($(compgen -f -- "$cur")) ;;
        qr) opts+=" --domain --format --size --margin --ecc -o --out --compact --no-marker"
            case "$prev" in --ecc) COMPREPLY=($(compgen -W "L M Q H" -- "$cur")); return ;; --out) _shortlink_files; return ;; esac ;;
        serve) opts+=" --snapshots --trust --listen --tls-listen --certs --acme-webroot --tls-ticket-rotation --handshake-timeout --max-handshakes --cert-warn-days --admin --threads --config --state-dir --max-header-bytes --max-headers --max-body-bytes --header-timeout --keepalive-timeout --send-timeout --max-requests --max-connections --rescan-interval --drain-timeout --clicks --clicks-buffer --clicks-segment-size --clicks-segment-age --clicks-networks --country-header --query-params --geoip --trusted-proxy --miss-budget --pull --channel --pull-interval --pull-snapshot-interval --pull-timeout --ca --cookie-key --password-cookie-max-age --password-threads --password-queue --password-attempts --password-link-attempts"
            case "$prev" in --snapshots|--state-dir|--certs|--acme-webroot|--clicks) _shortlink_dirs; return ;; --trust|--config|--ca|--cookie-key) _shortlink_files; return ;;
                --channel) COMPREPLY=($(compgen -W "stable canary" -- "$cur")); return ;; esac ;;
        probe) opts+=" --connect --servername --ca --warn-days --timeout --expect-status --expect-location --max-latency --textfile --json"
            case "$prev" in --ca|--textfile) _shortlink_files; return ;; esac ;;
        resolve) opts+=" --trust --at --overlay --no-overlay --patch --no-patch --head --json --query-params --header --client-ip --country-header --geoip --trusted-proxy --cookie-key"
            case "$prev" in --trust) _shortlink_files '*.pub'; return ;; --overlay) _shortlink_files '*.sldeny'; return ;;
                --patch) _shortlink_files '*.slpatch'; return ;; esac
            _shortlink_files '*.slsnap' ;;
        keygen) opts+=" --out --name --force --encrypt --json"; [ "$prev" = --out ] && { _shortlink_dirs; return; } ;;
        compile) opts+=" --key --out --keep --not-after --serial --patch --auto --json --publish --channel --expires --zstd"
            case "$prev" in --key) _shortlink_files '*.key'; return ;; --out|--publish) _shortlink_dirs; return ;;
                --channel) COMPREPLY=($(compgen -W "stable canary" -- "$cur")); return ;; esac ;;
        verify) opts+=" --trust --json"; [ "$prev" = --trust ] && { _shortlink_files '*.pub'; return; }; _shortlink_files '*.sl*' ;;
        inspect) opts+=" --json --links"; _shortlink_files '*.sl*' ;;
        diff) opts+=" --json"; _shortlink_files '*.sl*' ;;
        overlay) opts+=" --key --out --keep --json --publish --channel --expires --zstd"
            case "$prev" in --key) _shortlink_files '*.key'; return ;; --out|--publish) _shortlink_dirs; return ;;
                --channel) COMPREPLY=($(compgen -W "stable canary" -- "$cur")); return ;; esac ;;
        publish) opts+=" --key --out --from --channel --expires --keep --zstd --refresh --json"
            case "$prev" in --key) _shortlink_files '*.key'; return ;; --out|--from) _shortlink_dirs; return ;;
                --channel) COMPREPLY=($(compgen -W "stable canary" -- "$cur")); return ;; esac ;;
        promote) opts+=" --key --out --from --to --probe-file --probe-timeout --ca --expires --json"
            case "$prev" in --key) _shortlink_files '*.key'; return ;; --out) _shortlink_dirs; return ;;
                --probe-file|--ca) _shortlink_files; return ;;
                --from|--to) COMPREPLY=($(compgen -W "stable canary" -- "$cur")); return ;; esac ;;
        rollback) opts+=" --to --key --out --from --trust --keep --not-after --json --publish --channel --expires --zstd"
            case "$prev" in --key) _shortlink_files '*.key'; return ;; --out|--publish) _shortlink_dirs; return ;;
                --channel) COMPREPLY=($(compgen -W "stable canary" -- "$cur")); return ;;
                --from) _shortlink_files '*.slsnap'; return ;; --trust) _shortlink_files '*.pub'; return ;; esac ;;
        block|unblock)
            # The kind first; then link takes --domain, and block takes --reason.
            local kind=""
            for ((i = i + 1; i < COMP_CWORD; i++)); do
                case "${COMP_WORDS[i]}" in link|domain|destination) kind="${COMP_WORDS[i]}"; break ;; esac
            done
            if [ -z "$kind" ]; then
                COMPREPLY=($(compgen -W "link domain destination" -- "$cur")); return
            fi
            opts+=" --json --publish --key"
            [ "$kind" = link ] && opts+=" --domain"
            [ "$cmd" = block ] && opts+=" --reason"
            case "$prev" in --publish) _shortlink_dirs; return ;; --key) _shortlink_files '*.key'; return ;; esac ;;
        blocks) opts+=" --json" ;;
        stats)
            # A subcommand (ingest, report, export) or the query form.
            local sub=""
            for ((i = i + 1; i < COMP_CWORD; i++)); do
                case "${COMP_WORDS[i]}" in ingest|report|export) sub="${COMP_WORDS[i]}"; break ;; esac
            done
            case "$prev" in
                --stats-db|--out) _shortlink_files; return ;;
                --by) COMPREPLY=($(compgen -W "day hour link country device os browser referrer outcome bot qr" -- "$cur")); return ;;
                --bots) COMPREPLY=($(compgen -W "exclude include only" -- "$cur")); return ;;
                --outcome) COMPREPLY=($(compgen -W "all redirect root miss unknown_host blocked expired not_yet_valid disabled deleted https_redirect bad_request method_not_allowed unavailable password_form password_ok password_refused rate_limited" -- "$cur")); return ;;
                --retain|--since|--until|--top|--domain) return ;;
            esac
            opts+=" --stats-db"
            case "$sub" in
                ingest) opts+=" --retain --json"; _shortlink_dirs ;;
                report) opts+=" --out --domain --since --until --top" ;;
                export) opts+=" --format --out --since --until" ;;
                *) opts+=" ingest report export --domain --since --until --by --top --bots --outcome --unique --json --format" ;;
            esac ;;
    esac
    COMPREPLY+=($(compgen -W "$opts" -- "$cur"))
}
complete -F _shortlink shortlink
