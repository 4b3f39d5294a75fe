#!/bin/sh
# make run: start (or restart) a single-master cluster in the foreground.
set -eu
BIN=$1
DIR=$2
API=127.0.0.1:6443
RAFT=127.0.0.1:6444
INIT=--init
[ -d "$DIR/raft" ] && INIT=
cat <<MSG
Starting a single skiff master (data in $DIR). In another terminal:

    export SKIFF_CONFIG=$DIR/admin.conf
    $BIN cluster members
    $BIN apply -f examples/
    $BIN get configmaps -A
    $BIN get cm demo -o yaml

This build has no node agent yet, so the master runs with --no-agent: it
stores and serves resources, but no pod will run. Ctrl-C stops it; the
state stays in $DIR (rm -rf $DIR to start over).

MSG
exec "$BIN" server $INIT --data-dir "$DIR" --api-addr "$API" --raft-addr "$RAFT" --no-agent
