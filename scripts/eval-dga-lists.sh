#!/usr/bin/env bash
# Fetches the benign name lists that `make eval-dga` measures false alerts
# on, from npm, into a git-ignored folder ($1, default .cache/eval-dga), and
# writes them one name a line. Neither list is shipped or trained on:
#   adtech.txt    advertising hosts of Ghostery's tracker database
#                 (@ghostery/trackerdb, CC BY-NC-SA 4.0: measured, never shipped)
#   freemail.txt  free and disposable mail providers' domains
#                 (free-email-domains, MIT)
set -euo pipefail
dir=${1:-.cache/eval-dga}
mkdir -p "$dir"
cd "$dir"
if [ ! -s adtech.txt ] || [ ! -s freemail.txt ]; then
	rm -rf pkg && mkdir pkg
	(cd pkg && npm pack --silent @ghostery/trackerdb@1.0.945 free-email-domains@1.12.6 >/dev/null)
	for f in pkg/*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
	node -e '
const fs = require("fs");
const db = JSON.parse(fs.readFileSync(process.argv[1]));
const hosts = new Set();
for (const p of Object.values(db.patterns)) {
	if (p.category !== "advertising") continue;
	for (const d of p.domains || []) hosts.add(d.toLowerCase());
	for (const f of p.filters || []) {
		const m = /^\|\|([a-z0-9.-]+)\^/i.exec(f);
		if (m) hosts.add(m[1].toLowerCase());
	}
}
fs.writeFileSync("adtech.txt", [...hosts].sort().join("\n") + "\n");
const mail = JSON.parse(fs.readFileSync(process.argv[2]));
fs.writeFileSync("freemail.txt", mail.map(s => s.toLowerCase()).sort().join("\n") + "\n");
' pkg/ghostery-trackerdb-1.0.945/package/dist/trackerdb.json pkg/free-email-domains-1.12.6/package/domains.json
	rm -rf pkg
fi
wc -l adtech.txt freemail.txt >&2
