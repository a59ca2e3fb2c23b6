#!/bin/sh
# meson install: puts the default configuration ($1) into the directory $2, unless the
# administrator already has a quantra-l.conf there, which is kept as it is.
set -eu
dir="${DESTDIR:-}$2"
mkdir -p "$dir"
if [ -e "$dir/quantra-l.conf" ]; then
	echo "Keeping $dir/quantra-l.conf (the default is in the package's data directory)"
else
	install -m 0644 "$1" "$dir/quantra-l.conf"
	echo "Installing $dir/quantra-l.conf"
fi
