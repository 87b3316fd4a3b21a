#!/usr/bin/env bash
# Copyright (c) 2026, fqs developers
#
# The packaging step of CI: META.json (PGXN) and the Debian package.
#
#  - META.json is valid JSON with the fields PGXN's meta-spec 1.0.0 requires;
#    the version it "provides" fqs at is fqs.control's default_version
#    (x.y read as x.y.0), the files it names are tracked, and
#    debian/changelog's version is META.json's version;
#  - the .deb builds with dpkg-buildpackage from an export of the tracked
#    files only, every C file compiled with -Werror, and it holds fqs.so,
#    fqs.control and every src/fqs--*.sql;
#  - apt-get installs it after the fqs files already in the PostgreSQL
#    install (make install's) were moved aside, so that the extension under
#    test can only come from the .deb: dpkg --verify finds the installed
#    files as packaged, fqs.so has the md5 of the one in the .deb, and every
#    fqs file of the install belongs to the package;
#  - the pg_regress suites pass against that install (as "postgres", in an
#    export of the tracked files, which builds nothing);
#  - dpkg -r removes it and its files.
#
# The install, the suites and the removal run in a private mount namespace
# in which /usr and /var are copy-on-write overlays (unshare, overlayfs): a
# real apt-get install, that no other process on the machine sees, and that
# is gone when the step ends.  The last check is that the fqs files outside
# are as they were found (in CI: test/run-tests.sh's make install) and no
# package of fqs is installed.  Where a mount namespace cannot be had, the
# same happens in place, and the fqs files from before are put back byte for
# byte afterwards (FQS_PACKAGE_IN_PLACE=1 asks for that way).
#
# Needs root (apt-get, dpkg, mount); otherwise, or with FQS_SKIP_PACKAGE=1,
# only the META.json checks run.  Works from a checkout (git ls-files) or,
# without .git, with FQS_TRACKED_FILES naming the list of tracked files.
# Each check prints one "... ok" or "... FAILED" line; the last line is
# "N passed, N failed".  Logs, and the .deb, go to FQS_PACKAGE_LOGDIR
# (default test/log/package).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
start=$(date +%s)
passed=0
failed=0

ok() {
	echo "   $1 ... ok"
	passed=$((passed + 1))
}
bad() {
	echo "   $1 ... FAILED"
	failed=$((failed + 1))
	if [ -n "${2:-}" ]; then
		printf '%s\n' "$2" | head -40 | while IFS= read -r l; do echo "      $l"; done
	fi
}
# check NAME COMMAND...: one counted line, with the command's output when it fails
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}

pgmajor=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
pkg=postgresql-$pgmajor-fqs
pkglibdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension

# the fqs files of the PostgreSQL install (regular files)
fqs_files() {
	local f
	for f in "$pkglibdir/fqs.so" "$pkglibdir/bitcode/fqs.index.bc" "$extdir/fqs.control" "$extdir"/fqs--*.sql \
		"$extdir/fqs_router.control" "$extdir"/fqs_router--*.sql; do
		[ -f "$f" ] && echo "$f"
	done
	[ -d "$pkglibdir/bitcode/fqs" ] && find "$pkglibdir/bitcode/fqs" -type f
	return 0
}
remove_fqs_files() {
	fqs_files | xargs -r rm -f
	rm -rf "$pkglibdir/bitcode/fqs"
}
pkg_installed() {
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'
}

# export_tree DIR: the tracked files of the working tree (as they are now,
# like the other suites test them) and nothing else
export_tree() {
	mkdir -p "$1"
	while IFS= read -r f; do
		if [ -e "$top/$f" ] || [ -L "$top/$f" ]; then printf '%s\n' "$f"; fi
	done <"$tracked" | tar -C "$top" --no-recursion -cf - -T - | tar -C "$1" -xpf -
}

