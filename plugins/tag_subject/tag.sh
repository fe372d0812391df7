#!/bin/sh
# Reads {"item_id", "settings": {"rules": {word: tag}}, "fields": {"subject"}} on stdin and prints
# {"tags": [...]}. A missing jq is a permanent failure (exit 2) with a message saying so.
command -v jq >/dev/null 2>&1 || { echo "error: tag_subject needs jq (run just deps)" >&2; exit 2; }
exec jq -c '
  (.fields.subject // "" | ascii_downcase) as $s
  | {tags: [.settings.rules // {} | to_entries[] | select(.key | ascii_downcase as $k | $s | contains($k)) | .value] | unique}
'
