#!/usr/bin/env bash
# Refreshes the GraphiQL, React and ReactDOM release files the server serves on /graphiql
# (web/vendor/), with their licences, from the npm registry. Only this script needs npm; the
# build and the server use the files committed in web/vendor/.
#
#   scripts/vendor-graphiql.sh                      # the versions below
#   GRAPHIQL=4.1.2 REACT=18.3.1 scripts/vendor-graphiql.sh
#
# GraphiQL 4 is the last line that ships a UMD build (graphiql.min.js, loaded with a plain
# <script>); React 18 is the last that ships UMD builds of React and ReactDOM.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL="${GRAPHIQL:-4.1.2}"
REACT="${REACT:-18.3.1}"
out=web/vendor
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

unpack() { # package version -> directory holding the package's files
    local tarball
    tarball="$(cd "$work" && npm pack --silent "$1@$2")"
    mkdir -p "$work/$1"
    tar -xzf "$work/$tarball" -C "$work/$1"
    echo "$work/$1/package"
}

graphiql="$(unpack graphiql "$GRAPHIQL")"
react="$(unpack react "$REACT")"
react_dom="$(unpack react-dom "$REACT")"

mkdir -p "$out"
cp "$graphiql/graphiql.min.js" "$graphiql/graphiql.min.css" "$out/"
cp "$graphiql/LICENSE" "$out/LICENSE.graphiql"
cp "$react/umd/react.production.min.js" "$out/"
cp "$react/LICENSE" "$out/LICENSE.react"
cp "$react_dom/umd/react-dom.production.min.js" "$out/"
cp "$react_dom/LICENSE" "$out/LICENSE.react-dom"
# Source map comments would send the browser's developer tools looking for files we do not serve.
sed -i -e '/^\/\/# sourceMappingURL=/d' "$out"/*.js
sed -i -e 's#/\*\# sourceMappingURL=[^*]*\*/##' "$out/graphiql.min.css"

{
    echo "# Vendored by scripts/vendor-graphiql.sh from the npm registry; do not edit by hand."
    echo "graphiql $GRAPHIQL"
    echo "react $REACT"
    echo "react-dom $REACT"
    (cd "$out" && sha256sum ./*.js ./*.css)
} > "$out/VERSIONS"
echo "vendored graphiql $GRAPHIQL and react $REACT into $out"