# ---------------------------------------------------------------------------
# The install phase: install the .deb, check it, run the suites, remove it.
# Runs as "package.sh --install-phase" with FQS_PKG_* in the environment,
# inside the mount namespace (or in place); writes "passed failed" to
# $tmp/counts.
if [ "${1:-}" = --install-phase ]; then
	deb=$FQS_PKG_DEB
	tmp=$FQS_PKG_TMP
	tracked=$FQS_PKG_TRACKED
	logdir=$FQS_PKG_LOGDIR
	fqs_files | sort >"$tmp/before.list"
	if [ -s "$tmp/before.list" ]; then
		sed 's,^/,,' "$tmp/before.list" | tar -C / -cpf "$tmp/before.tar" -T -
	fi
	# however it ends: no package, the fqs files from before back (this
	# matters where the phase runs in place; in the namespace it all goes
	# away anyway)
	leave() {
		pkg_installed && dpkg -r "$pkg" >>"$logdir/remove.log" 2>&1
		remove_fqs_files
		[ -f "$tmp/before.tar" ] && tar -C / -xpf "$tmp/before.tar"
		echo "$passed $failed" >"$tmp/counts"
	}
	trap leave EXIT
	trap 'bad "the install phase ran to its end" "interrupted"; exit 1' INT TERM HUP
	echo "   moving aside $(wc -l <"$tmp/before.list") fqs files of the PostgreSQL install; installing the .deb"
	remove_fqs_files
	if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb" >"$logdir/install.log" 2>&1 &&
		pkg_installed; then
		ok "apt-get installs $(basename "$deb")"
	else
		bad "apt-get installs $(basename "$deb")" "$(tail -20 "$logdir/install.log")"
		exit
	fi

	verify() {
		local out
		out=$(dpkg --verify "$pkg" 2>&1)
		echo "$out"
		[ -z "$out" ]
	}
	check "dpkg --verify finds the installed files as packaged" verify

	so_md5() {
		local in_deb inst
		in_deb=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ".$pkglibdir/fqs.so" | md5sum | cut -d' ' -f1)
		inst=$(md5sum <"$pkglibdir/fqs.so" | cut -d' ' -f1)
		echo "in the .deb $in_deb, installed $inst"
		[ "$in_deb" = "$inst" ]
	}
	check "the installed fqs.so is the one in the .deb (md5)" so_md5

	owned() {
		local f owner strays=""
		for f in $(fqs_files); do
			owner=$(dpkg -S "$f" 2>/dev/null | cut -d: -f1)
			[ "$owner" = "$pkg" ] || strays="$strays $f"
		done
		[ -z "$strays" ] || { echo "not from $pkg:$strays"; return 1; }
	}
	check "every fqs file of the PostgreSQL install belongs to $pkg" owned

	echo "-- pg_regress against the installed $pkg"
	check_dir=$tmp/check
	export_tree "$check_dir"
	chown -R postgres "$check_dir"
	su postgres -s /bin/bash -c "cd '$check_dir' && make -s PG_CONFIG='$PG_CONFIG' installcheck ISOLATION= TAP_TESTS=" \
		>"$logdir/regress.log" 2>&1
	grep -E '\.\.\. |ok [0-9]' "$logdir/regress.log" | while IFS= read -r l; do echo "   $l"; done
	p=$(grep -Ec '\.\.\. ok|^ok [0-9]+ ' "$logdir/regress.log")
	f=$(grep -Ec '\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+ ' "$logdir/regress.log")
	# a run that died before any test (e.g. the server did not start)
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then
		tail -20 "$logdir/regress.log"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ -f "$check_dir/regression.diffs" ]; then
		cp "$check_dir/regression.diffs" "$logdir/"
		head -100 "$check_dir/regression.diffs"
	fi
	# PGXS' installcheck builds nothing, so the server could only load the
	# installed fqs.so
	built_nothing() {
		local built
		built=$(cd "$check_dir" && find . -name '*.o' -o -name '*.so' -o -name '*.bc')
		[ -z "$built" ] || { echo "built in the test tree: $built"; return 1; }
	}
	check "installcheck built no fqs of its own" built_nothing
	check "fqs.so is still the .deb's after the suites" so_md5

	echo "-- removal"
	dpkg -r "$pkg" >"$logdir/remove.log" 2>&1
	rm_rc=$?
	gone() {
		local left
		left=$(fqs_files)
		[ $rm_rc = 0 ] || { echo "dpkg -r failed"; return 1; }
		! pkg_installed || { echo "still installed"; return 1; }
		[ -z "$left" ] || { echo "left behind: $left"; return 1; }
	}
	check "dpkg -r removes $pkg and its files" gone
	exit
fi

# ---------------------------------------------------------------------------
logdir=${FQS_PACKAGE_LOGDIR:-$top/test/log/package}
rm -rf "$logdir"
mkdir -p "$logdir"
tmp=$(mktemp -d /tmp/fqs-package.XXXXXX)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
finish() {
	echo "   (package step: $(($(date +%s) - start)) s)"
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

# ---- the tracked files
tracked=$tmp/tracked
if [ -n "${FQS_TRACKED_FILES:-}" ] && [ -f "$FQS_TRACKED_FILES" ]; then
	cp "$FQS_TRACKED_FILES" "$tracked"
elif git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$top" ls-files >"$tracked"
else
	bad "the list of tracked files is known" "no .git in $top and no FQS_TRACKED_FILES"
	finish
fi

echo "-- META.json"
meta=$top/META.json
check "META.json is valid JSON" python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$meta"

# PGXN meta-spec 1.0.0: the mandatory fields and the forms of the ones we use
check "META.json has the fields PGXN's meta-spec 1.0.0 requires" python3 - "$meta" <<'EOF'
import json, re, sys
m = json.load(open(sys.argv[1]))
semver = re.compile(r'^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+)?$')
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)
for k in ('name', 'abstract', 'version', 'maintainer', 'license', 'provides', 'meta-spec'):
    need(k in m, 'missing field %s' % k)
