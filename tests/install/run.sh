#!/usr/bin/env bash
# Every install as rendered starts and serves (tests/install/run.py): installs what it
# lacks (kubectl, openssl, util-linux's unshare and setpriv, iproute2, PyYAML), builds the
# release binary, and runs the test as root in private network and mount namespaces: the
# pod's ports are as rendered, nothing leaves loopback, and no mount outlives the test.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "install: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root: it mounts the pod's filesystem and namespaces as kubelet would"
need_apt=()
command -v kubectl >/dev/null || need_apt+=(kubectl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v unshare >/dev/null && command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v ip >/dev/null || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install: installing ${need_apt[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
        || fail "cannot install ${need_apt[*]}"
fi
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml || fail "cannot install PyYAML"
cargo build --release --locked -q --bin ibgu-webhook
exec unshare --net --mount --propagation private python3 tests/install/run.py
