#!/bin/bash
# The systemd unit and the Debian package: `systemd-analyze verify` is clean,
# `systemd-analyze security` scores the hardening 2.0 or lower, `cpack -G DEB`
# builds a package holding the binary, the unit, the configuration (as
# conffiles) and the man pages, whose maintainer scripts start nothing, and
# the man pages render and document every option and configuration key.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

src=$(cd "$here/../.." && pwd)
build=$(cd "$(dirname "$MENTORD_BIN")/.." && pwd)  # MENTORD_BIN is <build>/daemon/mentord
unit=$src/systemd/mentord.service

# ok_if WHAT COMMAND...: one check that passes when the command does.
ok_if() {
    local what=$1
    shift
    assert_eq "$what" yes "$("$@" >/dev/null 2>&1 && echo yes || echo no)"
}

# --- The unit, as the package ships it.
# shellcheck disable=SC2016 # $MAINPID is for systemd to expand, not the shell
for line in 'Type=notify' 'ExecStart=/usr/bin/mentord --config /etc/mentord/mentord.conf' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'WatchdogSec=30s' 'DynamicUser=yes' \
    'LoadCredential=pg-password:/etc/mentord/pg-password' 'Environment=PGPASSFILE=%d/pg-password'; do
    ok_if "unit has $line" grep -qxF "$line" "$unit"
done

# verify needs the binary of ExecStart and the man pages of Documentation= to exist.
mkdir -p "$work/unit" "$work/man/man5" "$work/man/man8"
sed "s:^ExecStart=/usr/bin/mentord :ExecStart=$MENTORD_BIN :" "$unit" >"$work/unit/mentord.service"
cp "$src/docs/man/mentord.8" "$work/man/man8/"
cp "$src/docs/man/mentord.conf.5" "$work/man/man5/"
verify_rc=0
MANPATH=$work/man:/usr/share/man systemd-analyze verify "$work/unit/mentord.service" >"$work/verify.log" 2>&1 ||
    verify_rc=$?
cat "$work/verify.log"
assert_eq "systemd-analyze verify exit code" 0 "$verify_rc"
assert_eq "systemd-analyze verify says nothing" "" "$(cat "$work/verify.log")"

security_rc=0
systemd-analyze security --offline=yes --threshold=20 "$work/unit/mentord.service" >"$work/security.log" 2>&1 ||
    security_rc=$?
grep -E '^✗|Overall exposure' "$work/security.log" || true
assert_eq "systemd-analyze security --threshold=20 exit code" 0 "$security_rc"
score=$(sed -n 's/.*Overall exposure level for mentord.service: \([0-9.]*\).*/\1/p' "$work/security.log")
assert_eq "exposure score $score is 2.0 or lower" yes "$(awk -v s="$score" 'BEGIN { print (s != "" && s <= 2.0) ? "yes" : "no" }')"

# --- The package.
pkg=$work/pkg
(cd "$build" && cpack -G DEB -B "$pkg") >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack -G DEB failed"; }
deb=$(find "$pkg" -maxdepth 1 -name 'mentord_*.deb' | head -n 1)
ok_if "cpack wrote mentord_<version>_<arch>.deb" test -f "$deb"
dpkg-deb -c "$deb" | awk '{ print $1, $6 }' >"$work/contents.txt"
for entry in '-rwxr-xr-x ./usr/bin/mentord' '-rw-r--r-- ./usr/lib/systemd/system/mentord.service' \
    '-rw-r--r-- ./etc/mentord/mentord.conf' '-rw------- ./etc/mentord/pg-password' \
    '-rw-r--r-- ./usr/share/man/man8/mentord.8' '-rw-r--r-- ./usr/share/man/man5/mentord.conf.5'; do
    ok_if "package holds $entry" grep -qxF -- "$entry" "$work/contents.txt"
done
assert_eq "package name" mentord "$(dpkg-deb -f "$deb" Package)"
assert_eq "package dependencies" "librdkafka1, libjansson4, libpq5, libinih1, libmicrohttpd12, libsystemd0, libcurl4, libssl3" \
    "$(dpkg-deb -f "$deb" Depends)"
dpkg-deb -e "$deb" "$work/control"
assert_eq "conffiles" "/etc/mentord/mentord.conf /etc/mentord/pg-password" "$(paste -sd' ' "$work/control/conffiles")"
# No surprises: installing must neither enable nor start the service.
assert_eq "maintainer scripts enable or start nothing" "" \
    "$(cat "$work/control/postinst" "$work/control/postrm" | grep -v '^ *#' | grep -E 'enable|start|deb-systemd-invoke' || true)"

# What the package installs works together: the binary runs and accepts the shipped configuration.
root=$work/root
dpkg-deb -x "$deb" "$root"
assert_eq "packaged binary runs" "mentord 0.1.0" "$("$root/usr/bin/mentord" --version 2>&1 | head -n 1)"
assert_eq "packaged configuration is valid" "configuration ok" \
    "$(MENTORD_PG='' MENTORD_KAFKA='' "$root/usr/bin/mentord" --config "$root/etc/mentord/mentord.conf" --check-config 2>&1)"

# --- The man pages render without a warning, and document every option and key.
for page in usr/share/man/man8/mentord.8 usr/share/man/man5/mentord.conf.5; do
    MANWIDTH=80 man -l "$root/$page" >"$work/$(basename "$page").txt" 2>"$work/man.err" || fail "man -l $page failed"
    assert_eq "man -l $page warns about nothing" "" "$(cat "$work/man.err")"
    if command -v mandoc >/dev/null; then
        ok_if "mandoc -T lint $page" mandoc -T lint -W warning "$root/$page"
    fi
done
# Every long option of --help, as roff writes it (\-\-check\-config), in mentord(8).
for option in $("$MENTORD_BIN" --help | grep -o -- '--[a-z-]*' | sort -u); do
    ok_if "mentord(8) documents $option" grep -qF -- "${option//-/\\-}" "$src/docs/man/mentord.8"
done
for option in --config --check-config --exit-at-end --http --version --help; do
    ok_if "--help lists $option" grep -q -- "$option" <("$MENTORD_BIN" --help)
done
# Every key of the example configuration is documented in its own section of
# mentord.conf(5) (the .SH of [postgres]..., the .B paragraph of [map.voc]...).
documented_keys() {
    awk -v sec="[$1]" '$0 == ".SH " sec || (prev == ".TP" && $0 == ".B " sec) { on = 1; prev = $0; next }
        on && (/^\.SH/ || /^\.B \[/) { on = 0 }
        on && /^\.(B|BR) / { gsub(/"/, "", $2); print $2 }
        { prev = $0 }' "$src/docs/man/mentord.conf.5"
}
while read -r section; do
    missing=$(awk -v sec="[$section]" '/^\[/ { on = ($0 == sec); next } on && /^[a-z_.]+ *=/ { print $1 }' \
        "$src/config/mentord.conf" | grep -vxF -f <(documented_keys "$section") | paste -sd' ' || true)
    assert_eq "mentord.conf(5) documents every key of [$section]" "" "$missing"
done < <(awk '/^\[/ { gsub(/[][]/, ""); print }' "$src/config/mentord.conf")

finish