need(m.get('name') == 'fqs', 'name is not "fqs"')
need(isinstance(m.get('abstract'), str) and m['abstract'].strip(), 'abstract is empty')
need(semver.match(str(m.get('version', ''))), 'version %r is not a semantic version' % m.get('version'))
mt = m.get('maintainer')
need(isinstance(mt, str) and mt.strip() or isinstance(mt, list) and mt and all(isinstance(x, str) for x in mt),
     'maintainer is neither a string nor a list of strings')
need(isinstance(m.get('license'), (str, dict)), 'license is neither a string nor an object')
need(isinstance(m.get('meta-spec'), dict) and m['meta-spec'].get('version') == '1.0.0', 'meta-spec version is not 1.0.0')
prov = m.get('provides')
need(isinstance(prov, dict) and 'fqs' in prov, 'provides has no "fqs"')
for name, p in (prov if isinstance(prov, dict) else {}).items():
    need(isinstance(p, dict) and 'file' in p and 'version' in p, 'provides.%s needs file and version' % name)
    need(isinstance(p, dict) and semver.match(str(p.get('version', ''))), 'provides.%s.version is not a semantic version' % name)
for phase, rels in m.get('prereqs', {}).items():
    for rel, reqs in rels.items():
        for dep, v in reqs.items():
            need(semver.match(str(v)) or v == 0, 'prereqs.%s.%s.%s = %r is not a version' % (phase, rel, dep, v))
tags = m.get('tags', [])
need(isinstance(tags, list) and all(isinstance(t, str) and 0 < len(t) <= 255 for t in tags),
     'tags must be strings of 1 to 255 characters')
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF

# fqs.control's default_version, as a semantic version (0.2 -> 0.2.0)
control_version() {
	local v
	v=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$top/fqs.control")
	case $v in
	*.*.*) echo "$v" ;;
	*.*) echo "$v.0" ;;
	*) echo "$v" ;;
	esac
}
# meta_field a/b/c: a string field of META.json, empty if absent
meta_field() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("/"):
    m = m.get(k, {}) if isinstance(m, dict) else {}
print(m if isinstance(m, str) else "")' "$meta" "$1" 2>/dev/null
}
cv=$(control_version)
pv=$(meta_field provides/fqs/version)
check "META.json provides fqs ${pv:-(none)}, fqs.control's default_version (${cv:-none})" \
	test -n "$cv" -a "$pv" = "$cv"

meta_files() {
	local f missing=""
	for f in "$(meta_field provides/fqs/file)" "$(meta_field provides/fqs/docfile)"; do
		[ -n "$f" ] || continue
		grep -qxF "$f" "$tracked" && [ -f "$top/$f" ] || missing="$missing $f"
	done
	case $(meta_field provides/fqs/file) in
	src/fqs--*.sql) ;;
	*) missing="$missing (provides.fqs.file is not an install script src/fqs--*.sql)" ;;
	esac
	[ -z "$missing" ] || { echo "not tracked or missing:$missing"; return 1; }
}
check "the files META.json names are tracked" meta_files

changelog_version() {
	if command -v dpkg-parsechangelog >/dev/null; then
		dpkg-parsechangelog -l "$top/debian/changelog" -S Version
	else
		sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$top/debian/changelog"
	fi
}
dv=$(changelog_version)
mv=$(meta_field version)
check "debian/changelog's version (${dv:-none}) is META.json's (${mv:-none})" test -n "$dv" -a "$dv" = "$mv"

echo "-- Debian package"
if [ "$(id -u)" != 0 ]; then
	echo "   skipped (needs root for apt-get, dpkg and mount)"
	finish
fi
if [ "${FQS_SKIP_PACKAGE:-0}" = 1 ]; then
	echo "   skipped (FQS_SKIP_PACKAGE=1)"
	finish
fi

# build from a clean export, as root (Rules-Requires-Root: no, no fakeroot)
src=$tmp/build/fqs-$dv
export_tree "$src"
check "the build dependencies are installed" bash -c "cd '$src' && dpkg-checkbuilddeps"
(cd "$src" && dpkg-buildpackage -us -uc) >"$logdir/build.log" 2>&1
build_rc=$?
deb=$(ls "$tmp"/build/"${pkg}"_*.deb 2>/dev/null | head -1)
if [ $build_rc != 0 ] || [ -z "$deb" ]; then
	bad "dpkg-buildpackage builds $pkg from the tracked files" "$(tail -30 "$logdir/build.log")"
	finish
