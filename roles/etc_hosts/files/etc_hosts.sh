#!/bin/sh
# etc_hosts.sh FILE LABEL BLOCK_BASE64: FILE ends with the lines of BLOCK between
# "# BEGIN LABEL" and "# END LABEL" (the markers blockinfile writes), replacing the block a
# previous run wrote. Written in place, because Docker bind-mounts /etc/hosts into the
# container and a rename cannot replace it. Prints "changed" or "unchanged".
# Run by the etc_hosts role with ansible's `script` module: no Python module on the node.
set -eu
file=$1 begin="# BEGIN $2" end="# END $2"
new=$(mktemp)
trap 'rm -f "$new"' EXIT
awk -v b="$begin" -v e="$end" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$file" > "$new"
{ echo "$begin"; printf '%s' "$3" | base64 -d; echo "$end"; } >> "$new"
if cmp -s "$new" "$file"; then echo unchanged; exit 0; fi
cat "$new" > "$file"
echo changed
