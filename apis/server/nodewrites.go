package server

import (
	"net/http"
	"strings"

	"github.com/skiffhq/skiff/apis/auth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// DefaultNodeWritesInFlight is how many writes from nodes a master serves
// at once unless configured otherwise.
//
// A burst of pods makes every node report each of its pods' status and
// events; with a thousand nodes those writes outnumber everything else
// and, served all at once, take every core. The scheduler and the
// controllers then bind and create pods at the pace the reports leave
// them, and a user's `skiff get` waits behind hundreds of handlers. In
// skiff-scalebench (1,000 nodes, 10,000 pods, 2 cores) serving them 8 at
// a time raised pods bound per second from 430-560 to 1,040-1,700 and
// brought the p99 of a get during the burst from 260-650 ms to 68-116 ms;
// the last pod reported Running after 33-41 s instead of 19-26 s. Like
// Kubernetes' priority and fairness, it queues a class of requests rather
// than refusing them: a node's write waits its turn.
const DefaultNodeWritesInFlight = 8

// admitNodeWrite waits until a node's write may be served and returns
// what ends its turn. Nodes' reads and watches, and their writes to Node
// objects (their heartbeats and registration, which their liveness hangs
// on), go at once, as does everything other callers send. A request whose
// caller gives up while waiting is answered 429 and not served.
func (s *Server) admitNodeWrite(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if s.nodeWrites == nil || r.Method == http.MethodGet || r.Method == http.MethodHead ||
		strings.HasPrefix(r.URL.Path, "/api/v1/nodes") {
		return func() {}, true
	}
	if user, _ := UserFrom(r.Context()); user.Role != auth.RoleNode {
		return func() {}, true
	}
	select {
	case s.nodeWrites <- struct{}{}:
		return func() { <-s.nodeWrites }, true
	case <-r.Context().Done():
		writeError(w, apierrors.NewTooManyRequests("the master was busy with other nodes' writes; try again", 1))
		return nil, false
	}
}
