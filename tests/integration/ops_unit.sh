#!/bin/bash
# The systemd unit and the Debian package: `systemd-analyze verify` is clean,
# `systemd-analyze security` scores the hardening 2.0 or lower, the unit runs
# as the user mentord with a memory and a task bound, `cpack -G DEB` builds a
# package holding the binary (built with the hardening flags), the unit, the
# configuration (as conffiles, not world-readable), the sysusers.d file and the
# man pages, whose postinst creates the user, gives the configuration to its
# group and starts nothing, and the man pages render and document every option
# and configuration key.
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
    'LoadCredential=pg-password:/etc/mentord/pg-password' 'Environment=PGPASSFILE=%d/pg-password' \
    'User=mentord'; do
    ok_if "unit has $line" grep -qxF "$line" "$unit"
done
# Bounds: a size for MemoryMax, a count for TasksMax (not infinity).
ok_if "unit has MemoryMax=SIZE" grep -qxE 'MemoryMax=[0-9]+[KMG]?' "$unit"
ok_if "unit has TasksMax=N" grep -qxE 'TasksMax=[0-9]+' "$unit"

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
    '-rw-r----- ./etc/mentord/mentord.conf' '-rw------- ./etc/mentord/pg-password' \
    '-rw-r--r-- ./usr/lib/sysusers.d/mentord.conf' \
    '-rw-r--r-- ./usr/share/man/man8/mentord.8' '-rw-r--r-- ./usr/share/man/man5/mentord.conf.5'; do
    ok_if "package holds $entry" grep -qxF -- "$entry" "$work/contents.txt"
done
# Files under /etc belong to root in the package; postinst gives mentord.conf its group.
assert_eq "owners of /etc/mentord's files in the package" "root/root root/root" \
    "$(dpkg-deb -c "$deb" | awk '$6 ~ /^\.\/etc\/mentord\/./ { print $2 }' | paste -sd' ')"
assert_eq "package name" mentord "$(dpkg-deb -f "$deb" Package)"
assert_eq "package dependencies" \
    "librdkafka1, libjansson4, libpq5, libinih1, libmicrohttpd12, libsystemd0, libcurl4, libssl3, systemd | systemd-standalone-sysusers" \
    "$(dpkg-deb -f "$deb" Depends)"
dpkg-deb -e "$deb" "$work/control"
assert_eq "conffiles" "/etc/mentord/mentord.conf /etc/mentord/pg-password" "$(paste -sd' ' "$work/control/conffiles")"
# No surprises: installing must neither enable nor start the service.
assert_eq "maintainer scripts enable or start nothing" "" \
    "$(cat "$work/control/postinst" "$work/control/postrm" | grep -v '^ *#' | grep -E 'enable|start|deb-systemd-invoke' || true)"

# postinst, run with stand-ins for the commands it calls (they log their
# arguments): it creates the user with the packaged sysusers.d file and sets
# the configuration to 0640 root:mentord, unless the administrator set a
# dpkg-statoverride for it.
mkdir -p "$work/stubs"
for cmd in systemd-sysusers chown chmod systemctl; do
    printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$cmd" "$work/postinst.log" >"$work/stubs/$cmd"
done
printf '#!/bin/sh\nexit "${STATOVERRIDE_RC:-1}"\n' >"$work/stubs/dpkg-statoverride"
chmod +x "$work/stubs/"*
run_postinst() {
    : >"$work/postinst.log"
    PATH=$work/stubs:$PATH STATOVERRIDE_RC=$1 sh "$work/control/postinst" configure
    grep -v '^systemctl ' "$work/postinst.log" | paste -sd';'
}
assert_eq "postinst creates the user and sets the configuration's owner and mode" \
    "systemd-sysusers mentord.conf;chown root:mentord /etc/mentord/mentord.conf;chmod 0640 /etc/mentord/mentord.conf" \
    "$(run_postinst 1)"
assert_eq "postinst keeps an administrator's statoverride" "systemd-sysusers mentord.conf" "$(run_postinst 0)"

# What the package installs works together: the binary runs and accepts the
# shipped configuration, and its sysusers.d file makes the user and group.
root=$work/root
dpkg-deb -x "$deb" "$root"
mkdir -p "$root/etc"
systemd-sysusers --root="$root" mentord.conf >"$work/sysusers.log" 2>&1 || { cat "$work/sysusers.log"; fail "systemd-sysusers failed"; }
assert_eq "sysusers.d creates the user mentord" "mentord" "$(cut -d: -f1 "$root/etc/passwd" | grep -x mentord || true)"
assert_eq "sysusers.d creates the group mentord" "mentord" "$(cut -d: -f1 "$root/etc/group" | grep -x mentord || true)"

# The binary is hardened: PIE, full RELRO (GNU_RELRO and BIND_NOW), stack
# protector, and FORTIFY_SOURCE's checked calls, except in the sanitizer
# build, which goes without FORTIFY (ASan replaces the calls it checks).
bin=$root/usr/bin/mentord
readelf -hW "$bin" >"$work/elf-header.txt"
readelf -lW "$bin" >"$work/elf-segments.txt"
readelf -dW "$bin" >"$work/elf-dynamic.txt"
readelf -sW --dyn-syms "$bin" >"$work/elf-symbols.txt"
ok_if "binary is a PIE (type DYN)" grep -qE 'Type: +DYN ' "$work/elf-header.txt"
ok_if "binary has a GNU_RELRO segment" grep -qw GNU_RELRO "$work/elf-segments.txt"
ok_if "binary binds now" grep -qE '\(FLAGS\).*BIND_NOW' "$work/elf-dynamic.txt"
ok_if "binary calls __stack_chk_fail" grep -qw __stack_chk_fail "$work/elf-symbols.txt"
if grep -qw __asan_init "$work/elf-symbols.txt"; then
    echo "skip: the sanitizer build has no FORTIFY_SOURCE"
else
    ok_if "binary calls FORTIFY_SOURCE's __*_chk functions" grep -qE ' __[a-z0-9_]+_chk(@|$)' "$work/elf-symbols.txt"
fi
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
