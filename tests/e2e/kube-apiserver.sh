#!/usr/bin/env bash
# Prints the path of a kube-apiserver binary, building it first if it is not cached.
#
# No registry reachable from these machines ships a kube-apiserver binary, but Debian's
# source package `kubernetes` (1.20.x, every Go dependency vendored) builds one offline in
# about six minutes on two cores. The binary is cached under ~/.cache, so later runs on
# the same machine reuse it.
set -euo pipefail
cache=${IBGU_E2E_CACHE:-$HOME/.cache/ibgu-webhook-e2e}
bin=$cache/kube-apiserver
if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
    echo "$bin"
    exit 0
fi
mkdir -p "$cache"
log=$cache/build.log
{
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        golang-1.19-go golang-github-modern-go-reflect2-dev rsync make >/dev/null

    # Fetch the source package without touching the system's apt configuration.
    apt_dir=$cache/apt
    rm -rf "$apt_dir"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d"
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
        > "$apt_dir/sources.list.d/debian.sources"
    opts=(-o Dir::Etc::SourceList=/dev/null
          -o Dir::Etc::SourceParts="$apt_dir/sources.list.d"
          -o Dir::State::Lists="$apt_dir/lists"
          -o Dir::Cache::archives="$apt_dir/archives")
    apt-get "${opts[@]}" update -qq
    src=$cache/src
    rm -rf "$src"
    mkdir -p "$src"
    (cd "$src" && apt-get "${opts[@]}" source --download-only kubernetes >/dev/null)
    tarball=$(ls "$src"/kubernetes_*.orig.tar.gz | head -n 1)
    tree=$src/tree
    mkdir -p "$tree"
    tar -xzf "$tarball" -C "$tree" --strip-components=1
    # The vendored reflect2 1.0.1 crashes under Go >= 1.18: use Debian's.
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
    (cd "$tree" && PATH=/usr/lib/go-1.19/bin:$PATH CGO_ENABLED=0 \
        make WHAT=cmd/kube-apiserver KUBE_BUILD_PLATFORMS=linux/amd64)
    cp "$tree/_output/bin/kube-apiserver" "$bin.tmp"
    mv "$bin.tmp" "$bin"
    rm -rf "$src" "$apt_dir"
} >"$log" 2>&1 || {
    echo "building kube-apiserver failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}
echo "$bin"