fi
ok "dpkg-buildpackage builds $(basename "$deb") from the tracked files"
cp "$deb" "$logdir/"

werror() {
	local n
	n=$(grep -cE '^(x86_64-linux-gnu-)?gcc .* -c ' "$logdir/build.log")
	[ "$n" -gt 0 ] || { echo "no compiler command in the build log"; return 1; }
	if grep -E '^(x86_64-linux-gnu-)?gcc .* -c ' "$logdir/build.log" | grep -v -- ' -Werror '; then
		echo "compiled without -Werror (above)"
		return 1
	fi
}
check "every C file was compiled with -Werror" werror

dpkg-deb -c "$deb" >"$logdir/contents.txt" 2>&1
deb_has() {
	local want missing="" f
	want="$pkglibdir/fqs.so $extdir/fqs.control $extdir/fqs_router.control"
	for f in $(grep -E '^(src/fqs|router/fqs_router)--.*\.sql$' "$tracked"); do
		want="$want $extdir/$(basename "$f")"
	done
	for f in $want; do
		grep -qE " \.$f\$" "$logdir/contents.txt" || missing="$missing $f"
	done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}
check "the .deb holds fqs.so, fqs.control, fqs_router.control and every src/fqs--*.sql and router/fqs_router--*.sql" deb_has

deb_fields() {
	local p v d
	p=$(dpkg-deb -f "$deb" Package)
	v=$(dpkg-deb -f "$deb" Version)
	d=$(dpkg-deb -f "$deb" Depends)
	echo "Package: $p, Version: $v, Depends: $d"
	[ "$p" = "$pkg" ] && [ "$v" = "$dv" ] && printf '%s\n' "$d" | grep -q "postgresql-$pgmajor\b"
}
check "the .deb is $pkg $dv and depends on postgresql-$pgmajor" deb_fields

# ---- the install phase, in a mount namespace if one can be had
if pkg_installed; then
	bad "$pkg is not installed before this step" "it is; remove it (dpkg -r $pkg) and make install, then run this again"
	finish
fi
fqs_files | sort >"$tmp/outside.list"
xargs -r md5sum <"$tmp/outside.list" >"$tmp/outside.md5"

# isolated COMMAND...: run it where /usr and /var are copy-on-write
isolated() {
	unshare --mount --propagation private -- bash -c '
		set -e
		ov=$1
		shift
		mkdir -p "$ov"
		mount -t tmpfs fqs-package "$ov"
		for d in usr var; do
			mkdir -p "$ov/$d/upper" "$ov/$d/work"
			mount -t overlay "fqs-package-$d" -o "lowerdir=/$d,upperdir=$ov/$d/upper,workdir=$ov/$d/work" "/$d"
		done
		exec "$@"' isolated "$tmp/overlay" "$@"
}
phase_tmp=$tmp/phase
mkdir -p "$phase_tmp"
chmod 755 "$phase_tmp"
export FQS_PKG_DEB=$deb FQS_PKG_TMP=$phase_tmp FQS_PKG_TRACKED=$tracked FQS_PKG_LOGDIR=$logdir PG_CONFIG
if [ "${FQS_PACKAGE_IN_PLACE:-0}" != 1 ] && isolated true 2>/dev/null; then
	echo "   (install, suites and removal in a private mount namespace: /usr and /var copy-on-write)"
	isolated bash "$top/test/package.sh" --install-phase
else
	echo "   (no mount namespace here: install, suites and removal in place, $(date -u '+%F %T') UTC)"
	bash "$top/test/package.sh" --install-phase
	echo "   (in-place install phase over, $(date -u '+%F %T') UTC)"
fi
if [ -f "$phase_tmp/counts" ]; then
	read -r p f <"$phase_tmp/counts"
else
	echo "   the install phase ended without its counts"
	p=0
	f=1
fi
passed=$((passed + p))
failed=$((failed + f))

untouched() {
	pkg_installed && { echo "$pkg is installed"; return 1; }
	[ "$(fqs_files | sort)" = "$(cat "$tmp/outside.list")" ] || { echo "the set of fqs files changed"; return 1; }
	[ ! -s "$tmp/outside.list" ] || md5sum -c --quiet "$tmp/outside.md5"
}
check "the system is left as found: no $pkg, the $(wc -l <"$tmp/outside.list") fqs files unchanged" untouched
finish
