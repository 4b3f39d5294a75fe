// Package probe runs containers' liveness, readiness and startup probes
// for the node agent, with Kubernetes semantics.
//
// A Prober runs one check of a probe's handler and returns a Result:
// httpGet (status 200–399 passes; HTTPS is not verified; redirects are
// followed only on the same host; no connection is kept between probes;
// at most 10 KiB of body is read), tcpSocket (the connection opens) and
// exec (exit code 0, through the runtime's Execer). Unknown means the check
// could not run — an unresolvable port, no pod IP, a runtime error, or a
// gRPC probe, which skiff does not support — and counts neither way.
//
// A worker runs one probe of one container run on the clock it is given:
// first initialDelaySeconds after the container started, then every
// periodSeconds, never overlapping itself. Its result starts as Success
// for liveness and Failure for readiness and startup, and flips only after
// successThreshold successes or failureThreshold failures in a row
// (Kubernetes defaults: period 10s, timeout 1s, thresholds 1 and 3;
// liveness and startup always use a successThreshold of 1).
//
// The Manager keeps a worker per (container run, probe kind), starts a
// container's liveness and readiness workers only once its startup probe
// has succeeded, answers Readiness / Liveness / Started from their
// results, and reports each change through one callback. A liveness
// failure, or a startup probe giving up, means the agent should restart
// the container; its workers then hold their Failure until AddContainer
// brings the new container ID.
//
// Files: result.go (Result, Kind, Key, Update), prober.go (Prober and its
// dispatch), http.go, tcp.go, exec.go (the checks), ports.go (named ports),
// timing.go (defaults), worker.go, manager.go.
package probe
