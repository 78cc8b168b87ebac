# fish completion for shortlink. Install as ~/.config/fish/completions/shortlink.fish.
#
# To add a command: one `complete ... -a NAME -d '...'` line in the command list below and its
# option lines after the others (`-n '__fish_seen_subcommand_from NAME'`).

complete -c shortlink -f
complete -c shortlink -l db -r -F -d 'SQLite database (default ./shortlink.db)'
complete -c shortlink -l actor -r -d 'Name recorded in the audit log'
complete -c shortlink -l default-domain -x -d 'Domain of a code given without --domain'
complete -c shortlink -l config -r -F -d 'TOML file of option defaults'
complete -c shortlink -l version -d 'Print the version'

complete -c shortlink -n __fish_use_subcommand -a init -d 'Create the database'
complete -c shortlink -n __fish_use_subcommand -a domain -d 'Add, list, change or remove domains'
complete -c shortlink -n __fish_use_subcommand -a add -d 'Create a short link'
complete -c shortlink -n __fish_use_subcommand -a show -d 'Show one link'
complete -c shortlink -n __fish_use_subcommand -a list -d 'List links'
complete -c shortlink -n __fish_use_subcommand -a edit -d 'Change a link'
complete -c shortlink -n __fish_use_subcommand -a rule -d 'Add, list, remove or reorder a link\'s redirect rules'
complete -c shortlink -n __fish_use_subcommand -a disable -d 'Disable a link'
complete -c shortlink -n __fish_use_subcommand -a enable -d 'Enable a disabled link'
complete -c shortlink -n __fish_use_subcommand -a delete -d 'Soft-delete a link'
complete -c shortlink -n __fish_use_subcommand -a restore -d 'Restore a deleted link, or the database from a backup'
complete -c shortlink -n __fish_use_subcommand -a history -d 'Show the audit trail'
complete -c shortlink -n __fish_use_subcommand -a import -d 'Import links from CSV, JSON Lines or another shortener'
complete -c shortlink -n __fish_use_subcommand -a export -d 'Export links as CSV, JSON Lines, YAML, nginx/HAProxy maps or Cloudflare CSV'
complete -c shortlink -n __fish_use_subcommand -a apply -d 'Make the store match a links file (YAML); --plan previews'
complete -c shortlink -n __fish_use_subcommand -a backup -d 'Write a consistent, compressed, checksummed copy of the database'
complete -c shortlink -n __fish_use_subcommand -a qr -d 'Draw a link QR code (SVG, PNG or text)'
complete -c shortlink -n __fish_use_subcommand -a block -d 'Block a link, domain or destination host'
complete -c shortlink -n __fish_use_subcommand -a unblock -d 'Lift a block'
complete -c shortlink -n __fish_use_subcommand -a blocks -d 'List the blocks in force'
complete -c shortlink -n __fish_use_subcommand -a keygen -d 'Create an Ed25519 key pair'
complete -c shortlink -n __fish_use_subcommand -a compile -d 'Compile the database into a snapshot'
complete -c shortlink -n __fish_use_subcommand -a overlay -d 'Publish the current deny set as a deny overlay'
complete -c shortlink -n __fish_use_subcommand -a publish -d 'Lay a directory out as a static origin with a signed index'
complete -c shortlink -n __fish_use_subcommand -a promote -d 'Point one channel of an origin at another channels files'
complete -c shortlink -n __fish_use_subcommand -a rollback -d 'Publish an older snapshot again under a new serial'
complete -c shortlink -n __fish_use_subcommand -a verify -d 'Check a snapshot'
complete -c shortlink -n __fish_use_subcommand -a inspect -d 'Show a snapshot header and sections'
complete -c shortlink -n __fish_use_subcommand -a diff -d 'Compare two snapshots'
complete -c shortlink -n __fish_use_subcommand -a resolve -d 'Print what a server would answer'
complete -c shortlink -n __fish_use_subcommand -a serve -d 'Serve redirects from snapshots'
complete -c shortlink -n __fish_use_subcommand -a probe -d 'Check servers answers and HTTPS certificates'
complete -c shortlink -n __fish_use_subcommand -a stats -d 'Click analytics: ingest, query, report, export'

