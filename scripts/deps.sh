#!/bin/sh
# Installs the Debian packages skiff's build, tests and benchmarks use.
# Idempotent: asks apt only for what is missing.
set -eu
PKGS="containerd runc containernetworking-plugins busybox-static nftables iproute2 \
docker-registry skopeo etcd-server etcd-client dnsperf wrk dnsmasq-base cpio \
qemu-system-x86 ca-certificates"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi
echo "installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packaged services are not wanted running: skiff starts its own.
$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
$SUDO apt-get install -y -qq --no-install-recommends $missing
$SUDO rm -f /usr/sbin/policy-rc.d
