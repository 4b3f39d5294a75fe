#!/bin/sh
# make run: start (or restart) a single-node cluster in the foreground: one
# master with its own node agent (containerd, CNI), and the example images
# ready to use.
set -eu
BIN=$1
DIR=$2
API=127.0.0.1:6443
RAFT=127.0.0.1:6444
NODE=node1
if [ "$(id -u)" != 0 ]; then
	echo "make run starts a node agent, which needs root (containers, network namespaces): run it as root or with sudo" >&2
	exit 1
fi
INIT=--init
[ -d "$DIR/raft" ] && INIT=
# The agent imports every tar in its images directory at start.
mkdir -p "$DIR/agent/images"
cp examples/images/echo.tar examples/images/echo-2.tar "$DIR/agent/images/"
cat <<MSG
Starting skiff: one master and its node agent ($NODE), data in $DIR.
In another terminal:

    export SKIFF_CONFIG=$DIR/admin.conf
    $BIN get nodes -o wide
    $BIN image ls
    $BIN apply -f examples/pod-echo.yaml
    $BIN get pods -o wide                 # Running, READY 1/1, its IP
    $BIN logs echo
    $BIN exec echo -- cat /etc/config/greeting
    $BIN describe pod echo
    $BIN delete pod echo

Ctrl-C stops it (running containers stay up and are adopted at the next
start); the state stays in $DIR (stop, then rm -rf $DIR to start over).

MSG
exec "$BIN" server $INIT --data-dir "$DIR" --api-addr "$API" --raft-addr "$RAFT" --node-name "$NODE"