complete -c shortlink -n '__fish_seen_subcommand_from domain' -a 'add show list set remove'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l default-type -x -a '301 302 307 308'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l root-url -x
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l case-insensitive
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l case-sensitive
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l no-forward-query
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l forward-query
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l cache-max-age -x
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l negative-max-age -x
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l https-redirect
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l no-https-redirect
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l hsts -x
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l hsts-include-subdomains
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l no-hsts-include-subdomains
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l not-found-url -x -d 'Where unknown codes redirect'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l no-not-found-url -d 'Answer unknown codes 404'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l not-found-text -x -d 'Text of the 404 page'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l no-not-found-text -d 'The plain 404 page'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l gone-text -x -d 'Text of the 410 page'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l no-gone-text -d 'The plain 410 page'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l permanent-max-age -x -d 'Cap on 301/308 max-age, seconds'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l stale-while-revalidate -x -d 'Seconds'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l stale-if-error -x -d 'Seconds'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l cache-scope -x -a 'public private none'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l miss-budget -x -d 'Misses a minute per client'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l country-header -x -a 'CF-IPCountry CloudFront-Viewer-Country X-Country-Code' -d 'Header trusted for the country'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l no-country-header -d "Use the server's --country-header"
complete -c shortlink -n '__fish_seen_subcommand_from domain edit' -l no-expired-url -d 'The domain\'s expired URL again'
complete -c shortlink -n '__fish_seen_subcommand_from domain add edit' -l expired-url -x -d 'Where the link goes once ended'
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l reserve -d 'No start time yet: 404 until given one'
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l no-reserve -d 'Make a reserved link live'
complete -c shortlink -n '__fish_seen_subcommand_from domain' -l force
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l type -x -a '301 302 307 308'
complete -c shortlink -n '__fish_seen_subcommand_from add' -l code -x
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l expires -x
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l not-before -x
complete -c shortlink -n '__fish_seen_subcommand_from add' -l tag -x
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l title -x -d 'Human-readable name'
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l no-title -d 'Remove the title'
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l password-file -r -F -d 'File holding the password'
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l password-prompt -d 'Type the password on the terminal'
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l no-password -d 'Remove the password'
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l no-forward-query
complete -c shortlink -n '__fish_seen_subcommand_from add edit' -l forward-query
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l url -x
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l default-type
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l no-expires
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l no-not-before
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l add-tag -x
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l remove-tag -x
complete -c shortlink -n '__fish_seen_subcommand_from edit' -l default-forward-query
complete -c shortlink -n '__fish_seen_subcommand_from add show list edit disable enable delete restore history import export qr' -l domain -x
complete -c shortlink -n '__fish_seen_subcommand_from domain add show list edit disable enable delete restore history' -l json
complete -c shortlink -n '__fish_seen_subcommand_from rule; and not __fish_seen_subcommand_from add list remove move' -a 'add list remove move'
complete -c shortlink -n '__fish_seen_subcommand_from rule' -l if -x -a 'device=ios device=android device=ipados device=mobile device=tablet device=desktop device=windows device=macos device=linux device=chromeos lang= country= ip= query= after= before= split='
complete -c shortlink -n '__fish_seen_subcommand_from rule' -l to -x
complete -c shortlink -n '__fish_seen_subcommand_from rule' -l type -x -a '301 302 307 308'
complete -c shortlink -n '__fish_seen_subcommand_from rule' -l at -x
complete -c shortlink -n '__fish_seen_subcommand_from rule' -l domain -x
complete -c shortlink -n '__fish_seen_subcommand_from rule' -l json
complete -c shortlink -n '__fish_seen_subcommand_from list' -l status -x -a 'active disabled deleted'
complete -c shortlink -n '__fish_seen_subcommand_from list' -l state -x -a 'active disabled deleted not_yet_valid expired' -d 'Effective state'
complete -c shortlink -n '__fish_seen_subcommand_from list' -l tag -x
complete -c shortlink -n '__fish_seen_subcommand_from list' -l search -x -d 'Substring of code, URL or title'
complete -c shortlink -n '__fish_seen_subcommand_from list' -l titles -d 'Add a TITLE column to the table'
complete -c shortlink -n '__fish_seen_subcommand_from list history' -l limit -x
complete -c shortlink -n '__fish_seen_subcommand_from history' -l verify -d 'Check the audit log hash chain'
complete -c shortlink -n '__fish_seen_subcommand_from list' -l format -x -a 'table json csv'
complete -c shortlink -n '__fish_seen_subcommand_from import' -l format -x -a 'csv json'
complete -c shortlink -n '__fish_seen_subcommand_from export' -l format -x -a 'csv json jsonl yaml nginx-map haproxy-map cloudflare-csv'
complete -c shortlink -n '__fish_seen_subcommand_from apply' -F
complete -c shortlink -n '__fish_seen_subcommand_from apply' -l plan -d 'Print what would change; exit 2 if anything would'
complete -c shortlink -n '__fish_seen_subcommand_from apply' -l prune -d 'Soft-delete links the file does not list'
complete -c shortlink -n '__fish_seen_subcommand_from apply' -l json
complete -c shortlink -n '__fish_seen_subcommand_from import' -F
complete -c shortlink -n '__fish_seen_subcommand_from import' -l from -x -a 'csv jsonl bitly yourls shlink kutt cloudflare' -d 'What the file is'
complete -c shortlink -n '__fish_seen_subcommand_from import' -l map -x -d 'COLUMN=FIELD: read a column as a link field'
complete -c shortlink -n '__fish_seen_subcommand_from import' -l ignore-unknown-columns -d 'Drop unknown columns instead of failing'
complete -c shortlink -n '__fish_seen_subcommand_from import' -l dry-run
complete -c shortlink -n '__fish_seen_subcommand_from import' -l skip-invalid
complete -c shortlink -n '__fish_seen_subcommand_from import' -l create-domains -d 'Create missing domains with default settings'
complete -c shortlink -n '__fish_seen_subcommand_from import' -l on-conflict -x -a 'fail skip update'
complete -c shortlink -n '__fish_seen_subcommand_from import' -l json
complete -c shortlink -n '__fish_seen_subcommand_from export' -s o -l output -r -F
complete -c shortlink -n '__fish_seen_subcommand_from backup' -F
complete -c shortlink -n '__fish_seen_subcommand_from backup' -l force -d 'Replace the backup file'
complete -c shortlink -n '__fish_seen_subcommand_from backup' -l json
complete -c shortlink -n '__fish_seen_subcommand_from restore' -l backup -r -F -d 'Restore the database from this backup'
complete -c shortlink -n '__fish_seen_subcommand_from restore' -l force -d 'With --backup: replace the database'
complete -c shortlink -n '__fish_seen_subcommand_from qr' -l format -x -a 'svg png txt'
complete -c shortlink -n '__fish_seen_subcommand_from qr' -l size -x -d 'Target width in pixels'
complete -c shortlink -n '__fish_seen_subcommand_from qr' -l margin -x -d 'Quiet zone in modules (default 4)'
complete -c shortlink -n '__fish_seen_subcommand_from qr' -l ecc -x -a 'L M Q H' -d 'Error correction level'
complete -c shortlink -n '__fish_seen_subcommand_from qr' -s o -l out -r -F
complete -c shortlink -n '__fish_seen_subcommand_from qr' -l compact -d 'Upper-case the URL for a smaller symbol'
complete -c shortlink -n '__fish_seen_subcommand_from qr' -l no-marker -d 'Leave out the sl_qr=1 scan marker'
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l snapshots -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from serve resolve' -l trust -r -F
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l listen -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l tls-listen -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l certs -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l acme-webroot -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l tls-ticket-rotation -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l clicks -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l clicks-buffer -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l clicks-segment-size -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l clicks-segment-age -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l clicks-networks
complete -c shortlink -n '__fish_seen_subcommand_from serve resolve' -l country-header -x
complete -c shortlink -n '__fish_seen_subcommand_from serve resolve' -l geoip -r -F
complete -c shortlink -n '__fish_seen_subcommand_from serve resolve' -l trusted-proxy -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l miss-budget -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l pull -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l channel -x -a 'stable canary'
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l pull-interval -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l pull-snapshot-interval -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l pull-timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l ca -r -F
complete -c shortlink -n '__fish_seen_subcommand_from serve resolve' -l cookie-key -r -F -d 'Cookie signing key'
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l password-cookie-max-age -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l password-threads -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l password-queue -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l password-attempts -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l password-link-attempts -x
complete -c shortlink -n '__fish_seen_subcommand_from serve resolve' -l query-params -x -a 'replace keep-both'
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l connect -x
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l servername -x
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l ca -r -F
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l warn-days -x
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l json
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l expect-status -x
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l expect-location -x
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l max-latency -x
complete -c shortlink -n '__fish_seen_subcommand_from probe' -l textfile -r -F
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l handshake-timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l max-handshakes -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l cert-warn-days -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l admin -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l threads -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l config -r -F
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l max-header-bytes -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l max-headers -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l max-body-bytes -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l header-timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l keepalive-timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l send-timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l max-requests -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l max-connections -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l rescan-interval -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l drain-timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from serve' -l state-dir -x -a '(__fish_complete_directories) none'
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l at -x
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l overlay -r -F
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l no-overlay
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l patch -r -F
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l no-patch
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l head
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l json
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l header -x -d 'Client request header "Name: value"'
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -l client-ip -x -d 'Client IPv4 or IPv6 address'
complete -c shortlink -n '__fish_seen_subcommand_from resolve' -F
complete -c shortlink -n '__fish_seen_subcommand_from keygen' -l out -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from keygen' -l name -x
complete -c shortlink -n '__fish_seen_subcommand_from keygen' -l force
complete -c shortlink -n '__fish_seen_subcommand_from keygen' -l encrypt
complete -c shortlink -n '__fish_seen_subcommand_from keygen' -l json
complete -c shortlink -n '__fish_seen_subcommand_from compile' -l key -r -F
complete -c shortlink -n '__fish_seen_subcommand_from compile' -l out -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from compile' -l keep -x
complete -c shortlink -n '__fish_seen_subcommand_from compile rollback' -l not-after -x
complete -c shortlink -n '__fish_seen_subcommand_from compile' -l serial -x
complete -c shortlink -n '__fish_seen_subcommand_from compile' -l patch
complete -c shortlink -n '__fish_seen_subcommand_from compile' -l auto
complete -c shortlink -n '__fish_seen_subcommand_from overlay rollback' -l key -r -F
complete -c shortlink -n '__fish_seen_subcommand_from overlay rollback' -l out -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from overlay rollback' -l keep -x
complete -c shortlink -n '__fish_seen_subcommand_from overlay rollback' -l json
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l key -r -F
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l out -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l from -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l channel -x -a 'stable canary'
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l expires -x
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l keep -x
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l refresh
complete -c shortlink -n '__fish_seen_subcommand_from publish compile overlay rollback' -l zstd
complete -c shortlink -n '__fish_seen_subcommand_from compile overlay rollback' -l publish -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from compile overlay rollback' -l channel -x -a 'stable canary'
complete -c shortlink -n '__fish_seen_subcommand_from compile overlay rollback' -l expires -x
complete -c shortlink -n '__fish_seen_subcommand_from publish' -l json
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l key -r -F
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l out -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l from -x -a 'stable canary'
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l to -x -a 'stable canary'
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l probe-file -r -F
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l probe-timeout -x
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l ca -r -F
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l expires -x
complete -c shortlink -n '__fish_seen_subcommand_from promote' -l json
complete -c shortlink -n '__fish_seen_subcommand_from rollback' -l to -x
complete -c shortlink -n '__fish_seen_subcommand_from rollback' -l from -r -F
complete -c shortlink -n '__fish_seen_subcommand_from rollback' -l trust -r -F
complete -c shortlink -n '__fish_seen_subcommand_from verify' -l trust -r -F
complete -c shortlink -n '__fish_seen_subcommand_from compile verify inspect diff' -l json
complete -c shortlink -n '__fish_seen_subcommand_from inspect' -l links -d 'Every link too'
complete -c shortlink -n '__fish_seen_subcommand_from verify inspect diff' -F
complete -c shortlink -n '__fish_seen_subcommand_from block unblock; and not __fish_seen_subcommand_from link domain destination' -a 'link domain destination'
complete -c shortlink -n '__fish_seen_subcommand_from block unblock; and __fish_seen_subcommand_from link' -l domain -x
complete -c shortlink -n '__fish_seen_subcommand_from block' -l reason -x
complete -c shortlink -n '__fish_seen_subcommand_from block unblock blocks' -l json
complete -c shortlink -n '__fish_seen_subcommand_from block unblock' -l publish -x -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from block unblock' -l key -r -F
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest report export' -a 'ingest report export'
complete -c shortlink -n '__fish_seen_subcommand_from stats' -l stats-db -r -F -d 'Stats database'
complete -c shortlink -n '__fish_seen_subcommand_from stats; and __fish_seen_subcommand_from ingest' -a '(__fish_complete_directories)'
complete -c shortlink -n '__fish_seen_subcommand_from stats; and __fish_seen_subcommand_from ingest' -l retain -x -d 'Keep raw events (90d)'
complete -c shortlink -n '__fish_seen_subcommand_from stats; and __fish_seen_subcommand_from ingest' -l json
complete -c shortlink -n '__fish_seen_subcommand_from stats' -l since -x
complete -c shortlink -n '__fish_seen_subcommand_from stats' -l until -x
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest export' -l domain -x
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest export' -l top -x
complete -c shortlink -n '__fish_seen_subcommand_from stats; and __fish_seen_subcommand_from report export' -l out -r -F
complete -c shortlink -n '__fish_seen_subcommand_from stats; and __fish_seen_subcommand_from export' -l format -x -a 'jsonl csv'
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest report export' -l by -x -a 'day hour link country device os browser referrer outcome bot qr'
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest report export' -l bots -x -a 'exclude include only'
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest report export' -l outcome -x -a 'all redirect root miss unknown_host blocked expired not_yet_valid disabled deleted https_redirect bad_request method_not_allowed unavailable password_form password_ok password_refused rate_limited'
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest report export' -l unique
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest report export' -l json
complete -c shortlink -n '__fish_seen_subcommand_from stats; and not __fish_seen_subcommand_from ingest report export' -l format -x -a 'table json csv'
