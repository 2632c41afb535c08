#!/bin/sh
# config_file.sh DEST MODE OWNER GROUP CONTENT_BASE64: DEST holds CONTENT with that mode
# and owner, replaced atomically (a temporary file in the same directory, then a rename)
# only when something differs. Prints "changed" or "unchanged".
# Run by the config_file role with ansible's `script` module: no Python module on the node.
set -eu
dest=$1 mode=$(echo "$2" | sed 's/^0*//') owner=$3 group=$4
tmp=$(mktemp "$dest.bdp-XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s' "$5" | base64 -d > "$tmp"
if [ -f "$dest" ] && cmp -s "$tmp" "$dest" && [ "$(stat -c '%a %U %G' "$dest")" = "$mode $owner $group" ]; then
    echo unchanged
    exit 0
fi
chown "$owner:$group" "$tmp"
chmod "$mode" "$tmp"
mv -f "$tmp" "$dest"
echo changed
